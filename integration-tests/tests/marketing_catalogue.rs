//! The marketing service's catalogue and learning RPCs against the real `caravan-marketing`
//! binary on a fresh MariaDB database (merchant created through the real ingestion binary):
//! strategies round-trip and archive, bad input is named field by field and stores nothing,
//! campaign results are idempotent per bucket and feed the report, the A/B comparison and
//! the Beta posteriors; priors update and rebuild the posteriors; an unreachable profiling
//! service makes scoring UNAVAILABLE with retry information, never a made-up score.

use anyhow::{Context, Result, ensure};
use caravan_integration_tests::Channel;
use caravan_integration_tests::ServerProcess;
use caravan_integration_tests::violated_fields;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::marketing::v1 as pb;
use caravan_proto::caravan::marketing::v1::strategy_scoring_service_client::StrategyScoringServiceClient;
use tonic::Code;
use tonic_types::StatusExt;

const M: &str = "merchants/acme";

fn eur(amount: i64) -> Option<common::Money> {
    Some(common::Money {
        currency_code: "EUR".to_owned(),
        amount_minor: amount,
    })
}

fn tracking() -> pb::Strategy {
    pb::Strategy {
        display_name: "Tracking upgrade".to_owned(),
        kind: pb::StrategyKind::TrackingUpgrade as i32,
        parameters: Some(pb::strategy::Parameters::TrackingUpgrade(
            pb::TrackingUpgradeParameters {
                real_time_tracking: true,
                proactive_delay_notifications: true,
            },
        )),
        cost_model: Some(pb::CostModel {
            fixed_cost_per_contact: eur(5),
            cost_per_conversion: eur(50),
            ..Default::default()
        }),
        frequency_cap: Some(pb::FrequencyCap {
            max_contacts: 1,
            period: Some(prost_types::Duration {
                seconds: 7 * 86_400,
                nanos: 0,
            }),
        }),
        ..Default::default()
    }
}

struct Env {
    _ingestion: caravan_integration_tests::ingestion_env::IngestionEnv,
    _marketing: ServerProcess,
    _workdir: tempfile::TempDir,
    client: StrategyScoringServiceClient<Channel>,
}

/// Ingestion (for the merchant and the schema) plus marketing with profiling unreachable.
async fn start() -> Result<Option<Env>> {
    let Some(ingestion) = caravan_integration_tests::ingestion_env::start(&[]).await? else {
        return Ok(None);
    };
    let workdir = tempfile::tempdir()?;
    let marketing = ServerProcess::start(
        "caravan-marketing",
        &[],
        &[
            ("CARAVAN__DATABASE__URL", ingestion.db.url.as_str()),
            ("CARAVAN__CLIENTS__PROFILING_ADDR", "http://127.0.0.1:1"),
            ("CARAVAN__CLIENTS__CALL_TIMEOUT_MS", "2000"),
        ],
        workdir.path(),
    )?;
    let client = StrategyScoringServiceClient::new(marketing.channel().await?);
    Ok(Some(Env {
        _ingestion: ingestion,
        _marketing: marketing,
        _workdir: workdir,
        client,
    }))
}

