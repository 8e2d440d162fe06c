//! Right to erasure end to end, against `caravan serve` on MariaDB and on its embedded
//! SQLite: a customer with a full history (every event kind, a merged duplicate record, a
//! referral by another customer, a manual tag, a custom segment, value-model predictions, a
//! trained and deployed recommendation model, marketing contacts, an access-log entry and a
//! rebuild job naming it) is erased with `DeleteCustomer`. Afterwards no row of any table
//! (read from the catalogue, inflated model blobs included) holds its ids, identifier hashes,
//! personal data or the free text it wrote; the model it was trained into is gone and a
//! retrained one serves without it; other customers keep their data; and the erased customer
//! cannot come back through events, CreateCustomer or UpdateCustomer.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use caravan_integration_tests::Channel;
use caravan_integration_tests::customer_fixture::{
    self as fx, Backend, DAY, Suite, customer_name, eur, identifier, product_name, ts,
};
use caravan_integration_tests::store_scan::{self, Dump};
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as ing;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use caravan_proto::caravan::marketing::v1 as mkt;
use caravan_proto::caravan::marketing::v1::strategy_scoring_service_client::StrategyScoringServiceClient;
use caravan_proto::caravan::profiling::v1 as prof;
use caravan_proto::caravan::recommendation::v1 as rec;
use caravan_proto::caravan::recommendation::v1::recommendation_service_client::RecommendationServiceClient;
use ing::event::Payload;
use sea_orm::DatabaseConnection;
use tonic::Code;

const M: &str = "acme";
/// The customer to erase.
const ERASED: &str = "erase-me-4711";
/// Its duplicate record, merged into it.
const DUP: &str = "dup-7731-zq";
/// In every free text, session id, event id and order id of the two: none may survive.
const MARK: &str = "q7zx";
const GIVEN: &str = "Ottilie";
const FAMILY: &str = "Quastenberg";
const EMAIL: &str = "ottilie.quastenberg@example.org";
const PHONE: &str = "+436601234711";
const BUYER_ID: &str = "buyer-ottq-5521";
const DUP_GIVEN: &str = "Ottokar";
const DUP_FAMILY: &str = "Zwirnmeister";
const DUP_EMAIL: &str = "ottokar.zwirnmeister@example.net";
const DUP_PHONE: &str = "+4369912347731";
const DUP_DEVICE: &str = "device-zw-8812";
/// Other customers, with orders, so that models can be fitted and trained.
const SHOPPERS: usize = 24;
/// Refers the erased customer (a social action naming it).
const REFERRER: &str = "shopper-03";

const PRODUCTS: [(&str, &str); 10] = [
    ("P01", "Home > Candles"),
    ("P02", "Home > Candles"),
    ("P03", "Home > Candles"),
    ("P04", "Home > Candles"),
    ("P05", "Home > Candles"),
    ("P06", "Garden > Tools"),
    ("P07", "Garden > Tools"),
    ("P08", "Garden > Tools"),
    ("P09", "Garden > Tools"),
    ("P10", "Garden > Tools"),
];

fn shopper(i: usize) -> String {
    format!("shopper-{i:02}")
}

fn shopper_country(i: usize) -> &'static str {
    if i.is_multiple_of(2) { "DE" } else { "FR" }
}

fn cname(id: &str) -> String {
    customer_name(M, id)
}

fn pname(sku: &str) -> String {
    product_name(M, sku)
}

fn event(id: &str, customer: &str, at: i64, session: &str, payload: Payload) -> ing::Event {
    ing::Event {
        event_id: id.to_owned(),
        customer: customer.to_owned(),
        occur_time: ts(at),
        session_id: session.to_owned(),
        source: "web-tracker".to_owned(),
        payload: Some(payload),
        ..Default::default()
    }
}

