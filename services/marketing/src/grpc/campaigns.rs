//! Campaigns, their results and reports, variant comparison, the contact log and the
//! strategy posteriors.

use caravan_core::equality_filter;
use caravan_core::names::parse_child_name;
use caravan_platform::FieldViolations;
use caravan_platform::proto_time::{from_timestamp, to_timestamp};
use caravan_proto::caravan::marketing::v1 as pb;
use caravan_store::UtcDateTime;
use caravan_store::entity::campaigns;

use super::convert::{check_resource_id, money, money_in, segment_id};
use super::strategies::strategy_ids;
use super::{ScoringApi, merchant_id_from_name, offset_page};
use crate::campaign_store::{self, CampaignFields, CampaignFilter, ResultRow};
use crate::error::MarketingError;
use crate::learning_store::{self, Contact};
use crate::report::{self, Bucket, Test};
use crate::strategy_store;

pub const MAX_RESULT_ROWS: usize = 1000;
pub const MAX_CONTACTS: usize = 10_000;

fn campaign_ids(name: &str, field: &str) -> Result<(String, String), MarketingError> {
    let (merchant, id) = parse_child_name(name, "campaigns")
        .map_err(|e| MarketingError::invalid(field, e.to_string()))?;
    check_resource_id(&id).map_err(|why| MarketingError::invalid(field, why))?;
    Ok((merchant.as_str().to_owned(), id))
}

fn channel_code(value: i32) -> Option<&'static str> {
    match pb::MarketingChannel::try_from(value).ok()? {
        pb::MarketingChannel::Unspecified => None,
        c => Some(c.as_str_name().trim_start_matches("MARKETING_CHANNEL_")),
    }
}

fn state_code(value: i32) -> Option<&'static str> {
    match pb::CampaignState::try_from(value).ok()? {
        pb::CampaignState::Unspecified => Some("DRAFT"),
        s => Some(s.as_str_name().trim_start_matches("CAMPAIGN_STATE_")),
    }
}

fn time_in(
    t: Option<&prost_types::Timestamp>,
    field: &str,
    v: &mut FieldViolations,
) -> Option<UtcDateTime> {
    let t = t?;
    match from_timestamp(t) {
        // Plausible business times only; also keeps date arithmetic far from overflow.
        Some(t) if (946_684_800..4_102_444_800).contains(&t.timestamp()) => {
            Some(UtcDateTime::new(t))
        }
        Some(_) => {
            v.add(field, "must be between 2000-01-01 and 2099-12-31");
            None
        }
        None => {
            v.add(field, "is not a valid timestamp");
            None
        }
    }
}

fn campaign_out(row: &campaigns::Model) -> pb::Campaign {
    let m = &row.merchant_id;
    pb::Campaign {
        name: campaign_store::name(m, &row.id),
        display_name: row.display_name.clone(),
        strategy: format!("merchants/{m}/strategies/{}", row.strategy_id),
        experiment: row.experiment.clone().unwrap_or_default(),
        variant: row.variant.clone().unwrap_or_default(),
        channel: pb::MarketingChannel::from_str_name(&format!("MARKETING_CHANNEL_{}", row.channel))
            .unwrap_or_default() as i32,
        segment: row
            .segment_id
            .as_ref()
            .map(|s| format!("merchants/{m}/segments/{s}"))
            .unwrap_or_default(),
        budget: row.budget_minor.map(|b| money(b, &row.currency)),
        state: pb::CampaignState::from_str_name(&format!("CAMPAIGN_STATE_{}", row.state))
            .unwrap_or_default() as i32,
        start_time: row.started_at.map(|t| to_timestamp(t.get())),
        end_time: row.ended_at.map(|t| to_timestamp(t.get())),
        create_time: Some(to_timestamp(row.created_at.get())),
        update_time: Some(to_timestamp(row.updated_at.get())),
    }
}

