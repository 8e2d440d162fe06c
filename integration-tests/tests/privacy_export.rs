//! Data subject access and portability end to end (`PrivacyService.ExportCustomerData`)
//! against `caravan serve` on MariaDB and on its embedded SQLite: a person (identifiers, consents, events of several
//! kinds, orders with lines, a manual tag, a marketing contact, a merged-in duplicate) and
//! an enterprise with a contact person are ingested; their exports are compared field by
//! field with what was sent, masked for a `read` key and in clear for a `read,pii` key; a
//! reveal without `pii`, another merchant's customer and an unknown customer are refused
//! before anything is sent; every export is in the access log, by key and customer.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail, ensure};
use caravan_integration_tests::Channel;
use caravan_integration_tests::customer_fixture::{
    self as fx, Backend, DAY, Suite, customer_name, eur, identifier, product_name, ts,
};
use caravan_proto::caravan::access::v1 as access_pb;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as ing;
use caravan_proto::caravan::marketing::v1 as mkt;
use caravan_proto::caravan::marketing::v1::strategy_scoring_service_client::StrategyScoringServiceClient;
use caravan_proto::caravan::privacy::v1 as pb;
use caravan_proto::caravan::privacy::v1::export_customer_data_response::Part;
use caravan_proto::caravan::privacy::v1::privacy_service_client::PrivacyServiceClient;
use caravan_proto::caravan::profiling::v1 as prof;
use ing::event::Payload;
use prost::Message as _;
use tonic::Code;

const M: &str = "acme";
const EXPORT_RPC: &str = "/caravan.privacy.v1.PrivacyService/ExportCustomerData";

const PERSON: &str = "exp-p1";
const GIVEN: &str = "Henrike";
const FAMILY: &str = "Vossberg";
const EMAIL: &str = "henrike.vossberg@example.de";
const PHONE: &str = "+4917012345678";
const BUYER_ID: &str = "buyer-hv-1";

const DUP: &str = "exp-p1-dup";
const DUP_GIVEN: &str = "Rike";
const DUP_EMAIL: &str = "rike.v@example.de";
const DUP_DEVICE: &str = "dev-hv-2";

const COMPANY: &str = "exp-b1";
const REGISTRATION: &str = "HRB-12345";
const CONTACT_NAME: &str = "Annegret Bergfeld";
const CONTACT_EMAIL: &str = "annegret.bergfeld@nordlicht.example";
const CONTACT_PHONE: &str = "+4940123456789";

const PRODUCTS: [(&str, &str); 3] = [
    ("mug", "Home > Kitchen"),
    ("lamp", "Home > Lighting"),
    ("drill", "Tools > Power"),
];

fn cname(id: &str) -> String {
    customer_name(M, id)
}

fn pname(sku: &str) -> String {
    product_name(M, sku)
}

// The masks every service applies (caravan_core::pii_mask), restated.
fn mask_email(email: &str) -> String {
    let (local, domain) = email.split_once('@').expect("an e-mail");
    format!("{}***@{domain}", &local[..1])
}

fn mask_phone(phone: &str) -> String {
    format!(
        "{}{}{}",
        &phone[..3],
        "*".repeat(phone.len() - 5),
        &phone[phone.len() - 2..]
    )
}

fn mask_name(name: &str) -> String {
    format!("{}***", &name[..1])
}

fn event(id: &str, customer: &str, at: i64, payload: Payload) -> ing::Event {
    ing::Event {
        event_id: id.to_owned(),
        customer: customer.to_owned(),
        occur_time: ts(at),
        session_id: format!("s-{customer}"),
        source: "web-tracker".to_owned(),
        payload: Some(payload),
        ..Default::default()
    }
}

fn consents(t: i64) -> Vec<ing::MarketingConsent> {
    vec![
        ing::MarketingConsent {
            channel: common::ConsentChannel::Email as i32,
            granted: true,
            update_time: ts(t - 90 * DAY),
            source: "checkout-form".to_owned(),
        },
        ing::MarketingConsent {
            channel: common::ConsentChannel::Sms as i32,
            granted: false,
            update_time: ts(t - 80 * DAY),
            source: "newsletter-popup".to_owned(),
        },
    ]
}

fn person_record(t: i64) -> ing::Customer {
    ing::Customer {
        kind: common::CustomerKind::Person as i32,
        details: Some(ing::customer::Details::Person(ing::PersonDetails {
            given_name: GIVEN.to_owned(),
            family_name: FAMILY.to_owned(),
            email: EMAIL.to_owned(),
            phone: PHONE.to_owned(),
            country_code: "DE".to_owned(),
            region: "Bremen".to_owned(),
            city: "Bremen".to_owned(),
            age: Some(ing::person_details::Age::BirthYear(1990)),
            gender: common::Gender::Female as i32,
            language_code: "de-DE".to_owned(),
            preferred_currency_code: "EUR".to_owned(),
            ..Default::default()
        })),
        identifiers: vec![identifier(
            common::IdentifierKind::PlatformBuyerId,
            BUYER_ID,
        )],
        consents: consents(t),
        import_tags: vec!["vip".to_owned()],
        star_rating: 4,
        source: "shopify".to_owned(),
        ..Default::default()
    }
}

fn dup_record() -> ing::Customer {
    ing::Customer {
        kind: common::CustomerKind::Person as i32,
        details: Some(ing::customer::Details::Person(ing::PersonDetails {
            given_name: DUP_GIVEN.to_owned(),
            family_name: FAMILY.to_owned(),
            email: DUP_EMAIL.to_owned(),
            country_code: "DE".to_owned(),
            ..Default::default()
        })),
        identifiers: vec![identifier(common::IdentifierKind::DeviceId, DUP_DEVICE)],
        source: "app".to_owned(),
        ..Default::default()
    }
}