#[tokio::test(flavor = "multi_thread")]
async fn strategies_round_trip_validate_and_archive() -> Result<()> {
    let Some(mut env) = start().await? else {
        return Ok(());
    };
    let c = &mut env.client;
    let created = c
        .create_strategy(pb::CreateStrategyRequest {
            parent: M.to_owned(),
            strategy_id: "tracking".to_owned(),
            strategy: Some(tracking()),
        })
        .await?
        .into_inner();
    ensure!(created.name == "merchants/acme/strategies/tracking");
    ensure!(created.state == pb::StrategyState::Active as i32);
    ensure!(created.frequency_cap.as_ref().map(|f| f.max_contacts) == Some(1));

    // Field-by-field violations, nothing stored.
    let mut bad = tracking();
    bad.display_name = String::new();
    bad.kind = pb::StrategyKind::Coupon as i32;
    bad.cost_model = Some(pb::CostModel {
        fixed_cost_per_contact: Some(common::Money {
            currency_code: "USD".to_owned(),
            amount_minor: 5,
        }),
        variable_cost_rate: 2.0,
        ..Default::default()
    });
    let err = c
        .create_strategy(pb::CreateStrategyRequest {
            parent: M.to_owned(),
            strategy_id: "Bad Id".to_owned(),
            strategy: Some(bad),
        })
        .await
        .expect_err("invalid");
    ensure!(err.code() == Code::InvalidArgument, "{err:?}");
    let fields = violated_fields(&err);
    for field in [
        "strategy_id",
        "strategy.display_name",
        "strategy.kind",
        "strategy.cost_model.fixed_cost_per_contact",
        "strategy.cost_model.variable_cost_rate",
    ] {
        ensure!(
            fields.iter().any(|f| f == field),
            "{field} missing in {fields:?}"
        );
    }
    let dup = c
        .create_strategy(pb::CreateStrategyRequest {
            parent: M.to_owned(),
            strategy_id: "tracking".to_owned(),
            strategy: Some(tracking()),
        })
        .await
        .expect_err("exists");
    ensure!(dup.code() == Code::AlreadyExists);

    // A coupon, then a masked update of its display name only.
    let coupon = pb::Strategy {
        display_name: "10 % off".to_owned(),
        kind: pb::StrategyKind::Coupon as i32,
        parameters: Some(pb::strategy::Parameters::Coupon(pb::CouponParameters {
            discount: Some(pb::coupon_parameters::Discount::PercentOff(10.0)),
            min_spend: eur(2_000),
            validity: None,
        })),
        ..Default::default()
    };
    c.create_strategy(pb::CreateStrategyRequest {
        parent: M.to_owned(),
        strategy_id: "coupon-10".to_owned(),
        strategy: Some(coupon),
    })
    .await?;
    let updated = c
        .update_strategy(pb::UpdateStrategyRequest {
            strategy: Some(pb::Strategy {
                name: "merchants/acme/strategies/coupon-10".to_owned(),
                display_name: "Ten percent".to_owned(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["display_name".to_owned()],
            }),
        })
        .await?
        .into_inner();
    ensure!(updated.display_name == "Ten percent");
    ensure!(matches!(
        updated.parameters,
        Some(pb::strategy::Parameters::Coupon(ref p)) if p.min_spend == eur(2_000)
    ));

    // Paging over the two active strategies, then archive one.
    let first = c
        .list_strategies(pb::ListStrategiesRequest {
            parent: M.to_owned(),
            page_size: 1,
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(first.strategies.len() == 1 && !first.next_page_token.is_empty());
    let second = c
        .list_strategies(pb::ListStrategiesRequest {
            parent: M.to_owned(),
            page_size: 1,
            page_token: first.next_page_token.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(second.strategies.len() == 1 && second.next_page_token.is_empty());
    ensure!(first.strategies[0].name != second.strategies[0].name);
    let archived = c
        .archive_strategy(pb::ArchiveStrategyRequest {
            name: "merchants/acme/strategies/coupon-10".to_owned(),
        })
        .await?
        .into_inner();
    ensure!(
        archived.state == pb::StrategyState::Archived as i32 && archived.archive_time.is_some()
    );
    let active = c
        .list_strategies(pb::ListStrategiesRequest {
            parent: M.to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(
        active.strategies.len() == 1,
        "archived strategies are not listed by default"
    );
    let err = c
        .update_strategy(pb::UpdateStrategyRequest {
            strategy: Some(archived),
            update_mask: None,
        })
        .await
        .expect_err("archived");
    ensure!(err.code() == Code::FailedPrecondition);
    Ok(())
}

fn bucket(day: i64, impressions: i64, clicks: i64, conversions: i64) -> pb::CampaignResult {
    pb::CampaignResult {
        bucket_start_time: Some(prost_types::Timestamp {
            seconds: 1_790_000_000 + day * 86_400,
            nanos: 0,
        }),
        bucket_duration: Some(prost_types::Duration {
            seconds: 86_400,
            nanos: 0,
        }),
        impressions,
        clicks,
        conversions,
        revenue: eur(conversions * 5_000),
        spend: eur(impressions * 10),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn campaign_results_feed_reports_tests_and_posteriors() -> Result<()> {
    let Some(mut env) = start().await? else {
        return Ok(());
    };
    let c = &mut env.client;
    c.create_strategy(pb::CreateStrategyRequest {
        parent: M.to_owned(),
        strategy_id: "tracking".to_owned(),
        strategy: Some(tracking()),
    })
    .await?;
    for (id, variant) in [("track-a", "A"), ("track-b", "B")] {
        c.create_campaign(pb::CreateCampaignRequest {
            parent: M.to_owned(),
            campaign_id: id.to_owned(),
            campaign: Some(pb::Campaign {
                display_name: format!("Tracking {variant}"),
                strategy: "merchants/acme/strategies/tracking".to_owned(),
                experiment: "tracking-ab".to_owned(),
                variant: variant.to_owned(),
                channel: pb::MarketingChannel::Email as i32,
                segment: "merchants/acme/segments/at-risk".to_owned(),
                ..Default::default()
            }),
        })
        .await?;
    }
    let a = c
        .record_campaign_results(pb::RecordCampaignResultsRequest {
            campaign: "merchants/acme/campaigns/track-a".to_owned(),
            results: vec![bucket(0, 1000, 200, 20), bucket(1, 1000, 0, 0)],
        })
        .await?
        .into_inner();
    ensure!((a.inserted_count, a.replaced_count) == (2, 0));
    // Re-sending a bucket replaces it: A ends with 2000 impressions, 400 clicks, 40 orders.
    let again = c
        .record_campaign_results(pb::RecordCampaignResultsRequest {
            campaign: "merchants/acme/campaigns/track-a".to_owned(),
            results: vec![bucket(1, 1000, 200, 20)],
        })
        .await?
        .into_inner();
    ensure!((again.inserted_count, again.replaced_count) == (0, 1));
    c.record_campaign_results(pb::RecordCampaignResultsRequest {
        campaign: "merchants/acme/campaigns/track-b".to_owned(),
        results: vec![bucket(0, 2000, 400, 70)],
    })
    .await?;
    let bad = c
        .record_campaign_results(pb::RecordCampaignResultsRequest {
            campaign: "merchants/acme/campaigns/track-b".to_owned(),
            results: vec![bucket(2, 10, 20, 1)],
        })
        .await
        .expect_err("more clicks than impressions");
    ensure!(
        violated_fields(&bad) == vec!["results[0].clicks".to_owned()],
        "{bad:?}"
    );

    let report = c
        .get_campaign_report(pb::GetCampaignReportRequest {
            name: "merchants/acme/campaigns/track-a/report".to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!((report.impressions, report.clicks, report.conversions) == (2000, 400, 40));
    let ctr = report.click_through_rate.context("ctr")?;
    ensure!((ctr.value - 0.2).abs() < 1e-12 && ctr.lower_bound < 0.2 && ctr.upper_bound > 0.2);
    let cpa = report.cost_per_acquisition.context("cpa")?;
    ensure!(cpa.value == eur(500), "20000 spend / 40 conversions");
    let roas = report.return_on_ad_spend.context("roas")?;
    ensure!((roas.value - 10.0).abs() < 1e-9, "200000 / 20000");

    // Conversion rate 40/400 vs 70/400: z-test and posterior both favour B.
    let cmp = c
        .compare_variants(pb::CompareVariantsRequest {
            parent: M.to_owned(),
            campaign_a: "merchants/acme/campaigns/track-a".to_owned(),
            campaign_b: "merchants/acme/campaigns/track-b".to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(cmp.test_name == "two-proportion z-test");
    ensure!(cmp.significant && cmp.p_value < 0.01, "{cmp:?}");
    ensure!(cmp.probability_b_beats_a > 0.99);
    ensure!((cmp.relative_lift - 0.75).abs() < 1e-9);

    // Posteriors: prior Beta(2, 98) + 110 conversions in 4000 impressions.
    let posteriors = c
        .list_strategy_posteriors(pb::ListStrategyPosteriorsRequest {
            parent: M.to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .posteriors;
    let segment = posteriors
        .iter()
        .find(|p| p.segment == "merchants/acme/segments/at-risk")
        .context("segment posterior")?;
    ensure!(
        (segment.alpha - 112.0).abs() < 1e-9 && (segment.beta - 3988.0).abs() < 1e-9,
        "{segment:?}"
    );
    ensure!((segment.observed_impressions, segment.observed_conversions) == (4000, 110));
    ensure!(
        posteriors.iter().any(|p| p.segment.is_empty()),
        "merchant-wide posterior"
    );

    // Stronger priors rebuild the posteriors from the same observations.
    let priors = c
        .update_response_priors(pb::UpdateResponsePriorsRequest {
            response_priors: Some(pb::ResponsePriors {
                name: "merchants/acme/responsePriors".to_owned(),
                prior_strength: Some(1000.0),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["prior_strength".to_owned()],
            }),
        })
        .await?
        .into_inner();
    ensure!(priors.prior_strength == Some(1000.0) && priors.tracking_repurchase_gain == Some(0.20));
    let rebuilt = c
        .list_strategy_posteriors(pb::ListStrategyPosteriorsRequest {
            parent: M.to_owned(),
            filter: "segment = \"merchants/acme/segments/at-risk\"".to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .posteriors;
    ensure!(
        rebuilt.len() == 1 && (rebuilt[0].alpha - 130.0).abs() < 1e-9,
        "{rebuilt:?}"
    );
    let bad = c
        .update_response_priors(pb::UpdateResponsePriorsRequest {
            response_priors: Some(pb::ResponsePriors {
                name: "merchants/acme/responsePriors".to_owned(),
                gross_margin_rate: Some(1.5),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["gross_margin_rate".to_owned()],
            }),
        })
        .await
        .expect_err("out of range");
    ensure!(violated_fields(&bad) == vec!["response_priors.gross_margin_rate".to_owned()]);

    // Contacts: exact repeats are ignored.
    let contact = pb::ContactRecord {
        customer: "merchants/acme/customers/c1".to_owned(),
        strategy: "merchants/acme/strategies/tracking".to_owned(),
        campaign: String::new(),
        contact_time: Some(prost_types::Timestamp {
            seconds: 1_790_000_000,
            nanos: 0,
        }),
    };
    let recorded = c
        .record_contacts(pb::RecordContactsRequest {
            parent: M.to_owned(),
            contacts: vec![contact.clone(), contact.clone()],
        })
        .await?
        .into_inner();
    ensure!((recorded.recorded_count, recorded.duplicate_count) == (1, 1));
    Ok(())
}

fn campaign(experiment: &str, variant: &str, segment: &str) -> pb::Campaign {
    pb::Campaign {
        display_name: format!("Tracking {experiment} {variant}"),
        strategy: "merchants/acme/strategies/tracking".to_owned(),
        experiment: experiment.to_owned(),
        variant: variant.to_owned(),
        channel: pb::MarketingChannel::Email as i32,
        segment: segment.to_owned(),
        ..Default::default()
    }
}

fn in_segment(segment: &str, result: pb::CampaignResult) -> pb::CampaignResult {
    pb::CampaignResult {
        segment: format!("merchants/acme/segments/{segment}"),
        ..result
    }
}

/// A campaign sent to everyone reports per segment; each segment's response rate is
/// learned from its own rows; experiments group variants and keep comparisons honest.
#[tokio::test(flavor = "multi_thread")]
async fn results_by_segment_and_experiments() -> Result<()> {
    let Some(mut env) = start().await? else {
        return Ok(());
    };
    let c = &mut env.client;
    c.create_strategy(pb::CreateStrategyRequest {
        parent: M.to_owned(),
        strategy_id: "tracking".to_owned(),
        strategy: Some(tracking()),
    })
    .await?;
    let create = |id: &str, campaign: pb::Campaign| pb::CreateCampaignRequest {
        parent: M.to_owned(),
        campaign_id: id.to_owned(),
        campaign: Some(campaign),
    };
    c.create_campaign(create("all-a", campaign("spring", "A", "")))
        .await?;
    c.create_campaign(create("all-b", campaign("spring", "B", "")))
        .await?;
    c.create_campaign(create("other", campaign("autumn", "A", "")))
        .await?;
    let missing_variant = c
        .create_campaign(create("no-variant", campaign("spring", "", "")))
        .await
        .expect_err("a variant is required in an experiment");
    ensure!(violated_fields(&missing_variant) == vec!["campaign.variant".to_owned()]);
    let bad_id = c
        .create_campaign(create("bad-experiment", campaign("Spring 2027", "A", "")))
        .await
        .expect_err("experiment ids are resource ids");
    ensure!(violated_fields(&bad_id) == vec!["campaign.experiment".to_owned()]);

    let variants = c
        .list_campaigns(pb::ListCampaignsRequest {
            parent: M.to_owned(),
            filter: "experiment = \"spring\"".to_owned(),
            order_by: "name".to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .campaigns;
    ensure!(
        variants
            .iter()
            .map(|c| (c.name.as_str(), c.experiment.as_str(), c.variant.as_str()))
            .collect::<Vec<_>>()
            == vec![
                ("merchants/acme/campaigns/all-a", "spring", "A"),
                ("merchants/acme/campaigns/all-b", "spring", "B"),
            ],
        "{variants:?}"
    );

    // Day 0 broken down: at-risk 1000 impressions / 30 orders, champions 500 / 40.
    let recorded = c
        .record_campaign_results(pb::RecordCampaignResultsRequest {
            campaign: "merchants/acme/campaigns/all-a".to_owned(),
            results: vec![
                in_segment("at-risk", bucket(0, 1000, 100, 30)),
                in_segment("champions", bucket(0, 500, 100, 40)),
            ],
        })
        .await?
        .into_inner();
    ensure!((recorded.inserted_count, recorded.replaced_count) == (2, 0));
    // Re-sending one segment's row replaces only that row.
    let again = c
        .record_campaign_results(pb::RecordCampaignResultsRequest {
            campaign: "merchants/acme/campaigns/all-a".to_owned(),
            results: vec![in_segment("champions", bucket(0, 500, 100, 50))],
        })
        .await?
        .into_inner();
    ensure!((again.inserted_count, again.replaced_count) == (0, 1));
    let duplicate = c
        .record_campaign_results(pb::RecordCampaignResultsRequest {
            campaign: "merchants/acme/campaigns/all-a".to_owned(),
            results: vec![
                in_segment("lost", bucket(1, 10, 1, 0)),
                in_segment("lost", bucket(1, 10, 1, 0)),
            ],
        })
        .await
        .expect_err("the same segment and bucket twice");
    ensure!(violated_fields(&duplicate) == vec!["results[1].bucket_start_time".to_owned()]);

    let whole = c
        .get_campaign_report(pb::GetCampaignReportRequest {
            name: "merchants/acme/campaigns/all-a/report".to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!((whole.impressions, whole.clicks, whole.conversions) == (1500, 200, 80));
    let champions = c
        .get_campaign_report(pb::GetCampaignReportRequest {
            name: "merchants/acme/campaigns/all-a/report".to_owned(),
            segment: "merchants/acme/segments/champions".to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!((champions.impressions, champions.conversions) == (500, 50));
    // A total row for the bucket (everyone reached, segments may overlap) is the total;
    // the segment rows stay breakdowns and are not added to it.
    c.record_campaign_results(pb::RecordCampaignResultsRequest {
        campaign: "merchants/acme/campaigns/all-a".to_owned(),
        results: vec![bucket(0, 2000, 300, 90)],
    })
    .await?;
    let with_total = c
        .get_campaign_report(pb::GetCampaignReportRequest {
            name: "merchants/acme/campaigns/all-a/report".to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(
        (
            with_total.impressions,
            with_total.clicks,
            with_total.conversions
        ) == (2000, 300, 90),
        "{with_total:?}"
    );

    // Prior Beta(2, 98): at-risk + 30 of 1000, champions + 50 of 500, merchant-wide the
    // total row's 90 of 2000.
    let posteriors = c
        .list_strategy_posteriors(pb::ListStrategyPosteriorsRequest {
            parent: M.to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .posteriors;
    let ab = |segment: &str| {
        posteriors
            .iter()
            .find(|p| p.segment == segment)
            .map(|p| (p.alpha, p.beta))
    };
    ensure!(
        ab("merchants/acme/segments/at-risk") == Some((32.0, 1068.0)),
        "{posteriors:?}"
    );
    ensure!(
        ab("merchants/acme/segments/champions") == Some((52.0, 548.0)),
        "{posteriors:?}"
    );
    ensure!(ab("") == Some((92.0, 2008.0)), "{posteriors:?}");

    c.record_campaign_results(pb::RecordCampaignResultsRequest {
        campaign: "merchants/acme/campaigns/all-b".to_owned(),
        results: vec![bucket(0, 1500, 200, 60)],
    })
    .await?;
    let cmp = c
        .compare_variants(pb::CompareVariantsRequest {
            parent: M.to_owned(),
            campaign_a: "merchants/acme/campaigns/all-a".to_owned(),
            campaign_b: "merchants/acme/campaigns/all-b".to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(
        (cmp.rate_a.context("a")?.value - 0.3).abs() < 1e-12,
        "the total row: 90 / 300 clicks"
    );
    let across = c
        .compare_variants(pb::CompareVariantsRequest {
            parent: M.to_owned(),
            campaign_a: "merchants/acme/campaigns/all-a".to_owned(),
            campaign_b: "merchants/acme/campaigns/other".to_owned(),
            ..Default::default()
        })
        .await
        .expect_err("different experiments");
    ensure!(violated_fields(&across) == vec!["campaign_b".to_owned()]);

    // A segment campaign reaches only its segment: results for another are refused.
    c.create_campaign(create(
        "risk-only",
        campaign("", "", "merchants/acme/segments/at-risk"),
    ))
    .await?;
    let outside = c
        .record_campaign_results(pb::RecordCampaignResultsRequest {
            campaign: "merchants/acme/campaigns/risk-only".to_owned(),
            results: vec![in_segment("champions", bucket(0, 10, 1, 0))],
        })
        .await
        .expect_err("not the campaign's segment");
    ensure!(violated_fields(&outside) == vec!["results[0].segment".to_owned()]);
    // An empty value selects the campaigns without one.
    let outside_experiments = c
        .list_campaigns(pb::ListCampaignsRequest {
            parent: M.to_owned(),
            filter: "experiment = \"\"".to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .campaigns;
    ensure!(
        outside_experiments.len() == 1
            && outside_experiments[0].name == "merchants/acme/campaigns/risk-only",
        "{outside_experiments:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn scoring_without_profiling_is_unavailable_with_retry_info() -> Result<()> {
    let Some(mut env) = start().await? else {
        return Ok(());
    };
    let c = &mut env.client;
    c.create_strategy(pb::CreateStrategyRequest {
        parent: M.to_owned(),
        strategy_id: "tracking".to_owned(),
        strategy: Some(tracking()),
    })
    .await?;
    let err = c
        .score_strategies(pb::ScoreStrategiesRequest {
            parent: M.to_owned(),
            customer: "merchants/acme/customers/c1".to_owned(),
            ..Default::default()
        })
        .await
        .expect_err("profiling is down");
    ensure!(err.code() == Code::Unavailable, "{err:?}");
    ensure!(
        err.get_error_details().retry_info().is_some(),
        "retry info: {err:?}"
    );
    let err = c
        .get_loyalty(pb::GetLoyaltyRequest {
            name: "merchants/acme/customers/c1/loyalty".to_owned(),
        })
        .await
        .expect_err("profiling is down");
    ensure!(err.code() == Code::Unavailable);
    let bad = c
        .score_strategies(pb::ScoreStrategiesRequest {
            parent: M.to_owned(),
            customer: "merchants/other/customers/c1".to_owned(),
            ..Default::default()
        })
        .await
        .expect_err("other merchant");
    ensure!(violated_fields(&bad) == vec!["customer".to_owned()]);
    Ok(())
}