fn order(
    order_id: &str,
    status: ing::OrderStatus,
    lines: &[(&str, i64)],
    unit: i64,
    destination: &str,
) -> Payload {
    let total: i64 = lines.iter().map(|(_, q)| q * unit).sum();
    Payload::Order(ing::OrderEvent {
        order_id: order_id.to_owned(),
        status: status as i32,
        lines: lines
            .iter()
            .map(|(sku, quantity)| ing::OrderLine {
                product: (*sku).to_owned(),
                quantity: *quantity,
                unit_price: eur(unit),
            })
            .collect(),
        total: eur(total),
        payment: Some(ing::PaymentInfo {
            method: common::PaymentMethod::Card as i32,
            outcome: ing::PaymentOutcome::Succeeded as i32,
            ..Default::default()
        }),
        logistics: Some(ing::LogisticsInfo {
            carrier: "DHL".to_owned(),
            promised_delivery_days: Some(4),
            destination_country_code: destination.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The erased customer's own events: every kind of payload, an order through its four
/// statuses and a second order. Product references are bare SKUs, as a tracker sends them.
fn erased_events(t: i64) -> Vec<ing::Event> {
    let s = format!("sess-{MARK}-1");
    let e = |n: usize, at: i64, payload: Payload| {
        event(&format!("ev{MARK}-{n:02}"), ERASED, at, &s, payload)
    };
    let o1 = t - 30 * DAY;
    let lines = [("P01", 1), ("P02", 2)];
    vec![
        e(
            1,
            o1 - 600,
            Payload::SessionStart(ing::SessionStartEvent {
                device_type: common::DeviceType::Mobile as i32,
                os: "iOS 17".to_owned(),
                traffic_source: common::TrafficSource::Social as i32,
                landing_page_uri: format!("https://shop.example/?ref={MARK}"),
                ip_country_code: "AT".to_owned(),
                language_code: "de-AT".to_owned(),
                ..Default::default()
            }),
        ),
        e(
            2,
            o1 - 590,
            Payload::PageView(ing::PageViewEvent {
                uri: "https://shop.example/candles".to_owned(),
                page_type: ing::PageType::Category as i32,
                dwell_seconds: 20,
            }),
        ),
        e(
            3,
            o1 - 580,
            Payload::Search(ing::SearchEvent {
                query: format!("{MARK} scented lantern"),
                results_count: 4,
                category_path: "Home".to_owned(),
            }),
        ),
        e(
            4,
            o1 - 570,
            Payload::ProductView(ing::ProductViewEvent {
                product: "P01".to_owned(),
                dwell_seconds: 45,
            }),
        ),
        e(
            5,
            o1 - 560,
            Payload::CartAdd(ing::CartChangeEvent {
                product: "P01".to_owned(),
                quantity: 1,
                unit_price: eur(1_000),
            }),
        ),
        e(
            6,
            o1 - 550,
            Payload::CartRemove(ing::CartChangeEvent {
                product: "P05".to_owned(),
                quantity: 1,
                unit_price: None,
            }),
        ),
        e(
            7,
            o1 - 540,
            Payload::CheckoutStep(ing::CheckoutStepEvent {
                step_number: 2,
                step_name: "payment".to_owned(),
            }),
        ),
        e(
            8,
            o1 - 530,
            Payload::ContentView(ing::ContentViewEvent {
                content_uri: format!("https://shop.example/blog/{MARK}"),
                topic: "candle care".to_owned(),
                brand: "Acme".to_owned(),
                content_type: common::ContentType::Article as i32,
                dwell_seconds: 120,
                ..Default::default()
            }),
        ),
        e(
            9,
            o1 - 520,
            Payload::Favourite(ing::FavouriteEvent {
                product: "P02".to_owned(),
                removed: false,
            }),
        ),
        e(
            10,
            o1 - 510,
            Payload::Follow(ing::FollowEvent {
                target_kind: ing::FollowTargetKind::Brand as i32,
                target: "Acme".to_owned(),
                removed: false,
            }),
        ),
        e(
            11,
            o1,
            order(
                &format!("ord{MARK}-1"),
                ing::OrderStatus::Placed,
                &lines,
                1_000,
                "AT",
            ),
        ),
        e(
            12,
            o1 + 3_600,
            order(
                &format!("ord{MARK}-1"),
                ing::OrderStatus::Paid,
                &lines,
                1_000,
                "AT",
            ),
        ),
        e(
            13,
            o1 + DAY,
            order(
                &format!("ord{MARK}-1"),
                ing::OrderStatus::Shipped,
                &lines,
                1_000,
                "AT",
            ),
        ),
        e(
            14,
            o1 + 3 * DAY,
            order(
                &format!("ord{MARK}-1"),
                ing::OrderStatus::Delivered,
                &lines,
                1_000,
                "AT",
            ),
        ),
        e(
            15,
            o1 + 4 * DAY,
            Payload::Review(ing::ReviewEvent {
                product: "P01".to_owned(),
                order_id: format!("ord{MARK}-1"),
                rating: 4,
                title: "Lovely".to_owned(),
                text: format!("{MARK}: a lovely warm glow, I use it every evening"),
                language_code: "en".to_owned(),
            }),
        ),
        e(
            16,
            o1 + 4 * DAY + 60,
            Payload::AfterSalesTicket(ing::AfterSalesTicketEvent {
                ticket_id: format!("tk{MARK}-1"),
                order_id: format!("ord{MARK}-1"),
                topic: ing::TicketTopic::Damaged as i32,
                resolved: true,
                resolution_hours: Some(6.0),
                satisfaction: Some(4),
                text: format!("{MARK}: one glass was cracked on arrival"),
            }),
        ),
        e(
            17,
            o1 + 5 * DAY,
            Payload::ReturnGoods(ing::ReturnEvent {
                order_id: format!("ord{MARK}-1"),
                product: "P02".to_owned(),
                quantity: 1,
                reason: ing::ReturnReason::Damaged as i32,
                reason_text: format!("{MARK}: cracked glass"),
                refund: eur(1_000),
            }),
        ),
        e(
            18,
            o1 + 6 * DAY,
            Payload::SocialAction(ing::SocialActionEvent {
                action: ing::SocialActionKind::Comment as i32,
                platform: common::SocialPlatform::Instagram as i32,
                target_uri: "https://instagram.example/p/1".to_owned(),
                product: "P01".to_owned(),
                comment_text: format!("{MARK}: my favourite candle"),
                audience_size: 350,
                ..Default::default()
            }),
        ),
        e(
            19,
            o1 + 7 * DAY,
            Payload::Inquiry(ing::InquiryEvent {
                inquiry_id: format!("inq{MARK}-1"),
                product: "P03".to_owned(),
                message: format!("{MARK}: could I order twenty for a wedding?"),
                channel: common::ContactChannel::Email as i32,
                ..Default::default()
            }),
        ),
        e(
            20,
            t - 10 * DAY,
            order(
                &format!("ord{MARK}-2"),
                ing::OrderStatus::Delivered,
                &[("P03", 1)],
                1_200,
                "AT",
            ),
        ),
    ]
}

/// The duplicate record's own events, before it is merged.
fn dup_events(t: i64) -> Vec<ing::Event> {
    let s = format!("sess-{MARK}-2");
    vec![
        event(
            &format!("ev{MARK}-d1"),
            DUP,
            t - 21 * DAY,
            &s,
            Payload::PageView(ing::PageViewEvent {
                uri: "https://shop.example/garden".to_owned(),
                page_type: ing::PageType::Category as i32,
                dwell_seconds: 9,
            }),
        ),
        event(
            &format!("ev{MARK}-d2"),
            DUP,
            t - 20 * DAY,
            &s,
            order(
                &format!("ord{MARK}-3"),
                ing::OrderStatus::Delivered,
                &[("P04", 1)],
                900,
                "AT",
            ),
        ),
    ]
}

/// Orders of the other customers: even ones buy candles, odd ones garden tools, two to four
/// orders each over the last hundred days; plus two referrals, one naming the erased
/// customer and one naming another shopper.
fn shopper_events(t: i64) -> Vec<ing::Event> {
    let mut events = Vec::new();
    for i in 0..SHOPPERS {
        let base = if i.is_multiple_of(2) { 0 } else { 5 };
        for k in 0..(2 + i % 3) {
            let a = PRODUCTS[base + (k + i) % 5].0;
            let b = PRODUCTS[base + (k + i + 2) % 5].0;
            let days_ago = 100 - 25 * k as i64 - (i % 7) as i64;
            events.push(event(
                &format!("so-{i:02}-{k}"),
                &shopper(i),
                t - days_ago * DAY,
                &format!("s-{i:02}-{k}"),
                order(
                    &format!("o-{i:02}-{k}"),
                    ing::OrderStatus::Delivered,
                    &[(a, 1), (b, 1)],
                    800 + 100 * (i as i64 % 4),
                    shopper_country(i),
                ),
            ));
        }
    }
    events.push(referral("ref-1", REFERRER, ERASED));
    events.push(referral("ref-2", "shopper-05", "shopper-07"));
    events
}

fn referral(id: &str, from: &str, to: &str) -> ing::Event {
    event(
        id,
        from,
        fx::now() - 5 * DAY,
        &format!("s-{id}"),
        Payload::SocialAction(ing::SocialActionEvent {
            action: ing::SocialActionKind::Referral as i32,
            platform: common::SocialPlatform::Tiktok as i32,
            target_uri: "https://shop.example/invite".to_owned(),
            product: pname("P01"),
            referred_customer: to.to_owned(),
            audience_size: 40,
            ..Default::default()
        }),
    )
}

fn person(
    given: &str,
    family: &str,
    email: &str,
    phone: &str,
    extra: common::CustomerIdentifier,
) -> ing::Customer {
    ing::Customer {
        kind: common::CustomerKind::Person as i32,
        details: Some(ing::customer::Details::Person(ing::PersonDetails {
            given_name: given.to_owned(),
            family_name: family.to_owned(),
            email: email.to_owned(),
            phone: phone.to_owned(),
            country_code: "AT".to_owned(),
            city: "Graz".to_owned(),
            age: Some(ing::person_details::Age::BirthYear(1987)),
            ..Default::default()
        })),
        identifiers: vec![extra],
        consents: vec![ing::MarketingConsent {
            channel: common::ConsentChannel::Email as i32,
            granted: true,
            update_time: ts(fx::now() - 60 * DAY),
            source: "checkout-form".to_owned(),
        }],
        source: "shopify".to_owned(),
        ..Default::default()
    }
}

/// Soft assertions after the erasure: every check runs, the test fails at the end with all
/// that did not hold.
#[derive(Default)]
struct Findings {
    passed: Vec<String>,
    failed: Vec<String>,
}

impl Findings {
    fn check(&mut self, ok: bool, what: &str, detail: impl FnOnce() -> String) {
        if ok {
            self.passed.push(what.to_owned());
        } else {
            self.failed.push(format!("{what}: {}", detail()));
        }
    }

    fn finish(self, backend: Backend) -> Result<()> {
        eprintln!(
            "privacy_erasure [{backend:?}]: {} checks held:",
            self.passed.len()
        );
        for p in &self.passed {
            eprintln!("  ok   {p}");
        }
        for f in &self.failed {
            eprintln!("  FAIL {f}");
        }
        if self.failed.is_empty() {
            Ok(())
        } else {
            bail!(
                "{} erasure check(s) failed on {backend:?}:\n{}",
                self.failed.len(),
                self.failed.join("\n")
            )
        }
    }
}

/// What may not be found anywhere in the store after the erasure.
struct Needles(Vec<(String, Vec<u8>)>);

impl Needles {
    fn scan(&self, dump: &Dump) -> Vec<String> {
        self.0
            .iter()
            .filter_map(|(label, needle)| {
                let found = store_scan::rows_containing(dump, needle);
                (!found.is_empty()).then(|| format!("{label} in {found:?}"))
            })
            .collect()
    }

    /// The needles found inside inflated model blobs, as `(version, label)`.
    fn scan_models(&self, models: &[(i64, Vec<u8>)]) -> Result<Vec<String>> {
        let mut found = Vec::new();
        for (version, blob) in models {
            let raw = fx::inflate_model(blob).with_context(|| format!("model {version}"))?;
            for (label, needle) in &self.0 {
                if fx::contains(&raw, needle) {
                    found.push(format!("{label} in model version {version}"));
                }
            }
        }
        Ok(found)
    }
}

/// What other customers have in the store, to compare before and after the erasure.
async fn others_snapshot(db: &DatabaseConnection) -> Result<Vec<(&'static str, Vec<String>)>> {
    let not_erased = format!("customer_id NOT IN ('{ERASED}', '{DUP}')");
    let queries = [
        (
            "events",
            format!(
                "SELECT event_id, customer_id, kind, session_id FROM events WHERE {not_erased}"
            ),
        ),
        (
            "orders",
            format!(
                "SELECT order_id, customer_id, status, currency FROM orders WHERE {not_erased}"
            ),
        ),
        (
            "order lines",
            format!("SELECT order_id, sku FROM order_lines WHERE order_id NOT LIKE 'ord{MARK}-%'"),
        ),
        (
            "customers",
            format!("SELECT id, kind FROM customers WHERE id NOT IN ('{ERASED}', '{DUP}')"),
        ),
        (
            "identifiers",
            format!(
                "SELECT customer_id, kind, value_hash FROM customer_identifiers WHERE {not_erased}"
            ),
        ),
        (
            "profiles",
            format!("SELECT customer_id, kind FROM profiles WHERE {not_erased}"),
        ),
        (
            "value-model predictions",
            format!("SELECT customer_id FROM profiles WHERE p_alive IS NOT NULL AND {not_erased}"),
        ),
        (
            "manual tags",
            format!(
                "SELECT customer_id, tag_key, value, note FROM customer_tags \
                 WHERE source = 'MANUAL' AND {not_erased}"
            ),
        ),
        (
            "marketing contacts",
            format!("SELECT customer_id, strategy_id FROM contact_log WHERE {not_erased}"),
        ),
        (
            "access log",
            format!("SELECT customer_id, rpc, action FROM access_log WHERE {not_erased}"),
        ),
    ];
    let mut out = Vec::new();
    for (label, sql) in queries {
        out.push((label, fx::text_rows(db, &sql).await?));
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn erasure_leaves_no_trace_on_mariadb() -> Result<()> {
    let Some(suite) = Suite::start(Backend::MariaDb).await? else {
        return Ok(());
    };
    erase_everywhere(&suite).await
}

#[tokio::test(flavor = "multi_thread")]
async fn erasure_leaves_no_trace_on_sqlite() -> Result<()> {
    let suite = Suite::start(Backend::Sqlite)
        .await?
        .context("sqlite suite")?;
    erase_everywhere(&suite).await
}

async fn erase_everywhere(suite: &Suite) -> Result<()> {
    let started = Instant::now();
    let backend = suite.backend;
    let mut ingestion = suite.ingestion();
    let mut profiling = suite.profiling();
    let mut recommendation = suite.recommendation();
    let mut marketing = StrategyScoringServiceClient::new(suite.channel.clone());
    let t = fx::now();

    // --- The history -------------------------------------------------------------------
    fx::create_merchant(&mut ingestion, M).await?;
    fx::create_products(&mut ingestion, M, &PRODUCTS).await?;
    for (id, customer) in [
        (
            ERASED,
            person(
                GIVEN,
                FAMILY,
                EMAIL,
                PHONE,
                identifier(common::IdentifierKind::PlatformBuyerId, BUYER_ID),
            ),
        ),
        (
            DUP,
            person(
                DUP_GIVEN,
                DUP_FAMILY,
                DUP_EMAIL,
                DUP_PHONE,
                identifier(common::IdentifierKind::DeviceId, DUP_DEVICE),
            ),
        ),
    ] {
        ingestion
            .create_customer(ing::CreateCustomerRequest {
                parent: fx::merchant_name(M),
                customer_id: id.to_owned(),
                customer: Some(customer),
            })
            .await
            .with_context(|| format!("create {id}"))?;
    }
    for i in 0..SHOPPERS {
        ingestion
            .create_customer(ing::CreateCustomerRequest {
                parent: fx::merchant_name(M),
                customer_id: shopper(i),
                customer: Some(ing::Customer {
                    kind: common::CustomerKind::Person as i32,
                    details: Some(ing::customer::Details::Person(ing::PersonDetails {
                        email: format!("{}@example.com", shopper(i)),
                        country_code: shopper_country(i).to_owned(),
                        ..Default::default()
                    })),
                    ..Default::default()
                }),
            })
            .await
            .with_context(|| format!("create {}", shopper(i)))?;
    }
    let own = erased_events(t);
    let dup = dup_events(t);
    let mut all = shopper_events(t);
    all.extend(own.iter().cloned());
    all.extend(dup.iter().cloned());
    fx::ingest_all(&mut ingestion, M, all).await?;
    let merged = ingestion
        .merge_customers(ing::MergeCustomersRequest {
            target_customer: cname(ERASED),
            source_customers: vec![cname(DUP)],
            reason: "same shopper on two devices".to_owned(),
            actor: "support".to_owned(),
        })
        .await?
        .into_inner();
    ensure!(merged.identity_merges.len() == 1, "{merged:?}");

    for (who, value, note) in [
        (ERASED, "vip-care", format!("{MARK}: prefers phone calls")),
        ("shopper-01", "standard", "control tag".to_owned()),
    ] {
        profiling
            .create_tag(prof::CreateTagRequest {
                parent: cname(who),
                tag: Some(prof::Tag {
                    key: "handling".to_owned(),
                    value: value.to_owned(),
                    note,
                    ..Default::default()
                }),
                actor: "support".to_owned(),
            })
            .await
            .with_context(|| format!("tag {who}"))?;
    }
    let segment = profiling
        .create_segment(prof::CreateSegmentRequest {
            parent: fx::merchant_name(M),
            segment_id: "austria".to_owned(),
            segment: Some(prof::Segment {
                display_name: "Austria".to_owned(),
                filter: "person.country_code = \"AT\"".to_owned(),
                ..Default::default()
            }),
        })
        .await?
        .into_inner();

    // Every profile built (the erased one with the merged history and its manual tag).
    let expected_events = (own.len() + dup.len()) as i64;
    fx::wait_for_profile(&mut profiling, &cname(ERASED), "built", |p| {
        p.event_count == expected_events && p.tags.iter().any(|t| t.key == "handling")
    })
    .await?;
    let store = suite.store().await?;
    let everyone: Vec<String> = std::iter::once(ERASED.to_owned())
        .chain((0..SHOPPERS).map(shopper))
        .collect();
    wait_for_rows(
        &store,
        "SELECT customer_id FROM profiles",
        &everyone,
        "every profile",
    )
    .await?;

    // Value-model predictions, in the profiles.
    let value_model = fx::fit_value_model(&mut profiling, M, "clv-main").await?;
    wait_for_rows(
        &store,
        "SELECT customer_id FROM profiles WHERE p_alive IS NOT NULL",
        &everyone,
        "every prediction",
    )
    .await?;
    // (The profile's `predictive_value.value_model` is left empty by profiling, whatever
    // the model; not what this test is about.)
    fx::wait_for_profile(&mut profiling, &cname(ERASED), "predicted", |p| {
        p.predictive_value.is_some() && p.segments.contains(&segment.name)
    })
    .await?;
    ensure!(value_model.current, "{value_model:?}");

    let members = profiling
        .list_segment_members(prof::ListSegmentMembersRequest {
            parent: segment.name.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(
        members.total_size == 1 && members.members[0].customer == cname(ERASED),
        "the custom segment holds the customer alone: {members:?}"
    );

    // A trained, deployed model that knows the customer's history.
    let job = fx::train(&mut recommendation, M, rec::ModelKind::ItemCf).await?;
    ensure!(job.deployed && !job.model.is_empty(), "{job:?}");
    let old_model = recommendation
        .get_model(rec::GetModelRequest {
            name: job.model.clone(),
        })
        .await?
        .into_inner();
    let before = recommend(&mut recommendation, ERASED).await?;
    ensure!(
        !before.fallback && before.model == job.model && !before.items.is_empty(),
        "the trained model knows the customer before the erasure: {before:?}"
    );

    // Marketing contacts, a reveal in the access log, a rebuild job naming the customer.
    marketing
        .create_strategy(mkt::CreateStrategyRequest {
            parent: fx::merchant_name(M),
            strategy_id: "tracking-plus".to_owned(),
            strategy: Some(mkt::Strategy {
                display_name: "Tracking plus".to_owned(),
                kind: mkt::StrategyKind::TrackingUpgrade as i32,
                parameters: Some(mkt::strategy::Parameters::TrackingUpgrade(
                    mkt::TrackingUpgradeParameters {
                        real_time_tracking: true,
                        proactive_delay_notifications: true,
                    },
                )),
                ..Default::default()
            }),
        })
        .await?;
    let recorded = marketing
        .record_contacts(mkt::RecordContactsRequest {
            parent: fx::merchant_name(M),
            contacts: [ERASED, "shopper-01"]
                .iter()
                .map(|c| mkt::ContactRecord {
                    customer: cname(c),
                    strategy: format!("merchants/{M}/strategies/tracking-plus"),
                    campaign: String::new(),
                    contact_time: ts(t - DAY),
                })
                .collect(),
        })
        .await?
        .into_inner();
    ensure!(recorded.recorded_count == 2, "{recorded:?}");
    for who in [ERASED, "shopper-01"] {
        let revealed = ingestion
            .get_customer(ing::GetCustomerRequest {
                name: cname(who),
                reveal_pii: true,
            })
            .await?
            .into_inner();
        if who == ERASED {
            let Some(ing::customer::Details::Person(p)) = &revealed.details else {
                bail!("person: {revealed:?}");
            };
            ensure!(p.email == EMAIL && p.family_name == FAMILY, "{p:?}");
        }
    }
    let rebuild = profiling
        .rebuild_profiles(prof::RebuildProfilesRequest {
            parent: fx::merchant_name(M),
            customers: vec![cname(ERASED)],
            full: false,
        })
        .await?
        .into_inner();
    fx::wait_for_rebuild(&mut profiling, &rebuild.name).await?;

    // --- Before: where the customer is, so that the scan afterwards means something -----
    let hashes = fx::text_rows(
        &store,
        &format!(
            "SELECT kind, value_hash FROM customer_identifiers \
             WHERE customer_id IN ('{ERASED}', '{DUP}')"
        ),
    )
    .await?;
    ensure!(
        hashes.len() == 6,
        "e-mail, phone and one more identifier of each record: {hashes:?}"
    );
    let mut needles = vec![
        ("customer id".to_owned(), ERASED),
        ("merged customer id".to_owned(), DUP),
        (
            "marker of free text, sessions, event and order ids".to_owned(),
            MARK,
        ),
        ("e-mail".to_owned(), EMAIL),
        ("phone".to_owned(), PHONE),
        ("given name".to_owned(), GIVEN),
        ("family name".to_owned(), FAMILY),
        ("merged e-mail".to_owned(), DUP_EMAIL),
        ("merged phone".to_owned(), DUP_PHONE),
        ("merged given name".to_owned(), DUP_GIVEN),
        ("merged family name".to_owned(), DUP_FAMILY),
        ("buyer id".to_owned(), BUYER_ID),
        ("device id".to_owned(), DUP_DEVICE),
    ]
    .into_iter()
    .map(|(label, needle)| (label, needle.as_bytes().to_vec()))
    .collect::<Vec<_>>();
    for row in &hashes {
        let (kind, hash) = row.split_once('|').context("kind|hash")?;
        needles.push((format!("{kind} identifier hash"), hash.as_bytes().to_vec()));
    }
    let needles = Needles(needles);
    let dump = store_scan::dump(&store).await?;
    let holding: Vec<String> = store_scan::rows_containing(&dump, ERASED.as_bytes())
        .into_iter()
        .map(|(table, _)| table)
        .collect();
    for table in [
        "customers",
        "customer_identifiers",
        "events",
        "orders",
        "profiles",
        "customer_tags",
        "tag_history",
        "identity_merges",
        "contact_log",
        "access_log",
        "rebuild_jobs",
        "rec_model_customers",
    ] {
        ensure!(
            holding.iter().any(|t| t == table),
            "before the erasure {table} should hold {ERASED}; it is in {holding:?}"
        );
    }
    let models_before = fx::model_blobs(&store).await?;
    ensure!(
        needles
            .scan_models(&models_before)?
            .iter()
            .any(|f| f.starts_with("customer id")),
        "the trained model blob holds the customer id before the erasure"
    );
    let others_before = others_snapshot(&store).await?;
    let referrer_before = get_event(&mut ingestion, "ref-1").await?;
    ensure!(
        referral_target(&referrer_before) == Some(cname(ERASED)),
        "{referrer_before:?}"
    );

    // --- The erasure --------------------------------------------------------------------
    let erase_started = Instant::now();
    ingestion
        .delete_customer(ing::DeleteCustomerRequest {
            name: cname(ERASED),
            reason: "ticket DSR-99".to_owned(),
        })
        .await
        .context("DeleteCustomer")?;
    let erase_took = erase_started.elapsed();
    let mut f = Findings::default();

    // Nothing left in any table, right after the call.
    let dump = store_scan::dump(&store).await?;
    let left = needles.scan(&dump);
    f.check(
        left.is_empty(),
        "no table holds any trace right after DeleteCustomer",
        || format!("{left:?}"),
    );
    let models = fx::model_blobs(&store).await?;
    let inside = needles.scan_models(&models)?;
    f.check(
        inside.is_empty(),
        "no model blob holds a trace (inflated)",
        || format!("{inside:?}"),
    );

    // Serving forgot the customer; the model trained on it is gone.
    let after = recommend(&mut recommendation, ERASED).await?;
    f.check(
        after.fallback,
        "Recommend for the erased customer is a fallback",
        || format!("{after:?}"),
    );
    let gone = recommendation
        .get_model(rec::GetModelRequest {
            name: job.model.clone(),
        })
        .await;
    f.check(
        matches!(&gone, Err(s) if s.code() == Code::NotFound),
        "GetModel of the version trained on the customer is NOT_FOUND",
        || format!("{gone:?}"),
    );

    // Replayed events are refused, with the reason; nothing is stored.
    let replayed = own
        .iter()
        .find(|e| e.event_id.ends_with("-15"))
        .context("review")?;
    let response = ingestion
        .batch_ingest_events(ing::BatchIngestEventsRequest {
            parent: fx::merchant_name(M),
            events: vec![replayed.clone(), dup[1].clone()],
            validate_only: false,
        })
        .await?
        .into_inner();
    let refused = |r: &ing::EventResult| {
        r.status == ing::EventIngestStatus::Refused as i32
            && r.field_violations
                .iter()
                .any(|v| v.field == "customer" && v.description.contains("erased"))
    };
    f.check(
        response.rejected_count == 2
            && response.accepted_count == 0
            && response.results.len() == 2
            && response.results.iter().all(refused),
        "replayed events of the customer and of its merged record are REFUSED (BatchIngestEvents)",
        || format!("{response:?}"),
    );
    let streamed = ingestion
        .ingest_events(tokio_stream::iter(vec![ing::IngestEventsRequest {
            parent: fx::merchant_name(M),
            events: vec![own[10].clone()],
            validate_only: false,
        }]))
        .await?
        .into_inner();
    f.check(
        streamed.rejected_count == 1
            && streamed.accepted_count == 0
            && streamed.rejections.first().is_some_and(|r| {
                r.status == ing::EventIngestStatus::Refused as i32
                    && r.event_id == own[10].event_id
                    && r.field_violations.iter().any(|v| v.field == "customer")
            }),
        "a replayed event is REFUSED on the IngestEvents stream too",
        || format!("{streamed:?}"),
    );

    // The customer cannot come back; it is not found.
    for id in [ERASED, DUP] {
        let created = ingestion
            .create_customer(ing::CreateCustomerRequest {
                parent: fx::merchant_name(M),
                customer_id: id.to_owned(),
                customer: Some(person(
                    GIVEN,
                    FAMILY,
                    "someone.else@example.org",
                    "",
                    identifier(common::IdentifierKind::ExternalId, "ext-1"),
                )),
            })
            .await;
        f.check(
            matches!(&created, Err(s) if s.code() == Code::FailedPrecondition),
            &format!("CreateCustomer {id} is FAILED_PRECONDITION"),
            || format!("{created:?}"),
        );
        let got = ingestion
            .get_customer(ing::GetCustomerRequest {
                name: cname(id),
                reveal_pii: false,
            })
            .await;
        f.check(
            matches!(&got, Err(s) if s.code() == Code::NotFound),
            &format!("GetCustomer {id} is NOT_FOUND"),
            || format!("{got:?}"),
        );
    }
    for allow_missing in [false, true] {
        let updated = ingestion
            .update_customer(ing::UpdateCustomerRequest {
                customer: Some(ing::Customer {
                    name: cname(ERASED),
                    kind: common::CustomerKind::Person as i32,
                    details: Some(ing::customer::Details::Person(ing::PersonDetails {
                        city: "Linz".to_owned(),
                        ..Default::default()
                    })),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["person.city".to_owned()],
                }),
                allow_missing,
            })
            .await;
        f.check(
            matches!(&updated, Err(s) if s.code() == Code::FailedPrecondition),
            &format!("UpdateCustomer (allow_missing {allow_missing}) is FAILED_PRECONDITION"),
            || format!("{updated:?}"),
        );
    }
    let again = ingestion
        .delete_customer(ing::DeleteCustomerRequest {
            name: cname(ERASED),
            reason: String::new(),
        })
        .await;
    f.check(
        matches!(&again, Err(s) if s.code() == Code::NotFound),
        "a second DeleteCustomer is NOT_FOUND",
        || format!("{again:?}"),
    );
    let profile = profiling
        .get_profile(prof::GetProfileRequest {
            name: format!("{}/profile", cname(ERASED)),
            view: prof::ProfileView::Basic as i32,
            reveal_pii: false,
        })
        .await;
    f.check(
        matches!(&profile, Err(s) if s.code() == Code::NotFound),
        "GetProfile of the erased customer is NOT_FOUND",
        || format!("{profile:?}"),
    );
    let members = profiling
        .list_segment_members(prof::ListSegmentMembersRequest {
            parent: segment.name.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    f.check(
        members.total_size == 0 && members.members.is_empty(),
        "the custom segment it was in has no members",
        || format!("{members:?}"),
    );

    // Everyone else keeps their data; the referral keeps the action but not the name.
    let others_after = others_snapshot(&store).await?;
    for ((label, before), (_, after)) in others_before.iter().zip(&others_after) {
        f.check(
            before == after && !before.is_empty(),
            &format!("other customers' {label} unchanged ({} rows)", before.len()),
            || format!("before {before:?}\nafter {after:?}"),
        );
    }
    let referrer_after = get_event(&mut ingestion, "ref-1").await?;
    let mut expected = referrer_before.clone();
    if let Some(Payload::SocialAction(a)) = expected.payload.as_mut() {
        a.referred_customer.clear();
    }
    f.check(
        referrer_after == expected,
        "the referrer's social action remains, without the erased customer's name",
        || format!("before {referrer_before:?}\nafter {referrer_after:?}"),
    );
    let control = get_event(&mut ingestion, "ref-2").await?;
    f.check(
        referral_target(&control) == Some(cname("shopper-07")),
        "another referral keeps its referred customer",
        || format!("{control:?}"),
    );

    // The dropped model is retrained without the customer and deployed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let new_model = loop {
        let listed = recommendation
            .list_models(rec::ListModelsRequest {
                parent: fx::merchant_name(M),
                page_size: 100,
                ..Default::default()
            })
            .await?
            .into_inner();
        if let Some(m) = listed
            .models
            .iter()
            .find(|m| m.serving && m.training_job != job.name)
        {
            break Some(m.clone());
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let retrained_after = erase_started.elapsed();
    f.check(
        new_model.is_some(),
        "a retrained model serves within 60 s",
        || {
            format!(
                "none; purge rows and logs: {:?}",
                suite.logs_mentioning("erasure")
            )
        },
    );
    let old_job_now = recommendation
        .get_training_job(rec::GetTrainingJobRequest {
            name: job.name.clone(),
        })
        .await
        .map(|r| r.into_inner().model);
    if let Some(new_model) = &new_model {
        f.check(
            new_model.name != job.model,
            "the retrained model has a new name (versions are not reused)",
            || {
                format!(
                    "the retrained model (job {}) is {} again, the name of the dropped version \
                     (job {}); the old job still names it: {:?}",
                    new_model.training_job, new_model.name, job.name, old_job_now
                )
            },
        );
        f.check(
            new_model.kind == old_model.kind
                && new_model.customer_count == old_model.customer_count - 1,
            "the retrained model has the same kind and one customer fewer",
            || format!("old {old_model:?}\nnew {new_model:?}"),
        );
        let other = recommend(&mut recommendation, "shopper-00").await?;
        f.check(
            !other.fallback && other.model == new_model.name,
            "another customer is served by the retrained model",
            || format!("{other:?}"),
        );
        let erased = recommend(&mut recommendation, ERASED).await?;
        f.check(
            erased.fallback,
            "the retrained model does not know the erased customer",
            || format!("{erased:?}"),
        );
    }

    // And at the end, after the refused replays and the retraining: still no trace.
    let dump = store_scan::dump(&store).await?;
    let left = needles.scan(&dump);
    f.check(
        left.is_empty(),
        "no table holds any trace at the end",
        || format!("{left:?}"),
    );
    let models = fx::model_blobs(&store).await?;
    let inside = needles.scan_models(&models)?;
    f.check(
        inside.is_empty() && !models.is_empty(),
        "no model blob holds a trace at the end (inflated)",
        || format!("{inside:?} among {} blobs", models.len()),
    );
    store.close().await?;

    eprintln!(
        "privacy_erasure [{backend:?}]: erased {ERASED} and {DUP} ({} events, {} needles \
         incl. {} identifier hashes, scanned over {} tables) in {erase_took:?}; retrained \
         model after {retrained_after:?}; whole test {:?}",
        expected_events,
        needles.0.len(),
        hashes.len(),
        dump.len(),
        started.elapsed()
    );
    let noisy: Vec<String> = suite
        .server
        .logs()
        .into_iter()
        .filter(|l| l.contains("\"level\":\"WARN\"") || l.contains("\"level\":\"ERROR\""))
        .collect();
    if !noisy.is_empty() {
        eprintln!(
            "privacy_erasure [{backend:?}]: the server logged {} warnings or errors:",
            noisy.len()
        );
        for line in noisy.iter().take(20) {
            eprintln!("  {line}");
        }
    }
    f.finish(backend)
}

async fn recommend(
    client: &mut RecommendationServiceClient<Channel>,
    customer: &str,
) -> Result<rec::RecommendResponse> {
    Ok(client
        .recommend(rec::RecommendRequest {
            parent: fx::merchant_name(M),
            customer: cname(customer),
            count: 5,
            ..Default::default()
        })
        .await
        .with_context(|| format!("Recommend for {customer}"))?
        .into_inner())
}

async fn get_event(client: &mut IngestionServiceClient<Channel>, id: &str) -> Result<ing::Event> {
    Ok(client
        .get_event(ing::GetEventRequest {
            name: format!("merchants/{M}/events/{id}"),
        })
        .await
        .with_context(|| format!("GetEvent {id}"))?
        .into_inner())
}

fn referral_target(event: &ing::Event) -> Option<String> {
    match &event.payload {
        Some(Payload::SocialAction(a)) => Some(a.referred_customer.clone()),
        _ => None,
    }
}

/// Polls `sql` (one text column) until it lists exactly `expected` (in any order).
async fn wait_for_rows(
    db: &DatabaseConnection,
    sql: &str,
    expected: &[String],
    what: &str,
) -> Result<()> {
    let mut want = expected.to_vec();
    want.sort();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = fx::text_rows(db, sql).await?;
        if got == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{what}: {sql} gave {got:?}, expected {want:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