fn enterprise_record() -> ing::Customer {
    ing::Customer {
        kind: common::CustomerKind::Enterprise as i32,
        details: Some(ing::customer::Details::Enterprise(ing::EnterpriseDetails {
            company_name: "Nordlicht Handels GmbH".to_owned(),
            industry: "Lighting wholesale".to_owned(),
            size_band: common::CompanySizeBand::CompanySizeBand10To49 as i32,
            country_code: "DE".to_owned(),
            website_uri: "https://nordlicht.example".to_owned(),
            year_founded: 2008,
            registration_number: REGISTRATION.to_owned(),
            city: "Hamburg".to_owned(),
            ..Default::default()
        })),
        source: "alibaba-seller-backend".to_owned(),
        ..Default::default()
    }
}

fn contact() -> ing::Contact {
    ing::Contact {
        display_name: CONTACT_NAME.to_owned(),
        job_title: "Purchasing manager".to_owned(),
        decision_maker: true,
        email: CONTACT_EMAIL.to_owned(),
        phone: CONTACT_PHONE.to_owned(),
        preferred_channel: common::ContactChannel::Email as i32,
        // No language: the store keeps none for contacts (a known gap of CreateContact,
        // not of the export).
        ..Default::default()
    }
}

/// The placed order `o-p1-1`: two lines, a discount, a coupon, payment and logistics.
fn first_order(status: ing::OrderStatus, with_lines: bool) -> Payload {
    Payload::Order(ing::OrderEvent {
        order_id: "o-p1-1".to_owned(),
        status: status as i32,
        lines: if with_lines {
            vec![
                ing::OrderLine {
                    product: "mug".to_owned(),
                    quantity: 2,
                    unit_price: eur(1_500),
                },
                ing::OrderLine {
                    product: "lamp".to_owned(),
                    quantity: 1,
                    unit_price: eur(4_000),
                },
            ]
        } else {
            Vec::new()
        },
        total: eur(6_990),
        discount: eur(500),
        coupon_code: "WELCOME".to_owned(),
        payment: Some(ing::PaymentInfo {
            method: common::PaymentMethod::Card as i32,
            outcome: ing::PaymentOutcome::Succeeded as i32,
            ..Default::default()
        }),
        logistics: Some(ing::LogisticsInfo {
            carrier: "DHL".to_owned(),
            promised_delivery_days: Some(3),
            shipping_cost: eur(490),
            tracking_offered: true,
            destination_country_code: "DE".to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn simple_order(order_id: &str, sku: &str, unit: i64, status: ing::OrderStatus) -> Payload {
    Payload::Order(ing::OrderEvent {
        order_id: order_id.to_owned(),
        status: status as i32,
        lines: vec![ing::OrderLine {
            product: sku.to_owned(),
            quantity: 1,
            unit_price: eur(unit),
        }],
        total: eur(unit),
        ..Default::default()
    })
}

/// The person's events: product references as bare SKUs, a referral as a bare id.
fn person_events(t: i64) -> Vec<ing::Event> {
    let p = PERSON;
    vec![
        event(
            "p1-01",
            p,
            t - 20 * DAY,
            Payload::SessionStart(ing::SessionStartEvent {
                device_type: common::DeviceType::Desktop as i32,
                os: "Windows 11".to_owned(),
                traffic_source: common::TrafficSource::Search as i32,
                referrer_uri: "https://search.example/?q=mugs".to_owned(),
                landing_page_uri: "https://shop.example/".to_owned(),
                ip_country_code: "DE".to_owned(),
                language_code: "de-DE".to_owned(),
                ..Default::default()
            }),
        ),
        event(
            "p1-02",
            p,
            t - 20 * DAY + 10,
            Payload::PageView(ing::PageViewEvent {
                uri: "https://shop.example/kitchen".to_owned(),
                page_type: ing::PageType::Category as i32,
                dwell_seconds: 25,
            }),
        ),
        event(
            "p1-03",
            p,
            t - 20 * DAY + 20,
            Payload::Search(ing::SearchEvent {
                query: "blue mug".to_owned(),
                results_count: 7,
                category_path: "Home".to_owned(),
            }),
        ),
        event(
            "p1-04",
            p,
            t - 20 * DAY + 30,
            Payload::ProductView(ing::ProductViewEvent {
                product: "mug".to_owned(),
                dwell_seconds: 40,
            }),
        ),
        event(
            "p1-05",
            p,
            t - 20 * DAY + 40,
            Payload::CartAdd(ing::CartChangeEvent {
                product: "mug".to_owned(),
                quantity: 2,
                unit_price: eur(1_500),
            }),
        ),
        event(
            "p1-06",
            p,
            t - 20 * DAY + 60,
            first_order(ing::OrderStatus::Placed, true),
        ),
        event(
            "p1-07",
            p,
            t - 20 * DAY + 3_600,
            first_order(ing::OrderStatus::Paid, false),
        ),
        event(
            "p1-08",
            p,
            t - 15 * DAY,
            Payload::Review(ing::ReviewEvent {
                product: "mug".to_owned(),
                order_id: "o-p1-1".to_owned(),
                rating: 5,
                title: "Great mug".to_owned(),
                text: "Keeps the tea warm, lovely colour".to_owned(),
                language_code: "en".to_owned(),
            }),
        ),
        event(
            "p1-09",
            p,
            t - 12 * DAY,
            Payload::SocialAction(ing::SocialActionEvent {
                action: ing::SocialActionKind::Referral as i32,
                platform: common::SocialPlatform::Instagram as i32,
                target_uri: "https://shop.example/invite/hv".to_owned(),
                product: "lamp".to_owned(),
                referred_customer: "friend-77".to_owned(),
                audience_size: 800,
                ..Default::default()
            }),
        ),
        event(
            "p1-10",
            p,
            t - 5 * DAY,
            simple_order("o-p1-2", "drill", 9_900, ing::OrderStatus::Placed),
        ),
    ]
}

fn dup_events(t: i64) -> Vec<ing::Event> {
    vec![
        event(
            "dup-01",
            DUP,
            t - 30 * DAY,
            Payload::PageView(ing::PageViewEvent {
                uri: "https://shop.example/lighting".to_owned(),
                page_type: ing::PageType::Category as i32,
                dwell_seconds: 8,
            }),
        ),
        event(
            "dup-02",
            DUP,
            t - 29 * DAY,
            simple_order("o-dup-1", "lamp", 3_900, ing::OrderStatus::Delivered),
        ),
    ]
}

fn company_events(t: i64) -> Vec<ing::Event> {
    let c = COMPANY;
    let contact = format!("{}/contacts/anna", cname(c));
    vec![
        event(
            "b1-01",
            c,
            t - 9 * DAY,
            Payload::Inquiry(ing::InquiryEvent {
                inquiry_id: "inq-1".to_owned(),
                product: "lamp".to_owned(),
                message: "What is your MOQ for the lamp?".to_owned(),
                channel: common::ContactChannel::Email as i32,
                contact: contact.clone(),
                ..Default::default()
            }),
        ),
        event(
            "b1-02",
            c,
            t - 8 * DAY,
            Payload::Rfq(ing::RfqEvent {
                rfq_id: "rfq-1".to_owned(),
                product: "lamp".to_owned(),
                quantity: 500,
                unit: "pieces".to_owned(),
                target_unit_price: eur(2_500),
                deadline_time: ts(t + 30 * DAY),
                contact,
                ..Default::default()
            }),
        ),
        event(
            "b1-03",
            c,
            t - 7 * DAY,
            Payload::SampleOrder(ing::SampleOrderEvent {
                sample_order_id: "so-1".to_owned(),
                product: "lamp".to_owned(),
                quantity: 2,
                paid: true,
                amount: eur(5_000),
            }),
        ),
        event(
            "b1-04",
            c,
            t - 3 * DAY,
            simple_order("o-b1-1", "lamp", 250_000, ing::OrderStatus::Placed),
        ),
    ]
}

/// The event as it is stored and returned: product and customer references as resource
/// names, the base-currency total of orders (EUR is the base currency) filled in.
fn normalised(mut e: ing::Event, survivor: &str) -> ing::Event {
    let full_product = |p: &mut String| {
        if !p.is_empty() && !p.starts_with("merchants/") {
            *p = pname(p);
        }
    };
    match e.payload.as_mut() {
        Some(Payload::ProductView(v)) => full_product(&mut v.product),
        Some(Payload::CartAdd(v) | Payload::CartRemove(v)) => full_product(&mut v.product),
        Some(Payload::Favourite(v)) => full_product(&mut v.product),
        Some(Payload::Review(v)) => full_product(&mut v.product),
        Some(Payload::ReturnGoods(v)) => full_product(&mut v.product),
        Some(Payload::SocialAction(v)) => {
            full_product(&mut v.product);
            if !v.referred_customer.is_empty() && !v.referred_customer.starts_with("merchants/") {
                v.referred_customer = cname(&v.referred_customer);
            }
        }
        Some(Payload::Inquiry(v)) => full_product(&mut v.product),
        Some(Payload::Rfq(v)) => full_product(&mut v.product),
        Some(Payload::SampleOrder(v)) => full_product(&mut v.product),
        Some(Payload::Order(o)) => {
            for line in &mut o.lines {
                full_product(&mut line.product);
            }
            o.base_total = o.total.clone();
        }
        _ => {}
    }
    e.name = format!("merchants/{M}/events/{}", e.event_id);
    e.customer = cname(survivor);
    e.kind = kind_of(e.payload.as_ref()) as i32;
    e
}

fn kind_of(payload: Option<&Payload>) -> ing::EventKind {
    use ing::EventKind as K;
    match payload {
        Some(Payload::SessionStart(_)) => K::SessionStart,
        Some(Payload::PageView(_)) => K::PageView,
        Some(Payload::Search(_)) => K::Search,
        Some(Payload::ProductView(_)) => K::ProductView,
        Some(Payload::CartAdd(_)) => K::CartAdd,
        Some(Payload::CartRemove(_)) => K::CartRemove,
        Some(Payload::CheckoutStep(_)) => K::CheckoutStep,
        Some(Payload::ContentView(_)) => K::ContentView,
        Some(Payload::Favourite(_)) => K::Favourite,
        Some(Payload::Follow(_)) => K::Follow,
        Some(Payload::Order(_)) => K::Order,
        Some(Payload::Review(_)) => K::Review,
        Some(Payload::AfterSalesTicket(_)) => K::AfterSalesTicket,
        Some(Payload::ReturnGoods(_)) => K::Return,
        Some(Payload::SocialAction(_)) => K::SocialAction,
        Some(Payload::Inquiry(_)) => K::Inquiry,
        Some(Payload::Rfq(_)) => K::Rfq,
        Some(Payload::SampleOrder(_)) => K::SampleOrder,
        None => K::Unspecified,
    }
}

/// One export's outcome: the parts received, and the error that ended it, if any.
struct Export {
    parts: Vec<Part>,
    error: Option<tonic::Status>,
}

impl Export {
    fn ok(self, what: &str) -> Result<Vec<Part>> {
        match self.error {
            None => Ok(self.parts),
            Some(s) => bail!(
                "{what}: export failed after {} parts: {s:?}",
                self.parts.len()
            ),
        }
    }

    fn customers(parts: &[Part]) -> Vec<&ing::Customer> {
        parts
            .iter()
            .filter_map(|p| match p {
                Part::Customer(c) => Some(c),
                _ => None,
            })
            .collect()
    }
}

async fn export(channel: Channel, customer: &str, reveal_pii: bool) -> Result<Export> {
    let mut client = PrivacyServiceClient::new(channel);
    let mut stream = match client
        .export_customer_data(pb::ExportCustomerDataRequest {
            name: customer.to_owned(),
            reveal_pii,
        })
        .await
    {
        Ok(s) => s.into_inner(),
        Err(status) => {
            return Ok(Export {
                parts: Vec::new(),
                error: Some(status),
            });
        }
    };
    let mut parts = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(m)) => parts.push(m.part.context("a message without a part")?),
            Ok(None) => {
                return Ok(Export { parts, error: None });
            }
            Err(status) => {
                return Ok(Export {
                    parts,
                    error: Some(status),
                });
            }
        }
    }
}

/// The part kinds in stream order, and the summary's counts checked against them.
fn check_shape(parts: &[Part], what: &str) -> Result<BTreeMap<&'static str, i64>> {
    let label = |p: &Part| match p {
        Part::Customer(_) => "customer",
        Part::Contact(_) => "contact",
        Part::Event(_) => "event",
        Part::Order(_) => "order",
        Part::Profile(_) => "profile",
        Part::Tag(_) => "tag",
        Part::TagHistoryEntry(_) => "tag_history_entry",
        Part::IdentityMerge(_) => "identity_merge",
        Part::MarketingContact(_) => "marketing_contact",
        Part::AccessLogEntry(_) => "access_log_entry",
        Part::FailedEvent(_) => "failed_event",
        Part::Summary(_) => "summary",
    };
    ensure!(
        matches!(parts.first(), Some(Part::Customer(_))),
        "{what}: the customer comes first"
    );
    let Some(Part::Summary(summary)) = parts.last() else {
        bail!("{what}: the summary comes last");
    };
    let mut counts: BTreeMap<&'static str, i64> = BTreeMap::new();
    for p in parts {
        *counts.entry(label(p)).or_default() += 1;
    }
    ensure!(counts["summary"] == 1, "{what}: one summary: {counts:?}");
    let c = |k: &str| counts.get(k).copied().unwrap_or(0);
    let from_summary = [
        ("customer", summary.customer_count),
        ("contact", summary.contact_count),
        ("event", summary.event_count),
        ("order", summary.order_count),
        ("profile", summary.profile_count),
        ("tag", summary.tag_count),
        ("tag_history_entry", summary.tag_history_entry_count),
        ("identity_merge", summary.identity_merge_count),
        ("marketing_contact", summary.marketing_contact_count),
        ("access_log_entry", summary.access_log_entry_count),
        ("failed_event", summary.failed_event_count),
    ];
    for (k, n) in from_summary {
        ensure!(
            c(k) == n,
            "{what}: the summary counts {n} {k} parts, the stream held {}",
            c(k)
        );
    }
    let taken = summary.export_time.as_ref().context("export_time")?.seconds;
    ensure!(
        (taken - fx::now()).abs() < 120,
        "{what}: export_time {taken} is not now"
    );
    Ok(counts)
}

fn events_of(parts: &[Part]) -> BTreeMap<String, ing::Event> {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Event(e) => Some((e.event_id.clone(), e.clone())),
            _ => None,
        })
        .collect()
}

