//! Profiles end to end on a fresh MariaDB database: customers and events go in through the
//! real `caravan-ingestion`, the real `caravan-profiling` consumes the outbox and serves
//! portraits, tags, segments, analytics and rebuild jobs; merges and erasures reach the
//! derived data.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use caravan_integration_tests::Channel;
use caravan_integration_tests::ServerProcess;
use caravan_integration_tests::ingestion_env::{self, IngestionEnv};
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as ing;
use caravan_proto::caravan::profiling::v1 as pb;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;
use caravan_store::entity::access_log;
use ing::event::Payload;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tonic::Code;
use tonic_types::StatusExt;

const M: &str = "merchants/acme";
const DAY: i64 = 86_400;

type Client = ProfilingServiceClient<Channel>;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

fn eur(amount: i64) -> Option<common::Money> {
    Some(common::Money {
        currency_code: "EUR".to_owned(),
        amount_minor: amount,
    })
}

fn product(sku: &str) -> String {
    format!("{M}/products/{sku}")
}

fn customer(id: &str) -> String {
    format!("{M}/customers/{id}")
}

fn event(id: &str, who: &str, at: i64, payload: Payload) -> ing::Event {
    ing::Event {
        event_id: id.to_owned(),
        customer: customer(who),
        occur_time: ts(at),
        session_id: format!("s-{who}"),
        payload: Some(payload),
        ..Default::default()
    }
}

fn order(id: &str, sku: &str, qty: i64, unit: i64, coupon: &str) -> Payload {
    Payload::Order(ing::OrderEvent {
        order_id: id.to_owned(),
        status: ing::OrderStatus::Paid as i32,
        lines: vec![ing::OrderLine {
            product: product(sku),
            quantity: qty,
            unit_price: eur(unit),
        }],
        total: eur(qty * unit),
        coupon_code: coupon.to_owned(),
        payment: Some(ing::PaymentInfo {
            method: common::PaymentMethod::Paypal as i32,
            outcome: ing::PaymentOutcome::Succeeded as i32,
            ..Default::default()
        }),
        ..Default::default()
    })
}

async fn seed(env: &mut IngestionEnv) -> Result<()> {
    for (sku, category, brand) in [
        ("lipstick", "Beauty > Lips", "Rouge"),
        ("mug", "Home > Kitchen", "Acme"),
    ] {
        env.client
            .create_product(ing::CreateProductRequest {
                parent: M.to_owned(),
                product_id: sku.to_owned(),
                product: Some(ing::Product {
                    title: sku.to_owned(),
                    category_path: category.to_owned(),
                    brand: brand.to_owned(),
                    price: eur(1_000),
                    ..Default::default()
                }),
            })
            .await?;
    }
    for (id, country) in [("jane", "DE"), ("bob", "FR")] {
        env.client
            .create_customer(ing::CreateCustomerRequest {
                parent: M.to_owned(),
                customer_id: id.to_owned(),
                customer: Some(ing::Customer {
                    kind: common::CustomerKind::Person as i32,
                    details: Some(ing::customer::Details::Person(ing::PersonDetails {
                        given_name: "Jane".to_owned(),
                        email: format!("{id}@example.com"),
                        country_code: country.to_owned(),
                        ..Default::default()
                    })),
                    import_tags: vec!["vip".to_owned()],
                    ..Default::default()
                }),
            })
            .await?;
    }
    let t = now();
    let events = vec![
        event(
            "j1",
            "jane",
            t - 3 * DAY,
            Payload::SessionStart(ing::SessionStartEvent {
                device_type: common::DeviceType::Mobile as i32,
                traffic_source: common::TrafficSource::Social as i32,
                ..Default::default()
            }),
        ),
        event(
            "j2",
            "jane",
            t - 3 * DAY,
            Payload::Search(ing::SearchEvent {
                query: "red lipstick".to_owned(),
                results_count: 3,
                ..Default::default()
            }),
        ),
        event(
            "j3",
            "jane",
            t - 3 * DAY,
            Payload::ProductView(ing::ProductViewEvent {
                product: product("lipstick"),
                dwell_seconds: 40,
            }),
        ),
        event(
            "j4",
            "jane",
            t - 3 * DAY + 60,
            order("o-j1", "lipstick", 2, 1_500, "WELCOME"),
        ),
        event(
            "j5",
            "jane",
            t - DAY,
            order("o-j2", "lipstick", 1, 1_500, "AGAIN"),
        ),
        event(
            "j6",
            "jane",
            t - DAY / 2,
            Payload::Review(ing::ReviewEvent {
                product: product("lipstick"),
                order_id: "o-j1".to_owned(),
                rating: 5,
                text: "Wonderful colour, I love it".to_owned(),
                language_code: "en".to_owned(),
                ..Default::default()
            }),
        ),
        event("b1", "bob", t - 40 * DAY, order("o-b1", "mug", 1, 900, "")),
    ];
    ingest(env, events).await
}