/// Validates the mutable fields (display name, budget, state, times).
fn mutable_in(
    c: &pb::Campaign,
    base: &str,
    v: &mut FieldViolations,
) -> (
    String,
    Option<i64>,
    String,
    Option<UtcDateTime>,
    Option<UtcDateTime>,
) {
    let display_name = c.display_name.trim().to_owned();
    if display_name.is_empty() || display_name.chars().count() > 255 {
        v.add(
            "campaign.display_name",
            "is required, at most 255 characters",
        );
    }
    let budget = c
        .budget
        .as_ref()
        .map(|b| money_in(Some(b), base, "campaign.budget", v));
    let state = state_code(c.state).unwrap_or_else(|| {
        v.add("campaign.state", "unknown state");
        "DRAFT"
    });
    let start = time_in(c.start_time.as_ref(), "campaign.start_time", v);
    let end = time_in(c.end_time.as_ref(), "campaign.end_time", v);
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        v.add("campaign.end_time", "must not be before start_time");
    }
    (display_name, budget, state.to_owned(), start, end)
}

pub async fn create(
    api: &ScoringApi,
    r: pb::CreateCampaignRequest,
) -> Result<pb::Campaign, MarketingError> {
    let merchant_id = merchant_id_from_name(&r.parent, "parent")?;
    let mut v = FieldViolations::new();
    if let Err(why) = check_resource_id(&r.campaign_id) {
        v.add("campaign_id", why);
    }
    let c = r
        .campaign
        .ok_or_else(|| MarketingError::invalid("campaign", "is required"))?;
    let base = strategy_store::base_currency(&api.db, &merchant_id).await?;
    let (display_name, budget_minor, state, started_at, ended_at) = mutable_in(&c, &base, &mut v);
    let strategy_id = match strategy_ids(&c.strategy, "campaign.strategy") {
        Ok((m, id)) if m == merchant_id => Some(id),
        Ok(_) => {
            v.add("campaign.strategy", "strategy of another merchant");
            None
        }
        Err(MarketingError::Invalid(inner)) => {
            v.extend_prefixed("", inner);
            None
        }
        Err(e) => return Err(e),
    };
    if !c.experiment.is_empty() {
        if let Err(why) = check_resource_id(&c.experiment) {
            v.add("campaign.experiment", why);
        } else if c.variant.is_empty() {
            v.add("campaign.variant", "is required in an experiment");
        }
    }
    if c.variant.chars().count() > 64 {
        v.add("campaign.variant", "at most 64 characters");
    }
    let channel = channel_code(c.channel);
    if channel.is_none() {
        v.add("campaign.channel", "is required");
    }
    let segment = (!c.segment.is_empty())
        .then(|| segment_id(&c.segment, &merchant_id, "campaign.segment", &mut v));
    v.into_result()?;
    let strategy_id = strategy_id.unwrap_or_default();
    strategy_store::get(&api.db, &merchant_id, &strategy_id)
        .await
        .map_err(|e| match e {
            MarketingError::NotFound(n) => {
                MarketingError::invalid("campaign.strategy", format!("{n} does not exist"))
            }
            other => other,
        })?;
    let fields = CampaignFields {
        display_name,
        strategy_id,
        experiment: (!c.experiment.is_empty()).then(|| c.experiment.clone()),
        variant: (!c.variant.is_empty()).then(|| c.variant.clone()),
        channel: channel.unwrap_or_default().to_owned(),
        segment_id: segment,
        state,
        budget_minor,
        started_at,
        ended_at,
    };
    Ok(campaign_out(
        &campaign_store::insert(&api.db, &merchant_id, &r.campaign_id, &base, &fields).await?,
    ))
}

pub async fn get(
    api: &ScoringApi,
    r: pb::GetCampaignRequest,
) -> Result<pb::Campaign, MarketingError> {
    let (merchant_id, id) = campaign_ids(&r.name, "name")?;
    Ok(campaign_out(
        &campaign_store::get(&api.db, &merchant_id, &id).await?,
    ))
}