/// Every event sent (after the merge, all the survivor's) is exported exactly as stored.
fn check_events(parts: &[Part], sent: &[ing::Event], survivor: &str, what: &str) -> Result<()> {
    let got = events_of(parts);
    let want: BTreeMap<String, ing::Event> = sent
        .iter()
        .map(|e| (e.event_id.clone(), normalised(e.clone(), survivor)))
        .collect();
    ensure!(
        got.keys().collect::<Vec<_>>() == want.keys().collect::<Vec<_>>(),
        "{what}: exported events {:?}, sent {:?}",
        got.keys(),
        want.keys()
    );
    for (id, expected) in &want {
        let mut actual = got[id].clone();
        ensure!(
            actual.ingest_time.is_some(),
            "{what}: {id} has no ingest_time"
        );
        actual.ingest_time = None;
        ensure!(
            &actual == expected,
            "{what}: event {id} differs\nexported {actual:?}\nexpected {expected:?}"
        );
    }
    Ok(())
}

fn money(amount: i64) -> Option<common::Money> {
    eur(amount)
}

/// The expected orders of the person (with the merged duplicate's), oldest first.
fn expected_person_orders(t: i64) -> Vec<pb::ExportedOrder> {
    vec![
        pb::ExportedOrder {
            order_id: "o-dup-1".to_owned(),
            status: "DELIVERED".to_owned(),
            place_time: ts(t - 29 * DAY),
            update_time: ts(t - 29 * DAY),
            total: money(3_900),
            base_total: money(3_900),
            lines: vec![pb::ExportedOrderLine {
                line_number: 0,
                product: pname("lamp"),
                quantity: 1,
                unit_price: money(3_900),
            }],
            ..Default::default()
        },
        pb::ExportedOrder {
            order_id: "o-p1-1".to_owned(),
            status: "PAID".to_owned(),
            place_time: ts(t - 20 * DAY + 60),
            update_time: ts(t - 20 * DAY + 3_600),
            total: money(6_990),
            base_total: money(6_990),
            discount: money(500),
            coupon_code: "WELCOME".to_owned(),
            payment_method: "CARD".to_owned(),
            payment_outcome: "SUCCEEDED".to_owned(),
            carrier: "DHL".to_owned(),
            promised_days: 3,
            actual_days: 0,
            shipping_cost: money(490),
            tracking_offered: true,
            destination_country_code: "DE".to_owned(),
            lines: vec![
                pb::ExportedOrderLine {
                    line_number: 0,
                    product: pname("mug"),
                    quantity: 2,
                    unit_price: money(1_500),
                },
                pb::ExportedOrderLine {
                    line_number: 1,
                    product: pname("lamp"),
                    quantity: 1,
                    unit_price: money(4_000),
                },
            ],
        },
        pb::ExportedOrder {
            order_id: "o-p1-2".to_owned(),
            status: "PLACED".to_owned(),
            place_time: ts(t - 5 * DAY),
            update_time: ts(t - 5 * DAY),
            total: money(9_900),
            base_total: money(9_900),
            lines: vec![pb::ExportedOrderLine {
                line_number: 0,
                product: pname("drill"),
                quantity: 1,
                unit_price: money(9_900),
            }],
            ..Default::default()
        },
    ]
}