async fn start() -> Result<Option<(IngestionEnv, ServerProcess, Client)>> {
    let Some(mut env) = ingestion_env::start(&[]).await? else {
        return Ok(None);
    };
    let workdir = tempfile::tempdir()?;
    let profiling = ServerProcess::start(
        "caravan-profiling",
        &[],
        &[
            ("CARAVAN__DATABASE__URL", env.db.url.as_str()),
            ("CARAVAN__PROFILING__CONSUMER_POLL_MS", "100"),
        ],
        workdir.path(),
    )?;
    let client = ProfilingServiceClient::new(profiling.channel().await?);
    seed(&mut env).await?;
    Ok(Some((env, profiling, client)))
}

fn get(name: &str, view: pb::ProfileView) -> pb::GetProfileRequest {
    pb::GetProfileRequest {
        name: format!("{name}/profile"),
        view: view as i32,
        reveal_pii: false,
    }
}

/// Polls GetProfile until `ready` holds (the consumer works in the background).
async fn wait_for(
    client: &mut Client,
    who: &str,
    ready: impl Fn(&pb::Profile) -> bool,
) -> Result<pb::Profile> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client
            .get_profile(get(&customer(who), pb::ProfileView::Full))
            .await
        {
            Ok(p) if ready(p.get_ref()) => return Ok(p.into_inner()),
            Ok(_) => {}
            Err(s) if s.code() == Code::NotFound => {}
            Err(s) => bail!("GetProfile {who}: {s}"),
        }
        if Instant::now() > deadline {
            bail!("profile of {who} not ready in time");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn orders_of(p: &pb::Profile) -> i64 {
    p.transactions.as_ref().map_or(0, |t| t.order_count)
}

fn violation_fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn portraits_follow_the_outbox_with_every_dimension() -> Result<()> {
    let Some((env, profiling, mut client)) = start().await? else {
        return Ok(());
    };
    // RFM lands just after the profile: the merchant-wide refresh follows each batch.
    let jane = wait_for(&mut client, "jane", |p| {
        orders_of(p) == 2
            && p.evaluation_feedback
                .as_ref()
                .is_some_and(|f| f.review_count == 1)
            && p.transactions.as_ref().is_some_and(|t| t.rfm.is_some())
    })
    .await?;
    let Some(pb::profile::Basic::Person(basic)) = &jane.basic else {
        bail!("person basic dimension: {jane:?}");
    };
    ensure!(basic.country_code == "DE");
    ensure!(
        basic.email == "j***@example.com",
        "masked by default: {}",
        basic.email
    );
    ensure!(basic.display_name.is_empty());
    let t = jane.transactions.as_ref().context("transactions")?;
    ensure!(
        t.revenue.as_ref().map(|m| m.amount_minor) == Some(4_500),
        "{t:?}"
    );
    ensure!((t.discount_order_share - 1.0).abs() < 1e-9);
    ensure!(t.preferred_payment_method == common::PaymentMethod::Paypal as i32);
    let rfm = t.rfm.as_ref().context("RFM after the merchant refresh")?;
    ensure!(rfm.segment != 0 && rfm.recency_score >= rfm.frequency_score.min(1));
    let c = jane.content_preference.as_ref().context("content")?;
    ensure!(c.category_affinities.first().map(|a| a.key.as_str()) == Some("Beauty > Lips"));
    let w = jane.website_behaviour.as_ref().context("behaviour")?;
    ensure!(w.search_count == 1 && w.top_search_queries[0].term == "red lipstick");
    let f = jane.evaluation_feedback.as_ref().context("feedback")?;
    ensure!(
        f.sentiment_mean > 0.0,
        "positive review: {}",
        f.sentiment_mean
    );
    ensure!(
        jane.decision_stage
            .as_ref()
            .is_some_and(|s| s.stage != 0 && !s.evidence.is_empty())
    );
    ensure!(jane.completeness > 0.0 && jane.completeness <= 1.0);
    ensure!(jane.social_sharing.is_some() && jane.contacts.is_none());
    let tags: Vec<(&str, &str, i32)> = jane
        .tags
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str(), t.source))
        .collect();
    ensure!(
        tags.contains(&("price-sensitivity", "high", pb::TagSource::Rule as i32)),
        "{tags:?}"
    );
    ensure!(
        tags.contains(&("interest", "Beauty", pb::TagSource::Rule as i32)),
        "{tags:?}"
    );
    ensure!(
        tags.contains(&("import", "vip", pb::TagSource::Import as i32)),
        "{tags:?}"
    );

    // BASIC view: no lists, tags or evidence.
    let basic_view = client
        .get_profile(get(&customer("jane"), pb::ProfileView::Basic))
        .await?
        .into_inner();
    ensure!(basic_view.tags.is_empty());
    ensure!(
        basic_view
            .content_preference
            .as_ref()
            .is_some_and(|c| c.category_affinities.is_empty())
    );
    ensure!(
        basic_view
            .decision_stage
            .as_ref()
            .is_some_and(|s| s.evidence.is_empty())
    );

    // Personal data only for a key with the `pii` scope, and every reveal is logged.
    let mut reveal = get(&customer("jane"), pb::ProfileView::Basic);
    reveal.reveal_pii = true;
    let read_only = caravan_integration_tests::create_api_key(&env.db.url, "acme", "read")?;
    let denied = ProfilingServiceClient::new(profiling.channel_with_key(Some(&read_only)).await?)
        .get_profile(reveal.clone())
        .await
        .expect_err("reveal without the pii scope");
    ensure!(denied.code() == Code::PermissionDenied, "{denied:?}");
    let revealed = client.get_profile(reveal).await?.into_inner();
    let Some(pb::profile::Basic::Person(b)) = revealed.basic else {
        bail!("person")
    };
    ensure!(b.email == "jane@example.com" && b.display_name == "Jane");
    let key_id = profiling
        .api_key()
        .and_then(|k| k.strip_prefix("cvn_"))
        .and_then(|k| k.split_once('_'))
        .map(|(id, _)| id.to_owned())
        .context("harness key id")?;
    let store = caravan_store::connect(&env.db.url, 1).await?;
    let reveals: Vec<(String, String, String)> = access_log::Entity::find()
        .filter(access_log::Column::MerchantId.eq("acme"))
        .filter(access_log::Column::CustomerId.eq("jane"))
        .all(&store)
        .await?
        .into_iter()
        .map(|row| (row.key_id, row.rpc, row.action))
        .collect();
    store.close().await?;
    ensure!(
        reveals
            == [(
                key_id,
                "/caravan.profiling.v1.ProfilingService/GetProfile".to_owned(),
                "REVEAL_PII".to_owned()
            )],
        "one logged reveal, by the key that made it: {reveals:?}"
    );

    // Unknown and malformed names.
    let missing = client
        .get_profile(get(&customer("nobody"), pb::ProfileView::Basic))
        .await
        .expect_err("missing");
    ensure!(missing.code() == Code::NotFound);
    let bad = client
        .get_profile(pb::GetProfileRequest {
            name: "merchants/acme/customers/jane".to_owned(),
            ..Default::default()
        })
        .await
        .expect_err("bad name");
    ensure!(bad.code() == Code::InvalidArgument && violation_fields(&bad) == ["name"]);
    Ok(())
}