pub async fn update(
    api: &ScoringApi,
    r: pb::UpdateCampaignRequest,
) -> Result<pb::Campaign, MarketingError> {
    let u = r
        .campaign
        .ok_or_else(|| MarketingError::invalid("campaign", "is required"))?;
    let (merchant_id, id) = campaign_ids(&u.name, "campaign.name")?;
    let current = campaign_store::get(&api.db, &merchant_id, &id).await?;
    let mut merged = campaign_out(&current);
    let paths: Vec<String> = r.update_mask.map(|m| m.paths).unwrap_or_default();
    let all = ["display_name", "budget", "state", "start_time", "end_time"];
    let paths: Vec<String> = if paths.is_empty() {
        all.iter().map(|s| (*s).to_owned()).collect()
    } else {
        paths
    };
    for path in &paths {
        match path.as_str() {
            "display_name" => merged.display_name = u.display_name.clone(),
            "budget" => merged.budget = u.budget.clone(),
            "state" => merged.state = u.state,
            "start_time" => merged.start_time = u.start_time,
            "end_time" => merged.end_time = u.end_time,
            other => {
                return Err(MarketingError::invalid(
                    "update_mask",
                    format!("{other:?} is not a mutable campaign field"),
                ));
            }
        }
    }
    let mut v = FieldViolations::new();
    let (display_name, budget_minor, state, started_at, ended_at) =
        mutable_in(&merged, &current.currency, &mut v);
    v.into_result()?;
    let fields = CampaignFields {
        display_name,
        strategy_id: current.strategy_id.clone(),
        experiment: current.experiment.clone(),
        variant: current.variant.clone(),
        channel: current.channel.clone(),
        segment_id: current.segment_id.clone(),
        state,
        budget_minor,
        started_at,
        ended_at,
    };
    Ok(campaign_out(
        &campaign_store::update_mutable(&api.db, &current, &fields).await?,
    ))
}

pub async fn list(
    api: &ScoringApi,
    r: pb::ListCampaignsRequest,
) -> Result<pb::ListCampaignsResponse, MarketingError> {
    let merchant_id = merchant_id_from_name(&r.parent, "parent")?;
    let mut filter = CampaignFilter::default();
    let fields = [
        "strategy",
        "experiment",
        "variant",
        "channel",
        "segment",
        "state",
    ];
    let clauses = equality_filter::parse(&r.filter, &fields)
        .map_err(|why| MarketingError::invalid("filter", why))?;
    let mut v = FieldViolations::new();
    for (field, value) in clauses {
        match field.as_str() {
            "strategy" => filter.strategy_id = Some(strategy_ids(&value, "filter")?.1),
            "experiment" => filter.experiment = Some(value),
            "variant" => filter.variant = Some(value),
            "channel" => {
                filter.channel = Some(value.trim_start_matches("MARKETING_CHANNEL_").to_owned())
            }
            "segment" if value.is_empty() => filter.segment_id = Some(String::new()),
            "segment" => {
                filter.segment_id = Some(segment_id(&value, &merchant_id, "filter", &mut v))
            }
            _ => filter.state = Some(value.trim_start_matches("CAMPAIGN_STATE_").to_owned()),
        }
    }
    v.into_result()?;
    let order = super::order_by(
        &r.order_by,
        &[
            ("create_time", campaigns::Column::CreatedAt),
            ("name", campaigns::Column::Id),
            ("start_time", campaigns::Column::StartedAt),
        ],
        (campaigns::Column::CreatedAt, true),
    )?;
    let page = offset_page(
        r.page_size,
        500,
        &r.page_token,
        &[&r.parent, &r.filter, &r.order_by, "campaigns"],
    )?;
    let (rows, more) = campaign_store::list(
        &api.db,
        &merchant_id,
        &filter,
        order,
        page.offset,
        page.size,
    )
    .await?;
    Ok(pb::ListCampaignsResponse {
        campaigns: rows.iter().map(campaign_out).collect(),
        next_page_token: page.next_token(more),
    })
}