fn orders_of(parts: &[Part]) -> Vec<pb::ExportedOrder> {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Order(o) => Some(o.clone()),
            _ => None,
        })
        .collect()
}

/// Orders compared field by field; `update_time` only where the test knows it exactly
/// (the last status event's time).
fn check_orders(got: &[pb::ExportedOrder], want: &[pb::ExportedOrder], what: &str) -> Result<()> {
    let ids = |os: &[pb::ExportedOrder]| os.iter().map(|o| o.order_id.clone()).collect::<Vec<_>>();
    ensure!(
        ids(got) == ids(want),
        "{what}: orders {:?}, expected {:?} (oldest first)",
        ids(got),
        ids(want)
    );
    for (g, w) in got.iter().zip(want) {
        ensure!(
            g == w,
            "{what}: order {} differs\nexported {g:?}\nexpected {w:?}",
            w.order_id
        );
    }
    Ok(())
}

fn person_details(c: &ing::Customer) -> Result<&ing::PersonDetails> {
    match &c.details {
        Some(ing::customer::Details::Person(p)) => Ok(p),
        _ => bail!("not a person: {c:?}"),
    }
}

fn identifiers(c: &ing::Customer) -> Vec<(i32, String)> {
    let mut out: Vec<(i32, String)> = c
        .identifiers
        .iter()
        .map(|i| (i.kind, i.value.clone()))
        .collect();
    out.sort();
    out
}