#[tokio::test]
async fn list_filter_segments_tags_analytics_rebuild_and_merge() -> Result<()> {
    let Some((mut env, _profiling, mut client)) = start().await? else {
        return Ok(());
    };
    let rfm = |p: &pb::Profile| p.transactions.as_ref().is_some_and(|t| t.rfm.is_some());
    wait_for(&mut client, "jane", |p| orders_of(p) == 2 && rfm(p)).await?;
    wait_for(&mut client, "bob", |p| orders_of(p) == 1 && rfm(p)).await?;

    // ListProfiles: filter, order, paging, total.
    let list = |filter: &str, order_by: &str, page_size: i32, page_token: String| {
        pb::ListProfilesRequest {
            parent: M.to_owned(),
            filter: filter.to_owned(),
            order_by: order_by.to_owned(),
            page_size,
            page_token,
            ..Default::default()
        }
    };
    let page = client
        .list_profiles(list(
            "kind = PERSON AND transactions.order_count >= 1",
            "transactions.revenue.amount_minor desc",
            1,
            String::new(),
        ))
        .await?
        .into_inner();
    ensure!(page.total_size == 2 && page.profiles.len() == 1, "{page:?}");
    ensure!(page.profiles[0].customer == customer("jane"));
    let next = client
        .list_profiles(list(
            "kind = PERSON AND transactions.order_count >= 1",
            "transactions.revenue.amount_minor desc",
            1,
            page.next_page_token.clone(),
        ))
        .await?
        .into_inner();
    ensure!(next.profiles[0].customer == customer("bob") && next.next_page_token.is_empty());
    let de = client
        .list_profiles(list("person.country_code = \"DE\"", "", 0, String::new()))
        .await?
        .into_inner();
    ensure!(de.total_size == 1);
    let bad = client
        .list_profiles(list("person.shoe_size > 3", "", 0, String::new()))
        .await
        .expect_err("unknown field");
    ensure!(
        bad.code() == Code::InvalidArgument && violation_fields(&bad) == ["filter"],
        "{bad:?}"
    );
    let bad = client
        .list_profiles(list("", "customer", 0, "garbage".to_owned()))
        .await
        .expect_err("bad token");
    ensure!(violation_fields(&bad) == ["page_token"]);

    // Manual tags and history.
    let tag = client
        .create_tag(pb::CreateTagRequest {
            parent: customer("bob"),
            tag: Some(pb::Tag {
                key: "segment".to_owned(),
                value: "Wholesale Buyer".to_owned(),
                note: "called us".to_owned(),
                ..Default::default()
            }),
            actor: "alice".to_owned(),
        })
        .await?
        .into_inner();
    ensure!(
        tag.name == format!("{}/tags/segment-wholesale-buyer", customer("bob"))
            && tag.source == pb::TagSource::Manual as i32
            && (tag.confidence - 1.0).abs() < 1e-9
    );
    let again = client
        .create_tag(pb::CreateTagRequest {
            parent: customer("bob"),
            tag: Some(pb::Tag {
                key: "segment".to_owned(),
                value: "Wholesale Buyer".to_owned(),
                ..Default::default()
            }),
            actor: "alice".to_owned(),
        })
        .await?
        .into_inner();
    ensure!(again.evidence_count == 2, "reinforced: {again:?}");
    let manual = client
        .list_tags(pb::ListTagsRequest {
            parent: format!("{M}/customers/-"),
            filter: "source = MANUAL".to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(manual.tags.len() == 1);
    let bad = client
        .create_tag(pb::CreateTagRequest {
            parent: customer("bob"),
            tag: Some(pb::Tag {
                confidence: 2.0,
                ..Default::default()
            }),
            actor: String::new(),
        })
        .await
        .expect_err("invalid tag");
    ensure!(
        violation_fields(&bad) == ["tag.key", "tag.value", "tag.confidence"],
        "{:?}",
        violation_fields(&bad)
    );
    client
        .delete_tag(pb::DeleteTagRequest {
            name: tag.name.clone(),
            actor: "alice".to_owned(),
        })
        .await?;
    let history = client
        .list_tag_history(pb::ListTagHistoryRequest {
            parent: customer("bob"),
            filter: "key = \"segment\"".to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let actions: Vec<i32> = history.entries.iter().map(|e| e.action).collect();
    ensure!(
        actions
            == [
                pb::TagAction::Removed as i32,
                pb::TagAction::Reinforced as i32,
                pb::TagAction::Added as i32
            ],
        "newest first: {history:?}"
    );
    ensure!(history.entries[0].actor == "alice");

    // Segments: built-ins plus a custom one, member counts and members.
    let custom = client
        .create_segment(pb::CreateSegmentRequest {
            parent: M.to_owned(),
            segment_id: "germany".to_owned(),
            segment: Some(pb::Segment {
                display_name: "Germany".to_owned(),
                filter: "person.country_code = \"DE\"".to_owned(),
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    ensure!(custom.member_count == 1 && custom.kind == pb::SegmentKind::Custom as i32);
    let segments = client
        .list_segments(pb::ListSegmentsRequest {
            parent: M.to_owned(),
            page_size: 100,
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(segments.segments.len() == 12);
    let builtin_total: i64 = segments
        .segments
        .iter()
        .filter(|s| s.kind == pb::SegmentKind::BuiltInRfm as i32)
        .map(|s| s.member_count)
        .sum();
    ensure!(
        builtin_total == 2,
        "every buyer is in exactly one RFM segment: {builtin_total}"
    );
    let members = client
        .list_segment_members(pb::ListSegmentMembersRequest {
            parent: custom.name.clone(),
            view: pb::ProfileView::Basic as i32,
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(
        members.total_size == 1
            && members.members[0].customer == customer("jane")
            && members.members[0].profile.is_some()
    );
    let readonly = client
        .update_segment(pb::UpdateSegmentRequest {
            segment: Some(pb::Segment {
                name: format!("{M}/segments/champions"),
                display_name: "x".to_owned(),
                filter: "kind = PERSON".to_owned(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .expect_err("built-in");
    ensure!(readonly.code() == Code::FailedPrecondition);
    // A custom segment: get, update (masked), delete.
    let got = client
        .get_segment(pb::GetSegmentRequest {
            name: custom.name.clone(),
        })
        .await?
        .into_inner();
    ensure!(got.filter == "person.country_code = \"DE\"" && got.member_count == 1);
    let builtin = client
        .get_segment(pb::GetSegmentRequest {
            name: format!("{M}/segments/at-risk"),
        })
        .await?
        .into_inner();
    ensure!(
        builtin.kind == pb::SegmentKind::BuiltInRfm as i32
            && builtin.filter == "transactions.rfm.segment = AT_RISK"
    );
    let updated = client
        .update_segment(pb::UpdateSegmentRequest {
            segment: Some(pb::Segment {
                name: custom.name.clone(),
                display_name: "ignored".to_owned(),
                filter: "person.country_code = \"FR\"".to_owned(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["filter".to_owned()],
            }),
        })
        .await?
        .into_inner();
    ensure!(
        updated.display_name == "Germany" && updated.member_count == 1,
        "only the masked field changes: {updated:?}"
    );
    let members = client
        .list_segment_members(pb::ListSegmentMembersRequest {
            parent: custom.name.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(
        members.members.len() == 1
            && members.members[0].customer == customer("bob")
            && members.members[0].profile.is_none()
    );
    client
        .delete_segment(pb::DeleteSegmentRequest {
            name: custom.name.clone(),
        })
        .await?;
    let gone = client
        .get_segment(pb::GetSegmentRequest {
            name: custom.name.clone(),
        })
        .await
        .expect_err("deleted");
    ensure!(gone.code() == Code::NotFound);
    let builtin_delete = client
        .delete_segment(pb::DeleteSegmentRequest {
            name: format!("{M}/segments/lost"),
        })
        .await
        .expect_err("built-in");
    ensure!(builtin_delete.code() == Code::FailedPrecondition);
    let clash = client
        .create_segment(pb::CreateSegmentRequest {
            parent: M.to_owned(),
            segment_id: "lost".to_owned(),
            segment: Some(pb::Segment {
                display_name: "x".to_owned(),
                filter: "nope = 1".to_owned(),
                ..Default::default()
            }),
        })
        .await
        .expect_err("invalid segment");
    ensure!(
        violation_fields(&clash) == ["segment_id", "segment.filter"],
        "{:?}",
        violation_fields(&clash)
    );

    // Analytics by country and RFM segment.
    let analytics = client
        .get_customer_analytics(pb::GetCustomerAnalyticsRequest {
            parent: M.to_owned(),
            dimensions: vec![
                pb::AnalyticsDimension::Country as i32,
                pb::AnalyticsDimension::RfmSegment as i32,
            ],
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(analytics.customer_count == 2);
    let countries: Vec<(&str, i64)> = analytics.distributions[0]
        .buckets
        .iter()
        .map(|b| (b.key.as_str(), b.count))
        .collect();
    ensure!(countries == [("DE", 1), ("FR", 1)], "{countries:?}");
    let shares: f64 = analytics.distributions[1]
        .buckets
        .iter()
        .map(|b| b.share)
        .sum();
    ensure!((shares - 1.0).abs() < 1e-9);

    // Merge bob into jane: bob's order moves, bob's profile and tags go.
    env.client
        .merge_customers(ing::MergeCustomersRequest {
            target_customer: customer("jane"),
            source_customers: vec![customer("bob")],
            reason: "same person".to_owned(),
            actor: "alice".to_owned(),
        })
        .await?;
    wait_for(&mut client, "jane", |p| orders_of(p) == 3).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client
            .get_profile(get(&customer("bob"), pb::ProfileView::Basic))
            .await
        {
            Err(s) if s.code() == Code::NotFound => break,
            _ if Instant::now() > deadline => bail!("bob's profile survived the merge"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }

    // A full rebuild on demand.
    let job = client
        .rebuild_profiles(pb::RebuildProfilesRequest {
            parent: M.to_owned(),
            customers: vec![],
            full: true,
        })
        .await?
        .into_inner();
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let j = client
            .get_rebuild_job(pb::GetRebuildJobRequest {
                name: job.name.clone(),
            })
            .await?
            .into_inner();
        if j.state == pb::JobState::Succeeded as i32 {
            break j;
        }
        ensure!(
            j.state != pb::JobState::Failed as i32,
            "rebuild failed: {}",
            j.error_message
        );
        ensure!(Instant::now() < deadline, "rebuild did not finish: {j:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    ensure!(
        done.total_count == 1 && done.processed_count == 1 && (done.progress - 1.0).abs() < 1e-9,
        "{done:?}"
    );
    let bad = client
        .rebuild_profiles(pb::RebuildProfilesRequest {
            parent: M.to_owned(),
            customers: vec!["merchants/other/customers/x".to_owned()],
            full: false,
        })
        .await
        .expect_err("foreign customer");
    ensure!(violation_fields(&bad) == ["customers[0]"]);
    Ok(())
}

/// Jane's stored summary: when it was last built from all events, and how far into the
/// outbox it has come.
async fn summary_state(db: &sea_orm::DatabaseConnection) -> Result<(String, i64)> {
    use caravan_store::entity::profile_event_summaries as s;
    let row = s::Entity::find()
        .filter(s::Column::MerchantId.eq("acme"))
        .filter(s::Column::CustomerId.eq("jane"))
        .one(db)
        .await?
        .context("no stored summary for jane")?;
    Ok((row.rebuilt_at.get().to_rfc3339(), row.applied_through))
}

/// The profile without what differs between two builds of the same data.
fn comparable(mut p: pb::Profile) -> pb::Profile {
    p.update_time = None;
    p
}

async fn ingest(env: &mut IngestionEnv, events: Vec<ing::Event>) -> Result<()> {
    let response = env
        .client
        .batch_ingest_events(ing::BatchIngestEventsRequest {
            parent: M.to_owned(),
            events,
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(
        response.rejected_count == 0 && response.accepted_count >= 1,
        "not accepted: {response:?}"
    );
    Ok(())
}

async fn rebuild_all_in_full(client: &mut Client) -> Result<()> {
    let job = client
        .rebuild_profiles(pb::RebuildProfilesRequest {
            parent: M.to_owned(),
            customers: vec![customer("jane")],
            full: true,
        })
        .await?
        .into_inner();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let j = client
            .get_rebuild_job(pb::GetRebuildJobRequest {
                name: job.name.clone(),
            })
            .await?
            .into_inner();
        if j.state == pb::JobState::Succeeded as i32 {
            return Ok(());
        }
        ensure!(
            j.state != pb::JobState::Failed as i32,
            "{}",
            j.error_message
        );
        ensure!(Instant::now() < deadline, "rebuild did not finish: {j:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Events of most kinds for jane, one batch (one outbox row) each, in time order after the
/// seed; `n` numbers them.
fn later_event(n: i64, at: i64) -> ing::Event {
    let id = format!("later-{n}");
    let payload = match n % 8 {
        0 => Payload::ProductView(ing::ProductViewEvent {
            product: product("mug"),
            dwell_seconds: 12,
        }),
        1 => Payload::CartAdd(ing::CartChangeEvent {
            product: product("mug"),
            quantity: 1,
            unit_price: eur(900),
        }),
        2 => Payload::Favourite(ing::FavouriteEvent {
            product: product("mug"),
            removed: n >= 8,
        }),
        3 => Payload::Search(ing::SearchEvent {
            query: "blue mug".to_owned(),
            results_count: 0,
            ..Default::default()
        }),
        4 => order(&format!("o-later-{n}"), "mug", 1, 900, ""),
        5 => Payload::AfterSalesTicket(ing::AfterSalesTicketEvent {
            ticket_id: format!("t-{n}"),
            order_id: "o-j1".to_owned(),
            topic: ing::TicketTopic::LateDelivery as i32,
            satisfaction: Some(2),
            text: "The parcel was late".to_owned(),
            ..Default::default()
        }),
        6 => Payload::Review(ing::ReviewEvent {
            product: product("mug"),
            order_id: "o-j2".to_owned(),
            rating: 2,
            text: "Broken on arrival".to_owned(),
            language_code: "en".to_owned(),
            ..Default::default()
        }),
        _ => Payload::SocialAction(ing::SocialActionEvent {
            action: ing::SocialActionKind::Share as i32,
            platform: common::SocialPlatform::Tiktok as i32,
            audience_size: 300,
            ..Default::default()
        }),
    };
    event(&id, "jane", at, payload)
}

#[tokio::test]
async fn new_events_are_applied_to_the_stored_summary_and_build_what_a_full_rebuild_builds()
-> Result<()> {
    let Some((mut env, _profiling, mut client)) = start().await? else {
        return Ok(());
    };
    let db = caravan_store::connect(&env.db.url, 2).await?;
    let seeded = wait_for(&mut client, "jane", |p| p.event_count == 6).await?;
    let (first_build, _) = summary_state(&db).await?;

    // Sixteen more events, one call each: each poll applies a few to the stored summary.
    let t = now() - DAY / 4;
    for n in 0..16 {
        ingest(&mut env, vec![later_event(n, t + n * 60)]).await?;
    }
    let incremental = wait_for(&mut client, "jane", |p| p.event_count == 22).await?;
    let (still_first, applied) = summary_state(&db).await?;
    ensure!(
        still_first == first_build,
        "the summary was rebuilt from all events ({first_build} -> {still_first}) instead of applying the new ones"
    );
    ensure!(applied > 0, "applied_through {applied}");
    ensure!(incremental.event_count > seeded.event_count);

    // Built from all events by a rebuild job: the same portrait.
    rebuild_all_in_full(&mut client).await?;
    let full = wait_for(&mut client, "jane", |p| p.event_count == 22).await?;
    ensure!(
        comparable(incremental.clone()) == comparable(full.clone()),
        "incremental and full builds differ:\n{incremental:#?}\nfull:\n{full:#?}"
    );

    // An event older than the latest applied one: the summary is built again from all
    // events, and the portrait counts it.
    let (before_late, _) = summary_state(&db).await?;
    ingest(&mut env, vec![later_event(99, t - 3_600)]).await?;
    let with_late = wait_for(&mut client, "jane", |p| p.event_count == 23).await?;
    let (after_late, _) = summary_state(&db).await?;
    ensure!(
        after_late != before_late,
        "a late event did not rebuild the summary"
    );
    rebuild_all_in_full(&mut client).await?;
    let full = wait_for(&mut client, "jane", |p| p.event_count == 23).await?;
    ensure!(comparable(with_late) == comparable(full));
    db.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_new_buyer_among_many_is_scored_against_the_last_ranking() -> Result<()> {
    let Some((mut env, _profiling, mut client)) = start().await? else {
        return Ok(());
    };
    let rfm = |p: &pb::Profile| p.transactions.as_ref().and_then(|t| t.rfm);
    // Twelve more buyers, older orders of growing size, in one batch: the consumer ranks
    // all fourteen.
    let t = now();
    let buyers: Vec<ing::Event> = (1..=12)
        .map(|i| {
            event(
                &format!("buyer-{i}"),
                &format!("buyer-{i}"),
                t - (20 + i) * DAY,
                order(&format!("o-buyer-{i}"), "mug", 1, 100 * i, ""),
            )
        })
        .collect();
    ingest(&mut env, buyers).await?;
    for i in 1..=12 {
        wait_for(&mut client, &format!("buyer-{i}"), |p| rfm(p).is_some()).await?;
    }
    // One new buyer, the most recent and the biggest: one of fifteen changed, so it is
    // scored against the ranking instead of ranking everyone again.
    ingest(
        &mut env,
        vec![event(
            "zoe-1",
            "zoe",
            t - 60,
            order("o-zoe", "mug", 9, 9_000, ""),
        )],
    )
    .await?;
    let zoe = wait_for(&mut client, "zoe", |p| rfm(p).is_some()).await?;
    let score = rfm(&zoe).context("zoe's RFM")?;
    ensure!(
        score.recency_score == 5 && score.monetary_score == 5,
        "the newest, biggest order ranks top: {score:?}"
    );
    ensure!(score.segment != 0, "{score:?}");
    Ok(())
}