/// The stored segment of a result row: `""` for the campaign's own target (an empty
/// segment or the campaign's segment); another segment only when the campaign was sent
/// to everyone, since a segment campaign reaches no one outside its segment.
fn result_segment(
    name: &str,
    campaign: &campaigns::Model,
    field: &str,
    v: &mut FieldViolations,
) -> String {
    if name.is_empty() {
        return String::new();
    }
    let id = segment_id(name, &campaign.merchant_id, field, v);
    match &campaign.segment_id {
        Some(own) if *own == id => String::new(),
        Some(_) => {
            v.add(
                field,
                "must be empty or the campaign's segment (the campaign targets one segment)",
            );
            String::new()
        }
        None => id,
    }
}

pub async fn record_results(
    api: &ScoringApi,
    r: pb::RecordCampaignResultsRequest,
) -> Result<pb::RecordCampaignResultsResponse, MarketingError> {
    let (merchant_id, id) = campaign_ids(&r.campaign, "campaign")?;
    if r.results.is_empty() || r.results.len() > MAX_RESULT_ROWS {
        return Err(MarketingError::invalid(
            "results",
            format!("1 to {MAX_RESULT_ROWS} rows"),
        ));
    }
    let campaign = campaign_store::get(&api.db, &merchant_id, &id).await?;
    let mut v = FieldViolations::new();
    let mut rows = Vec::with_capacity(r.results.len());
    for (i, row) in r.results.iter().enumerate() {
        let f = |name: &str| format!("results[{i}].{name}");
        // A campaign is one variant on one channel; results break down by segment only.
        if !row.variant.is_empty() && Some(&row.variant) != campaign.variant.as_ref() {
            v.add(
                f("variant"),
                "must be empty or the campaign's variant (results are stored per campaign)",
            );
        }
        if row.channel != 0 && channel_code(row.channel) != Some(campaign.channel.as_str()) {
            v.add(f("channel"), "must be unset or the campaign's channel");
        }
        let segment = result_segment(&row.segment, &campaign, &f("segment"), &mut v);
        let start = time_in(
            row.bucket_start_time.as_ref(),
            &f("bucket_start_time"),
            &mut v,
        );
        if row.bucket_start_time.is_none() {
            v.add(f("bucket_start_time"), "is required");
        }
        let seconds = row.bucket_duration.as_ref().map_or(0, |d| d.seconds);
        if !(1..=31 * 86_400).contains(&seconds) {
            v.add(f("bucket_duration"), "is required, 1 s to 31 days");
        }
        if row.impressions < 0 || row.clicks < 0 || row.conversions < 0 {
            v.add(f("impressions"), "counts must not be negative");
        } else if row.clicks > row.impressions {
            v.add(f("clicks"), "must not exceed impressions");
        } else if row.conversions > row.impressions {
            v.add(f("conversions"), "must not exceed impressions");
        }
        if row.revenue.is_none() {
            v.add(f("revenue"), "is required");
        }
        if row.spend.is_none() {
            v.add(f("spend"), "is required");
        }
        let revenue = money_in(
            row.revenue.as_ref(),
            &campaign.currency,
            &f("revenue"),
            &mut v,
        );
        let spend = money_in(row.spend.as_ref(), &campaign.currency, &f("spend"), &mut v);
        if let Some(start) = start {
            if rows
                .iter()
                .any(|r: &ResultRow| r.bucket_start == start && r.segment_id == segment)
            {
                v.add(
                    f("bucket_start_time"),
                    "duplicate segment and bucket in this request",
                );
            }
            rows.push(ResultRow {
                segment_id: segment,
                bucket_start: start,
                bucket_seconds: seconds as i32,
                bucket: Bucket {
                    impressions: row.impressions.max(0) as u64,
                    clicks: row.clicks.max(0) as u64,
                    conversions: row.conversions.max(0) as u64,
                    revenue,
                    spend,
                },
            });
        }
    }
    v.into_result()?;
    let (inserted, replaced) = campaign_store::record_results(&api.db, &campaign, &rows).await?;
    let (priors, _) = learning_store::priors(&api.db, &merchant_id).await?;
    learning_store::refresh_posteriors(&api.db, &merchant_id, &campaign.strategy_id, &priors)
        .await?;
    Ok(pb::RecordCampaignResultsResponse {
        inserted_count: inserted,
        replaced_count: replaced,
    })
}