fn sorted(v: Vec<(common::IdentifierKind, String)>) -> Vec<(i32, String)> {
    let mut out: Vec<(i32, String)> = v.into_iter().map(|(k, s)| (k as i32, s)).collect();
    out.sort();
    out
}

/// The person's record (first part) and its merged duplicate (second), masked or in clear.
fn check_person_records(parts: &[Part], t: i64, reveal: bool, what: &str) -> Result<()> {
    let customers = Export::customers(parts);
    ensure!(
        customers.len() == 2,
        "{what}: the person and its merged duplicate: {customers:?}"
    );
    let (p, d) = (customers[0], customers[1]);
    let show = |clear: &str, mask: fn(&str) -> String| {
        if reveal {
            clear.to_owned()
        } else {
            mask(clear)
        }
    };
    ensure!(
        p.name == cname(PERSON) && p.kind == common::CustomerKind::Person as i32,
        "{what}: {p:?}"
    );
    let details = person_details(p)?;
    let mut expected = match person_record(t).details {
        Some(ing::customer::Details::Person(x)) => x,
        _ => bail!("person"),
    };
    expected.given_name = show(GIVEN, mask_name);
    expected.family_name = show(FAMILY, mask_name);
    expected.email = show(EMAIL, mask_email);
    expected.phone = show(PHONE, mask_phone);
    ensure!(
        details == &expected,
        "{what}: person details\nexported {details:?}\nexpected {expected:?}"
    );
    // The duplicate's identifiers moved to the survivor; of its e-mail only the keyed
    // hash is kept with the survivor, so it reads "***" even in clear.
    let want = sorted(vec![
        (common::IdentifierKind::Email, show(EMAIL, mask_email)),
        (common::IdentifierKind::Phone, show(PHONE, mask_phone)),
        (common::IdentifierKind::PlatformBuyerId, BUYER_ID.to_owned()),
        (common::IdentifierKind::Email, "***".to_owned()),
        (common::IdentifierKind::DeviceId, DUP_DEVICE.to_owned()),
    ]);
    ensure!(
        identifiers(p) == want,
        "{what}: identifiers {:?}, expected {want:?}",
        identifiers(p)
    );
    let record = person_record(t);
    ensure!(
        p.consents == record.consents
            && p.import_tags == record.import_tags
            && p.star_rating == record.star_rating
            && p.source == record.source
            && p.merged_into.is_empty()
            && p.create_time.is_some(),
        "{what}: consents, tags, rating, source: {p:?}"
    );
    ensure!(
        d.name == cname(DUP) && d.merged_into == cname(PERSON),
        "{what}: {d:?}"
    );
    let dd = person_details(d)?;
    ensure!(
        dd.given_name == show(DUP_GIVEN, mask_name)
            && dd.family_name == show(FAMILY, mask_name)
            && dd.email == show(DUP_EMAIL, mask_email),
        "{what}: duplicate's details {dd:?}"
    );
    Ok(())
}