fn level_of(x: f64, field: &str, default: f64) -> Result<f64, MarketingError> {
    match x {
        0.0 => Ok(default),
        x if x > 0.0 && x < 1.0 => Ok(x),
        _ => Err(MarketingError::invalid(field, "must be in (0, 1)")),
    }
}

pub async fn report(
    api: &ScoringApi,
    r: pb::GetCampaignReportRequest,
) -> Result<pb::CampaignReport, MarketingError> {
    let campaign_name = r.name.strip_suffix("/report").ok_or_else(|| {
        MarketingError::invalid(
            "name",
            "must be merchants/{merchant}/campaigns/{campaign}/report",
        )
    })?;
    let (merchant_id, id) = campaign_ids(campaign_name, "name")?;
    let level = level_of(r.confidence_level, "confidence_level", 0.95)?;
    let mut v = FieldViolations::new();
    let start = time_in(r.start_time.as_ref(), "start_time", &mut v);
    let end = time_in(r.end_time.as_ref(), "end_time", &mut v);
    let campaign = campaign_store::get(&api.db, &merchant_id, &id).await?;
    let segment = result_segment(&r.segment, &campaign, "segment", &mut v);
    v.into_result()?;
    let mut rows = campaign_store::results(&api.db, &merchant_id, &id, start, end).await?;
    if !r.segment.is_empty() {
        rows.retain(|row| row.segment_id == segment);
    }
    let (priors, _) = learning_store::priors(&api.db, &merchant_id).await?;
    // The time bucket is the unit the intervals resample, whatever the segment breakdown.
    let buckets = campaign_store::per_time_bucket(&rows);
    let rep = report::report(&buckets, level, priors.gross_margin_rate);
    let cur = &campaign.currency;
    let ratio = |i: crate::stats::Interval| pb::RatioEstimate {
        value: i.value,
        lower_bound: i.lower,
        upper_bound: i.upper,
    };
    let first = rows.first().map(|r| r.bucket_start);
    let last_end = rows
        .last()
        .map(|r| r.bucket_start.get() + chrono::Duration::seconds(i64::from(r.bucket_seconds)));
    Ok(pb::CampaignReport {
        name: r.name.clone(),
        campaign: campaign_name.to_owned(),
        start_time: start.or(first).map(|t| to_timestamp(t.get())),
        end_time: end.map(|t| t.get()).or(last_end).map(to_timestamp),
        confidence_level: level,
        impressions: rep.totals.impressions as i64,
        clicks: rep.totals.clicks as i64,
        conversions: rep.totals.conversions as i64,
        revenue: Some(money(rep.totals.revenue, cur)),
        spend: Some(money(rep.totals.spend, cur)),
        click_through_rate: Some(ratio(rep.ctr)),
        conversion_rate: Some(ratio(rep.cvr)),
        cost_per_acquisition: rep.cpa.map(|i| pb::MoneyEstimate {
            value: Some(super::convert::money_f(i.value, cur)),
            lower_bound: Some(super::convert::money_f(i.lower, cur)),
            upper_bound: Some(super::convert::money_f(i.upper, cur)),
        }),
        return_on_ad_spend: rep.roas.map(ratio),
        return_on_investment: rep.roi.map(ratio),
    })
}

pub async fn compare(
    api: &ScoringApi,
    r: pb::CompareVariantsRequest,
) -> Result<pb::CompareVariantsResponse, MarketingError> {
    let merchant_id = merchant_id_from_name(&r.parent, "parent")?;
    let (ma, a) = campaign_ids(&r.campaign_a, "campaign_a")?;
    let (mb, b) = campaign_ids(&r.campaign_b, "campaign_b")?;
    if ma != merchant_id || mb != merchant_id {
        return Err(MarketingError::invalid(
            "campaign_a",
            "both campaigns must belong to parent",
        ));
    }
    let alpha = level_of(r.significance_level, "significance_level", 0.05)?;
    let metric = pb::VariantMetric::try_from(r.metric)
        .map_err(|_| MarketingError::invalid("metric", "unknown metric"))?;
    let metric = if metric == pb::VariantMetric::Unspecified {
        pb::VariantMetric::ConversionRate
    } else {
        metric
    };
    let test = match pb::VariantTest::try_from(r.test)
        .map_err(|_| MarketingError::invalid("test", "unknown test"))?
    {
        pb::VariantTest::Unspecified | pb::VariantTest::TwoProportionZ => Test::TwoProportionZ,
        pb::VariantTest::ChiSquared => Test::ChiSquared,
        pb::VariantTest::BayesianBetaBinomial => Test::Bayesian,
    };
    if a == b {
        return Err(MarketingError::invalid(
            "campaign_b",
            "must differ from campaign_a",
        ));
    }
    let ca = campaign_store::get(&api.db, &merchant_id, &a).await?;
    let cb = campaign_store::get(&api.db, &merchant_id, &b).await?;
    if ca.experiment != cb.experiment {
        return Err(MarketingError::invalid(
            "campaign_b",
            format!(
                "is in experiment {:?}, campaign_a in {:?}: variants of one experiment are compared",
                cb.experiment.unwrap_or_default(),
                ca.experiment.unwrap_or_default()
            ),
        ));
    }
    let totals = |rows: Vec<caravan_store::entity::campaign_results::Model>| {
        report::sum(&campaign_store::per_time_bucket(&rows))
    };
    let ta = totals(campaign_store::results(&api.db, &merchant_id, &a, None, None).await?);
    let tb = totals(campaign_store::results(&api.db, &merchant_id, &b, None, None).await?);
    let pick = |t: Bucket| match metric {
        pb::VariantMetric::ClickThroughRate => (t.clicks, t.impressions),
        pb::VariantMetric::ConversionsPerImpression => (t.conversions, t.impressions),
        _ => (t.conversions, t.clicks),
    };
    let c = report::compare(pick(ta), pick(tb), test, alpha, 1.0 - alpha);
    let ratio = |i: crate::stats::Interval| pb::RatioEstimate {
        value: i.value,
        lower_bound: i.lower,
        upper_bound: i.upper,
    };
    Ok(pb::CompareVariantsResponse {
        test_name: c.test_name.to_owned(),
        metric: metric as i32,
        rate_a: Some(ratio(c.rate_a)),
        rate_b: Some(ratio(c.rate_b)),
        relative_lift: c.relative_lift,
        statistic: c.statistic,
        p_value: c.p_value,
        significant: c.significant,
        probability_b_beats_a: c.probability_b_beats_a,
    })
}