/// The bytes of every part, to look for personal data in clear.
fn encoded(parts: &[Part]) -> Vec<u8> {
    parts
        .iter()
        .flat_map(|p| {
            pb::ExportCustomerDataResponse {
                part: Some(p.clone()),
            }
            .encode_to_vec()
        })
        .collect()
}

fn clear_pii_in(parts: &[Part], values: &[&str]) -> Vec<String> {
    let bytes = encoded(parts);
    values
        .iter()
        .filter(|v| fx::contains(&bytes, v.as_bytes()))
        .map(|v| (*v).to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_everything_masked_or_in_clear_and_logs_every_export_on_mariadb() -> Result<()> {
    let Some(suite) = Suite::start(Backend::MariaDb).await? else {
        return Ok(());
    };
    exports(&suite).await
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_everything_masked_or_in_clear_and_logs_every_export_on_sqlite() -> Result<()> {
    let suite = Suite::start(Backend::Sqlite)
        .await?
        .context("sqlite suite")?;
    exports(&suite).await
}

async fn exports(suite: &Suite) -> Result<()> {
    let started = std::time::Instant::now();
    let t = fx::now();
    let mut ingestion = suite.ingestion();
    let mut profiling = suite.profiling();
    let mut marketing = StrategyScoringServiceClient::new(suite.channel.clone());

    // --- What goes in -------------------------------------------------------------------
    fx::create_merchant(&mut ingestion, M).await?;
    fx::create_merchant(&mut ingestion, "beta").await?;
    fx::create_products(&mut ingestion, M, &PRODUCTS).await?;
    for (merchant, id, record) in [
        (M, PERSON, person_record(t)),
        (M, DUP, dup_record()),
        (M, COMPANY, enterprise_record()),
        ("beta", "beta-c1", dup_record()),
    ] {
        ingestion
            .create_customer(ing::CreateCustomerRequest {
                parent: fx::merchant_name(merchant),
                customer_id: id.to_owned(),
                customer: Some(record),
            })
            .await
            .with_context(|| format!("create {merchant}/{id}"))?;
    }
    let created_contact = ingestion
        .create_contact(ing::CreateContactRequest {
            parent: cname(COMPANY),
            contact_id: "anna".to_owned(),
            contact: Some(contact()),
        })
        .await?
        .into_inner();
    let person_sent = person_events(t);
    let dup_sent = dup_events(t);
    let company_sent = company_events(t);
    let mut all = person_sent.clone();
    all.extend(dup_sent.iter().cloned());
    all.extend(company_sent.iter().cloned());
    fx::ingest_all(&mut ingestion, M, all).await?;
    let merge = ingestion
        .merge_customers(ing::MergeCustomersRequest {
            target_customer: cname(PERSON),
            source_customers: vec![cname(DUP)],
            reason: "same e-mail domain and device".to_owned(),
            actor: "support".to_owned(),
        })
        .await?
        .into_inner();
    ensure!(merge.identity_merges.len() == 1, "{merge:?}");
    let merge_record = merge.identity_merges[0].clone();
    let tag = profiling
        .create_tag(prof::CreateTagRequest {
            parent: cname(PERSON),
            tag: Some(prof::Tag {
                key: "handling".to_owned(),
                value: "gift-wrap".to_owned(),
                note: "always gift-wrap her parcels".to_owned(),
                ..Default::default()
            }),
            actor: "support".to_owned(),
        })
        .await?
        .into_inner();
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
                        proactive_delay_notifications: false,
                    },
                )),
                ..Default::default()
            }),
        })
        .await?;
    let contact_record = mkt::ContactRecord {
        customer: cname(PERSON),
        strategy: format!("merchants/{M}/strategies/tracking-plus"),
        campaign: String::new(),
        contact_time: ts(t - 2 * DAY),
    };
    marketing
        .record_contacts(mkt::RecordContactsRequest {
            parent: fx::merchant_name(M),
            contacts: vec![contact_record.clone()],
        })
        .await?;
    let person_event_count = (person_sent.len() + dup_sent.len()) as i64;
    fx::wait_for_profile(&mut profiling, &cname(PERSON), "built", |p| {
        p.event_count == person_event_count && p.tags.iter().any(|x| x.name == tag.name)
    })
    .await?;
    fx::wait_for_profile(&mut profiling, &cname(COMPANY), "built", |p| {
        p.event_count == company_sent.len() as i64
    })
    .await?;

    let (read_key, read_name) = suite.create_key(&[M], &[common::Scope::Read]).await?;
    let (pii_key, pii_name) = suite
        .create_key(&[M], &[common::Scope::Read, common::Scope::Pii])
        .await?;
    let reader = suite.server.channel_with_key(Some(&read_key)).await?;
    let revealer = suite.server.channel_with_key(Some(&pii_key)).await?;
    // (key, customer) of every export that went through.
    let mut exported: Vec<(String, String)> = Vec::new();

    // --- (a) masked, with a read-only key -----------------------------------------------
    let masked = export(reader.clone(), &cname(PERSON), false)
        .await?
        .ok("masked person export")?;
    exported.push((read_name.clone(), cname(PERSON)));
    let counts = check_shape(&masked, "masked person export")?;
    for kind in [
        "customer",
        "event",
        "order",
        "profile",
        "tag",
        "tag_history_entry",
        "identity_merge",
        "marketing_contact",
        "access_log_entry",
    ] {
        ensure!(
            counts.contains_key(kind),
            "masked person export: no {kind} part: {counts:?}"
        );
    }
    ensure!(
        !counts.contains_key("contact"),
        "a person has no contacts: {counts:?}"
    );
    check_person_records(&masked, t, false, "masked person export")?;
    let mut sent: Vec<ing::Event> = person_sent.clone();
    sent.extend(dup_sent.iter().cloned());
    check_events(&masked, &sent, PERSON, "masked person export")?;
    check_orders(
        &orders_of(&masked),
        &expected_person_orders(t),
        "masked person export",
    )?;
    let profiles: Vec<&prof::Profile> = masked
        .iter()
        .filter_map(|p| match p {
            Part::Profile(x) => Some(x),
            _ => None,
        })
        .collect();
    ensure!(
        profiles.len() == 1
            && profiles[0].customer == cname(PERSON)
            && profiles[0].kind == common::CustomerKind::Person as i32
            && profiles[0].event_count == person_event_count
            && profiles[0]
                .transactions
                .as_ref()
                .is_some_and(|x| x.order_count == 3),
        "the FULL profile, with the merged history: {profiles:?}"
    );
    let listed_tags = profiling
        .list_tags(prof::ListTagsRequest {
            parent: cname(PERSON),
            page_size: 500,
            ..Default::default()
        })
        .await?
        .into_inner()
        .tags;
    let mut exported_tags: Vec<prof::Tag> = masked
        .iter()
        .filter_map(|p| match p {
            Part::Tag(x) => Some(x.clone()),
            _ => None,
        })
        .collect();
    let by_name = |v: &mut Vec<prof::Tag>| v.sort_by(|a, b| a.name.cmp(&b.name));
    let mut listed_sorted = listed_tags.clone();
    by_name(&mut listed_sorted);
    by_name(&mut exported_tags);
    ensure!(
        exported_tags == listed_sorted,
        "the exported tags are the customer's tags\nexported {exported_tags:?}\nlisted {listed_sorted:?}"
    );
    ensure!(
        exported_tags.iter().any(|x| x.name == tag.name
            && x.key == "handling"
            && x.value == "gift-wrap"
            && x.note == "always gift-wrap her parcels"
            && x.source == prof::TagSource::Manual as i32),
        "the manual tag: {exported_tags:?}"
    );
    ensure!(
        masked.iter().any(|p| matches!(p, Part::TagHistoryEntry(h)
            if h.tag == tag.name && h.action == prof::TagAction::Added as i32 && h.actor == "support")),
        "the manual tag's history"
    );
    let merges: Vec<&ing::IdentityMerge> = masked
        .iter()
        .filter_map(|p| match p {
            Part::IdentityMerge(x) => Some(x),
            _ => None,
        })
        .collect();
    ensure!(
        merges.len() == 1
            && merges[0].name == merge_record.name
            && merges[0].source_customer == cname(DUP)
            && merges[0].target_customer == cname(PERSON)
            && merges[0].reason == merge_record.reason
            && merges[0].actor == "support"
            && merges[0].merge_time == merge_record.merge_time,
        "the merge: {merges:?} vs {merge_record:?}"
    );
    let contacts: Vec<&mkt::ContactRecord> = masked
        .iter()
        .filter_map(|p| match p {
            Part::MarketingContact(x) => Some(x),
            _ => None,
        })
        .collect();
    ensure!(
        contacts == [&contact_record],
        "the marketing contact: {contacts:?}"
    );
    let own_entry = |parts: &[Part], key: &str| {
        parts.iter().any(|p| {
            matches!(p, Part::AccessLogEntry(e)
                if e.api_key == key && e.customer == cname(PERSON)
                    && e.action == access_pb::AccessAction::Export as i32 && e.rpc == EXPORT_RPC)
        })
    };
    ensure!(
        own_entry(&masked, &read_name),
        "the export itself is in its access log part"
    );
    let leaked = clear_pii_in(
        &masked,
        &[EMAIL, PHONE, GIVEN, FAMILY, DUP_EMAIL, DUP_GIVEN],
    );
    ensure!(
        leaked.is_empty(),
        "personal data in clear in a masked export: {leaked:?}"
    );

    // The enterprise with its contact, masked.
    let company = export(reader.clone(), &cname(COMPANY), false)
        .await?
        .ok("masked enterprise export")?;
    exported.push((read_name.clone(), cname(COMPANY)));
    let counts = check_shape(&company, "masked enterprise export")?;
    ensure!(
        counts.get("customer") == Some(&1)
            && counts.get("contact") == Some(&1)
            && counts.get("profile") == Some(&1)
            && counts.get("order") == Some(&1)
            && !counts.contains_key("identity_merge")
            && !counts.contains_key("marketing_contact"),
        "{counts:?}"
    );
    let Some(Part::Customer(record)) = company.first() else {
        bail!("customer first");
    };
    let expected = enterprise_record();
    ensure!(
        record.name == cname(COMPANY)
            && record.kind == expected.kind
            && record.details == expected.details
            && record.source == expected.source
            && identifiers(record)
                == sorted(vec![(
                    common::IdentifierKind::RegistrationNumber,
                    REGISTRATION.to_owned()
                )]),
        "the enterprise record: {record:?}"
    );
    let check_contact = |parts: &[Part], reveal: bool| -> Result<()> {
        let got = parts
            .iter()
            .find_map(|p| match p {
                Part::Contact(c) => Some(c.clone()),
                _ => None,
            })
            .context("contact part")?;
        let mut want = contact();
        want.name = created_contact.name.clone();
        if !reveal {
            want.display_name = mask_name(CONTACT_NAME);
            want.email = mask_email(CONTACT_EMAIL);
            want.phone = mask_phone(CONTACT_PHONE);
        }
        want.create_time = got.create_time;
        want.update_time = got.update_time;
        ensure!(
            got == want && got.create_time.is_some(),
            "contact (reveal {reveal})\nexported {got:?}\nexpected {want:?}"
        );
        Ok(())
    };
    check_contact(&company, false)?;
    check_events(&company, &company_sent, COMPANY, "masked enterprise export")?;
    let company_orders = orders_of(&company);
    ensure!(
        company_orders.len() == 1
            && company_orders[0].order_id == "o-b1-1"
            && company_orders[0].status == "PLACED"
            && company_orders[0].total == money(250_000)
            && company_orders[0].lines.len() == 1
            && company_orders[0].lines[0].product == pname("lamp"),
        "{company_orders:?}"
    );
    let leaked = clear_pii_in(&company, &[CONTACT_NAME, CONTACT_EMAIL, CONTACT_PHONE]);
    ensure!(
        leaked.is_empty(),
        "contact data in clear in a masked export: {leaked:?}"
    );

    // --- (b) reveal without the pii scope: refused before anything is sent --------------
    let denied = export(reader.clone(), &cname(PERSON), true).await?;
    ensure!(
        denied.parts.is_empty()
            && denied
                .error
                .as_ref()
                .is_some_and(|s| s.code() == Code::PermissionDenied),
        "reveal with a read-only key: {} parts, {:?}",
        denied.parts.len(),
        denied.error
    );

    // --- (c) in clear, with a read,pii key -----------------------------------------------
    let clear = export(revealer.clone(), &cname(PERSON), true)
        .await?
        .ok("revealed person export")?;
    exported.push((pii_name.clone(), cname(PERSON)));
    check_shape(&clear, "revealed person export")?;
    check_person_records(&clear, t, true, "revealed person export")?;
    check_events(&clear, &sent, PERSON, "revealed person export")?;
    check_orders(
        &orders_of(&clear),
        &expected_person_orders(t),
        "revealed person export",
    )?;
    ensure!(
        own_entry(&clear, &pii_name) && own_entry(&clear, &read_name),
        "both exports so far are in the access log part"
    );
    let clear_company = export(revealer.clone(), &cname(COMPANY), true)
        .await?
        .ok("revealed enterprise export")?;
    exported.push((pii_name.clone(), cname(COMPANY)));
    check_shape(&clear_company, "revealed enterprise export")?;
    check_contact(&clear_company, true)?;

    // --- (e) another merchant's customer; a customer that does not exist -----------------
    let foreign = export(reader.clone(), &customer_name("beta", "beta-c1"), false).await?;
    ensure!(
        foreign.parts.is_empty()
            && foreign
                .error
                .as_ref()
                .is_some_and(|s| s.code() == Code::PermissionDenied),
        "beta's customer with an acme key: {} parts, {:?}",
        foreign.parts.len(),
        foreign.error
    );
    let missing = export(reader.clone(), &cname("nobody-here"), false).await?;
    ensure!(
        missing.parts.is_empty()
            && missing
                .error
                .as_ref()
                .is_some_and(|s| s.code() == Code::NotFound),
        "an unknown customer: {} parts, {:?}",
        missing.parts.len(),
        missing.error
    );

    // --- (d) the access log: one EXPORT entry per export, by key and customer ------------
    let mut access = suite.access();
    let mut entries = Vec::new();
    let mut token = String::new();
    loop {
        let page = access
            .list_access_log_entries(access_pb::ListAccessLogEntriesRequest {
                parent: fx::merchant_name(M),
                page_size: 100,
                page_token: token,
            })
            .await?
            .into_inner();
        entries.extend(page.entries);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut logged: Vec<(String, String)> = entries
        .iter()
        .filter(|e| e.action == access_pb::AccessAction::Export as i32)
        .map(|e| {
            ensure!(
                e.rpc == EXPORT_RPC && e.time.is_some(),
                "export entry: {e:?}"
            );
            Ok((e.api_key.clone(), e.customer.clone()))
        })
        .collect::<Result<_>>()?;
    logged.sort();
    exported.sort();
    ensure!(
        logged == exported,
        "EXPORT entries in the access log {logged:?}, exports made {exported:?}"
    );

    // --- Personal data in the profile of a revealed export -------------------------------
    // Checked last: the contract says personal data is masked *unless* reveal_pii is set,
    // and the profile's basic dimension holds the e-mail, phone and name.
    let profile = clear
        .iter()
        .find_map(|p| match p {
            Part::Profile(x) => Some(x),
            _ => None,
        })
        .context("profile")?;
    let Some(prof::profile::Basic::Person(basic)) = &profile.basic else {
        bail!("person profile: {profile:?}");
    };
    eprintln!(
        "privacy_export [{:?}]: {} parts masked, {} in clear for the person, {} for the enterprise; \
         {} EXPORT entries logged; {:?}",
        suite.backend,
        masked.len(),
        clear.len(),
        company.len(),
        logged.len(),
        started.elapsed()
    );
    ensure!(
        basic.email == EMAIL && basic.phone == PHONE,
        "a revealed export shows the profile's e-mail and phone in clear; got email {:?} \
         phone {:?} display_name {:?}",
        basic.email,
        basic.phone,
        basic.display_name
    );
    Ok(())
}