pub async fn record_contacts(
    api: &ScoringApi,
    r: pb::RecordContactsRequest,
) -> Result<pb::RecordContactsResponse, MarketingError> {
    let merchant_id = merchant_id_from_name(&r.parent, "parent")?;
    if r.contacts.is_empty() || r.contacts.len() > MAX_CONTACTS {
        return Err(MarketingError::invalid(
            "contacts",
            format!("1 to {MAX_CONTACTS} contacts"),
        ));
    }
    let mut v = FieldViolations::new();
    let mut contacts = Vec::with_capacity(r.contacts.len());
    for (i, c) in r.contacts.iter().enumerate() {
        let f = |name: &str| format!("contacts[{i}].{name}");
        let customer = match parse_child_name(&c.customer, "customers") {
            Ok((m, id)) if m.as_str() == merchant_id => Some(id),
            _ => {
                v.add(
                    f("customer"),
                    "must be merchants/{parent merchant}/customers/{customer}",
                );
                None
            }
        };
        let strategy = match strategy_ids(&c.strategy, &f("strategy")) {
            Ok((m, id)) if m == merchant_id => Some(id),
            _ => {
                v.add(
                    f("strategy"),
                    "must be merchants/{parent merchant}/strategies/{strategy}",
                );
                None
            }
        };
        let campaign = if c.campaign.is_empty() {
            None
        } else {
            match campaign_ids(&c.campaign, &f("campaign")) {
                Ok((m, id)) if m == merchant_id => Some(id),
                _ => {
                    v.add(
                        f("campaign"),
                        "must be merchants/{parent merchant}/campaigns/{campaign}",
                    );
                    None
                }
            }
        };
        if c.contact_time.is_none() {
            v.add(f("contact_time"), "is required");
        }
        let time = time_in(c.contact_time.as_ref(), &f("contact_time"), &mut v);
        if let (Some(customer_id), Some(strategy_id), Some(contacted_at)) =
            (customer, strategy, time)
        {
            contacts.push(Contact {
                customer_id,
                strategy_id,
                campaign_id: campaign,
                contacted_at,
            });
        }
    }
    v.into_result()?;
    super::require_merchant(api, &merchant_id).await?;
    let (recorded, duplicates) =
        learning_store::record_contacts(&api.db, &merchant_id, &contacts).await?;
    Ok(pb::RecordContactsResponse {
        recorded_count: recorded,
        duplicate_count: duplicates,
    })
}

pub async fn list_posteriors(
    api: &ScoringApi,
    r: pb::ListStrategyPosteriorsRequest,
) -> Result<pb::ListStrategyPosteriorsResponse, MarketingError> {
    let merchant_id = merchant_id_from_name(&r.parent, "parent")?;
    let (mut strategy, mut segment) = (None, None);
    let clauses = equality_filter::parse(&r.filter, &["strategy", "segment"])
        .map_err(|why| MarketingError::invalid("filter", why))?;
    let mut v = FieldViolations::new();
    for (field, value) in clauses {
        match field.as_str() {
            "strategy" => strategy = Some(strategy_ids(&value, "filter")?.1),
            _ if value.is_empty() => segment = Some(String::new()),
            _ => segment = Some(segment_id(&value, &merchant_id, "filter", &mut v)),
        }
    }
    v.into_result()?;
    let page = offset_page(
        if r.page_size == 0 { 100 } else { r.page_size },
        1000,
        &r.page_token,
        &[&r.parent, &r.filter, "posteriors"],
    )?;
    let (priors, _) = learning_store::priors(&api.db, &merchant_id).await?;
    let all: Vec<_> = learning_store::posteriors(&api.db, &merchant_id, &priors)
        .await?
        .into_iter()
        .filter(|p| strategy.as_ref().is_none_or(|s| *s == p.strategy_id))
        .filter(|p| segment.as_ref().is_none_or(|s| *s == p.segment_id))
        .collect();
    let more = (all.len() as u64) > page.offset + page.size;
    let posteriors = all
        .iter()
        .skip(page.offset as usize)
        .take(page.size as usize)
        .map(|p| posterior_out(&merchant_id, p))
        .collect();
    Ok(pb::ListStrategyPosteriorsResponse {
        posteriors,
        next_page_token: page.next_token(more),
    })
}

pub fn posterior_out(merchant_id: &str, p: &learning_store::Posterior) -> pb::StrategyPosterior {
    pb::StrategyPosterior {
        strategy: format!("merchants/{merchant_id}/strategies/{}", p.strategy_id),
        segment: if p.segment_id.is_empty() {
            String::new()
        } else {
            format!("merchants/{merchant_id}/segments/{}", p.segment_id)
        },
        alpha: p.posterior.alpha,
        beta: p.posterior.beta,
        mean: p.posterior.mean(),
        observed_impressions: p.impressions as i64,
        observed_conversions: p.conversions as i64,
    }
}
