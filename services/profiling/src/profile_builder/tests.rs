//! Hand-checked portraits of tiny customers.

use std::collections::{HashMap, HashSet};

use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as ing;
use caravan_proto::caravan::profiling::v1 as pb;
use caravan_store::UtcDateTime;
use caravan_store::entity::{customer_contacts, customers, orders};
use chrono::{DateTime, Duration, Utc};
use ing::event::Payload;

use super::*;

fn as_of() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-06-30T12:00:00Z")
        .expect("t")
        .to_utc()
}

fn days_ago(d: i64) -> DateTime<Utc> {
    as_of() - Duration::days(d)
}

fn ctx() -> BuildContext {
    BuildContext {
        as_of: as_of(),
        base_currency: "EUR".to_owned(),
        rates_to_base: HashMap::from([("USD".to_owned(), 0.5)]),
    }
}

fn customer(kind: &str) -> customers::Model {
    let now = UtcDateTime::new(as_of());
    customers::Model {
        merchant_id: "acme".to_owned(),
        id: "c1".to_owned(),
        kind: kind.to_owned(),
        given_name: Some("Jane".to_owned()),
        family_name: None,
        email: Some("jane@example.com".to_owned()),
        phone: None,
        country: None,
        region: None,
        city: None,
        city_tier: None,
        birth_year: None,
        age_band: Some("25-34".to_owned()),
        gender: Some("FEMALE".to_owned()),
        language: None,
        preferred_currency: None,
        acquisition_channel: None,
        company_name: None,
        industry: None,
        size_band: None,
        revenue_band: None,
        website: None,
        business_type: None,
        year_founded: None,
        registration_number: None,
        star_rating: None,
        source: None,
        import_tags: Some(serde_json::json!(["vip"])),
        consents: Some(
            serde_json::json!([{"channel": "EMAIL", "granted": true}, {"channel": "SMS", "granted": false}]),
        ),
        merged_into: None,
        deleted_at: None,
        created_at: now,
        updated_at: now,
        pii: None,
    }
}

fn ev(id: &str, at: DateTime<Utc>, session: Option<&str>, payload: Payload) -> StoredEvent {
    StoredEvent {
        event_id: id.to_owned(),
        occur_time: at,
        session_id: session.map(str::to_owned),
        payload,
    }
}

fn product(sku: &str) -> String {
    format!("merchants/acme/products/{sku}")
}

fn order_row(id: &str, at: DateTime<Utc>, status: &str, base: i64) -> orders::Model {
    orders::Model {
        merchant_id: "acme".to_owned(),
        order_id: id.to_owned(),
        customer_id: "c1".to_owned(),
        status: status.to_owned(),
        total_minor: base,
        currency: "EUR".to_owned(),
        base_total_minor: Some(base),
        base_currency: Some("EUR".to_owned()),
        discount_minor: None,
        coupon_code: None,
        payment_method: None,
        payment_outcome: None,
        carrier: None,
        promised_days: None,
        actual_days: None,
        shipping_cost_minor: None,
        tracking_offered: None,
        destination_country: Some("DE".to_owned()),
        placed_at: UtcDateTime::new(at),
        updated_at: UtcDateTime::new(at),
        credit_note: false,
    }
}

fn facts(order: orders::Model, units: i64, skus: &[&str]) -> OrderFacts {
    OrderFacts {
        order,
        units,
        products: skus.iter().map(|s| product(s)).collect(),
    }
}

fn data(kind: &str, events: Vec<StoredEvent>, orders: Vec<OrderFacts>) -> CustomerData {
    let products = catalogue();
    CustomerData {
        customer: customer(kind),
        contacts: Vec::new(),
        events: EventSummary::of(&events, &products),
        orders,
        products,
        converted_referrals: Arc::new(HashSet::new()),
    }
}

fn catalogue() -> Arc<HashMap<String, ProductInfo>> {
    Arc::new(HashMap::from([
        (
            product("mug"),
            ProductInfo {
                category_path: "Home > Kitchen".to_owned(),
                brand: Some("Acme".to_owned()),
            },
        ),
        (
            product("lamp"),
            ProductInfo {
                category_path: "Home > Lighting".to_owned(),
                brand: None,
            },
        ),
        (
            product("lipstick"),
            ProductInfo {
                category_path: "Beauty > Lips".to_owned(),
                brand: Some("Rouge".to_owned()),
            },
        ),
    ]))
}

fn session(device: common::DeviceType, source: common::TrafficSource) -> Payload {
    Payload::SessionStart(ing::SessionStartEvent {
        device_type: device as i32,
        traffic_source: source as i32,
        ip_country_code: "FR".to_owned(),
        ..Default::default()
    })
}

fn order_event(
    id: &str,
    status: ing::OrderStatus,
    outcome: ing::PaymentOutcome,
    method: common::PaymentMethod,
) -> Payload {
    Payload::Order(ing::OrderEvent {
        order_id: id.to_owned(),
        status: status as i32,
        payment: Some(ing::PaymentInfo {
            method: method as i32,
            outcome: outcome as i32,
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn website_behaviour_counts_mixes_and_abandonment() {
    use common::{DeviceType as D, TrafficSource as T};
    let events = vec![
        ev("1", days_ago(5), Some("s1"), session(D::Mobile, T::Social)),
        ev(
            "2",
            days_ago(5),
            Some("s1"),
            Payload::Search(ing::SearchEvent {
                query: " Mugs ".to_owned(),
                results_count: 4,
                ..Default::default()
            }),
        ),
        ev(
            "3",
            days_ago(5),
            Some("s1"),
            Payload::ProductView(ing::ProductViewEvent {
                product: product("mug"),
                dwell_seconds: 30,
            }),
        ),
        ev(
            "4",
            days_ago(5),
            Some("s1"),
            Payload::CartAdd(ing::CartChangeEvent {
                product: product("mug"),
                quantity: 1,
                ..Default::default()
            }),
        ),
        ev(
            "5",
            days_ago(5) + Duration::hours(2),
            Some("s1"),
            order_event(
                "o1",
                ing::OrderStatus::Placed,
                ing::PaymentOutcome::Succeeded,
                common::PaymentMethod::Card,
            ),
        ),
        ev("6", days_ago(3), Some("s2"), session(D::Mobile, T::Search)),
        ev(
            "7",
            days_ago(3),
            Some("s2"),
            Payload::Search(ing::SearchEvent {
                query: "mugs".to_owned(),
                results_count: 0,
                ..Default::default()
            }),
        ),
        ev(
            "8",
            days_ago(3),
            Some("s2"),
            Payload::ProductView(ing::ProductViewEvent {
                product: product("lamp"),
                dwell_seconds: 10,
            }),
        ),
        ev(
            "9",
            days_ago(3),
            Some("s2"),
            Payload::CartAdd(ing::CartChangeEvent {
                product: product("lamp"),
                quantity: 1,
                ..Default::default()
            }),
        ),
        ev(
            "10",
            days_ago(1),
            Some("s3"),
            session(D::Desktop, T::Social),
        ),
        ev(
            "11",
            days_ago(1),
            Some("s3"),
            Payload::PageView(ing::PageViewEvent {
                uri: "/".to_owned(),
                ..Default::default()
            }),
        ),
    ];
    let b = behaviour::build(&data("PERSON", events, Vec::new()), &ctx());
    assert_eq!(b.session_count, 3);
    assert_eq!(b.page_view_count, 1);
    assert_eq!(
        (
            b.product_view_count,
            b.search_count,
            b.zero_result_search_count
        ),
        (2, 2, 1)
    );
    assert_eq!(
        b.top_search_queries,
        vec![pb::TermCount {
            term: "mugs".to_owned(),
            count: 2
        }]
    );
    assert_eq!(b.cart_add_count, 2);
    // s1's cart was followed by an order 2 h later, s2's never: 1 of 2 abandoned.
    assert!(close(b.cart_abandonment_rate, 0.5));
    assert!(close(b.average_product_dwell_seconds, 20.0));
    assert_eq!(b.traffic_source_mix[0].traffic_source, T::Social as i32);
    assert!(close(b.traffic_source_mix[0].share, 2.0 / 3.0));
    assert_eq!(b.device_mix[0].device_type, D::Mobile as i32);
    assert!(close(
        b.device_mix.iter().map(|d| d.share).sum::<f64>(),
        1.0
    ));
    // 10 site events (the order is not site activity): 1 - e^-1.
    assert!(close(b.completeness, 1.0 - (-1.0f64).exp()));
}

#[test]
fn content_affinities_weigh_purchases_over_views_and_decay() {
    let events = vec![
        ev(
            "1",
            as_of(),
            None,
            Payload::ProductView(ing::ProductViewEvent {
                product: product("lamp"),
                dwell_seconds: 0,
            }),
        ),
        ev(
            "2",
            as_of(),
            None,
            Payload::ProductView(ing::ProductViewEvent {
                product: product("lamp"),
                dwell_seconds: 0,
            }),
        ),
        ev(
            "3",
            days_ago(90),
            None,
            Payload::ProductView(ing::ProductViewEvent {
                product: product("lamp"),
                dwell_seconds: 0,
            }),
        ),
        ev(
            "4",
            as_of(),
            None,
            Payload::Favourite(ing::FavouriteEvent {
                product: product("lamp"),
                removed: false,
            }),
        ),
        ev(
            "5",
            as_of(),
            None,
            Payload::Favourite(ing::FavouriteEvent {
                product: product("mug"),
                removed: false,
            }),
        ),
        ev(
            "6",
            as_of(),
            None,
            Payload::Favourite(ing::FavouriteEvent {
                product: product("lamp"),
                removed: true,
            }),
        ),
        ev(
            "7",
            as_of(),
            None,
            Payload::Follow(ing::FollowEvent {
                target_kind: ing::FollowTargetKind::Brand as i32,
                target: "Rouge".to_owned(),
                removed: false,
            }),
        ),
        ev(
            "8",
            as_of(),
            None,
            Payload::ContentView(ing::ContentViewEvent {
                topic: "skincare".to_owned(),
                content_type: common::ContentType::Video as i32,
                ..Default::default()
            }),
        ),
    ];
    let orders = vec![facts(
        order_row("o1", as_of(), "DELIVERED", 1000),
        2,
        &["lipstick"],
    )];
    let c = content::build(&data("PERSON", events, orders), &ctx());
    // Beauty: one purchase now = 5. Lighting: views 1 + 1 + 0.5 (90 days = one half-life)
    // + favourite 4 = 6.5. Kitchen: favourite 4.
    let cat: HashMap<&str, f64> = c
        .category_affinities
        .iter()
        .map(|a| (a.key.as_str(), a.score))
        .collect();
    assert_eq!(c.category_affinities[0].key, "Home > Lighting");
    assert!(close(cat["Home > Lighting"], 1.0));
    assert!(close(cat["Beauty > Lips"], 5.0 / 6.5));
    assert!(close(cat["Home > Kitchen"], 4.0 / 6.5));
    assert_eq!(c.category_affinities[0].evidence_count, 4);
    // Brands: Rouge purchase 5 + follow 4 = 9; Acme favourite 4.
    assert_eq!(c.brand_affinities[0].key, "Rouge");
    assert!(close(c.brand_affinities[1].score, 4.0 / 9.0));
    assert_eq!(c.topic_affinities[0].key, "skincare");
    assert_eq!(c.favourite_count, 1, "lamp was unfavourited");
    assert_eq!(c.follow_count, 1);
    assert_eq!(
        c.content_type_mix[0].content_type,
        common::ContentType::Video as i32
    );
}

#[test]
fn transactions_revenue_payments_and_logistics() {
    let mut late = order_row("o1", days_ago(100), "DELIVERED", 10_000);
    late.promised_days = Some(5);
    late.actual_days = Some(8);
    late.tracking_offered = Some(true);
    late.shipping_cost_minor = Some(0);
    let mut on_time = order_row("o2", days_ago(60), "DELIVERED", 4_000);
    on_time.promised_days = Some(5);
    on_time.actual_days = Some(5);
    on_time.tracking_offered = Some(false);
    on_time.coupon_code = Some("SAVE10".to_owned());
    on_time.shipping_cost_minor = Some(500);
    let returned = order_row("o3", days_ago(30), "RETURNED", 2_000);
    let cancelled = order_row("o4", days_ago(10), "CANCELLED", 9_999);
    let orders = vec![
        facts(late, 2, &["mug"]),
        facts(on_time, 1, &["lamp"]),
        facts(returned, 1, &["lamp"]),
        facts(cancelled, 1, &["mug"]),
    ];
    let events = vec![
        ev(
            "p1",
            days_ago(100),
            None,
            order_event(
                "o1",
                ing::OrderStatus::Placed,
                ing::PaymentOutcome::Failed,
                common::PaymentMethod::Card,
            ),
        ),
        ev(
            "p2",
            days_ago(100),
            None,
            order_event(
                "o1",
                ing::OrderStatus::Paid,
                ing::PaymentOutcome::Succeeded,
                common::PaymentMethod::Paypal,
            ),
        ),
        ev(
            "p3",
            days_ago(60),
            None,
            order_event(
                "o2",
                ing::OrderStatus::Paid,
                ing::PaymentOutcome::Succeeded,
                common::PaymentMethod::Paypal,
            ),
        ),
        ev(
            "t1",
            days_ago(90),
            None,
            Payload::AfterSalesTicket(ing::AfterSalesTicketEvent {
                ticket_id: "t1".to_owned(),
                order_id: "o1".to_owned(),
                topic: ing::TicketTopic::LateDelivery as i32,
                ..Default::default()
            }),
        ),
        ev(
            "r1",
            days_ago(29),
            None,
            Payload::ReturnGoods(ing::ReturnEvent {
                order_id: "o2".to_owned(),
                quantity: 1,
                refund: Some(common::Money {
                    currency_code: "EUR".to_owned(),
                    amount_minor: 1_000,
                }),
                ..Default::default()
            }),
        ),
    ];
    let t = transactions::build(&data("PERSON", events, orders), &ctx());
    assert_eq!((t.order_count, t.cancelled_order_count), (3, 1));
    // 10 000 + (4 000 - 1 000 refunded); the returned order counts nothing.
    assert_eq!(t.revenue.as_ref().map(|m| m.amount_minor), Some(13_000));
    assert_eq!(
        t.average_order_value.as_ref().map(|m| m.amount_minor),
        Some(13_000 / 3)
    );
    assert!(close(t.discount_order_share, 1.0 / 3.0));
    assert!(close(t.average_days_between_orders, 35.0));
    assert_eq!(
        t.preferred_payment_method,
        common::PaymentMethod::Paypal as i32
    );
    assert!(close(t.payment_failure_rate, 1.0 / 3.0));
    let l = t.logistics.expect("logistics");
    assert!(close(l.late_delivery_share, 0.5));
    assert!(close(l.average_delay_days, 3.0));
    assert!(close(l.tracking_usage_rate, 0.5));
    assert_eq!(l.average_shipping_cost.map(|m| m.amount_minor), Some(250));
    // No shipping-step signal; half the orders shipped free.
    assert!(close(l.shipping_cost_sensitivity, 0.5));
    let after = l.post_delay_behaviour.expect("post delay");
    // o1 delivered 92 days ago; o2 was placed 32 days later (within 90): repurchased.
    assert_eq!(after.delayed_order_count, 1);
    assert!(close(after.repurchase_rate, 1.0));
    assert!(close(after.ticket_rate, 1.0));
    assert!(close(after.return_rate, 0.0));
}

#[test]
fn feedback_ratings_returns_and_complaints() {
    let orders = vec![
        facts(
            order_row("o1", days_ago(20), "DELIVERED", 1000),
            4,
            &["mug"],
        ),
        facts(
            order_row("o2", days_ago(10), "RETURNED", 1000),
            2,
            &["lamp"],
        ),
    ];
    let events = vec![
        ev(
            "1",
            days_ago(9),
            None,
            Payload::Review(ing::ReviewEvent {
                rating: 5,
                text: "Great mug, I love it".to_owned(),
                language_code: "en".to_owned(),
                ..Default::default()
            }),
        ),
        ev(
            "2",
            days_ago(8),
            None,
            Payload::Review(ing::ReviewEvent {
                rating: 2,
                text: "Terrible, broken and useless".to_owned(),
                language_code: "en".to_owned(),
                ..Default::default()
            }),
        ),
        ev(
            "3",
            days_ago(7),
            None,
            Payload::ReturnGoods(ing::ReturnEvent {
                order_id: "o1".to_owned(),
                quantity: 1,
                reason: ing::ReturnReason::Damaged as i32,
                ..Default::default()
            }),
        ),
        ev(
            "4",
            days_ago(6),
            None,
            Payload::AfterSalesTicket(ing::AfterSalesTicketEvent {
                ticket_id: "t".to_owned(),
                topic: ing::TicketTopic::Damaged as i32,
                satisfaction: Some(4),
                resolution_hours: Some(10.0),
                ..Default::default()
            }),
        ),
    ];
    let f = feedback::build(&data("PERSON", events, orders));
    assert_eq!(f.review_count, 2);
    assert!(close(f.average_rating, 3.5));
    // 1 unit returned by event vs 2 units of the wholly returned order: the larger, of 6.
    assert!(close(f.return_rate, 2.0 / 6.0));
    assert_eq!(f.ticket_count, 1);
    assert!(close(f.average_ticket_satisfaction, 4.0));
    assert!(close(f.average_resolution_hours, 10.0));
    assert_eq!(
        f.top_complaints[0],
        pb::TermCount {
            term: "damaged".to_owned(),
            count: 2
        }
    );
    assert!(f.sentiment_mean.abs() < 1.0);
}

#[test]
fn social_counts_and_converted_referrals() {
    let share = |p: common::SocialPlatform, audience: i64| {
        Payload::SocialAction(ing::SocialActionEvent {
            action: ing::SocialActionKind::Share as i32,
            platform: p as i32,
            audience_size: audience,
            ..Default::default()
        })
    };
    let referral = |who: &str| {
        Payload::SocialAction(ing::SocialActionEvent {
            action: ing::SocialActionKind::Referral as i32,
            referred_customer: format!("merchants/acme/customers/{who}"),
            ..Default::default()
        })
    };
    let events = vec![
        ev(
            "1",
            days_ago(3),
            None,
            share(common::SocialPlatform::Tiktok, 0),
        ),
        ev(
            "2",
            days_ago(3),
            None,
            share(common::SocialPlatform::Tiktok, 0),
        ),
        ev(
            "3",
            days_ago(3),
            None,
            share(common::SocialPlatform::Instagram, 0),
        ),
        ev(
            "4",
            days_ago(3),
            None,
            Payload::SocialAction(ing::SocialActionEvent {
                action: ing::SocialActionKind::Like as i32,
                ..Default::default()
            }),
        ),
        ev("5", days_ago(3), None, referral("friend")),
        ev("6", days_ago(3), None, referral("stranger")),
    ];
    let mut d = data("PERSON", events, Vec::new());
    d.converted_referrals = Arc::new(HashSet::from(
        ["merchants/acme/customers/friend".to_owned()],
    ));
    let (s, raw) = social::build(&d);
    assert_eq!(s.share_count, 3);
    assert_eq!(
        s.shares_by_platform[0],
        pb::PlatformCount {
            platform: common::SocialPlatform::Tiktok as i32,
            count: 2
        }
    );
    assert_eq!(
        (
            s.interaction_count,
            s.referral_count,
            s.converted_referral_count
        ),
        (1, 2, 1)
    );
    // 3 shares (reach floor 1) + 0.2 like + 2 x 2 referrals + 5 converted.
    assert!(close(raw, 3.0 + 0.2 + 4.0 + 5.0));
}

#[test]
fn enterprise_contacts_and_purchasing_potential() {
    let mut d = data(
        "ENTERPRISE",
        vec![
            ev(
                "1",
                days_ago(0),
                None,
                Payload::Rfq(ing::RfqEvent {
                    rfq_id: "r1".to_owned(),
                    quantity: 1000,
                    target_unit_price: Some(common::Money {
                        currency_code: "USD".to_owned(),
                        amount_minor: 200,
                    }),
                    contact: "merchants/acme/customers/c1/contacts/buyer".to_owned(),
                    ..Default::default()
                }),
            ),
            ev(
                "2",
                days_ago(0),
                None,
                Payload::SampleOrder(ing::SampleOrderEvent {
                    sample_order_id: "s1".to_owned(),
                    paid: true,
                    ..Default::default()
                }),
            ),
            ev(
                "3",
                days_ago(0),
                None,
                Payload::SampleOrder(ing::SampleOrderEvent {
                    sample_order_id: "s2".to_owned(),
                    paid: false,
                    ..Default::default()
                }),
            ),
        ],
        Vec::new(),
    );
    d.customer.size_band = Some("250_TO_999".to_owned());
    d.customer.company_name = Some("Globex".to_owned());
    let now = UtcDateTime::new(as_of());
    let contact = |id: &str, dm: bool| customer_contacts::Model {
        merchant_id: "acme".to_owned(),
        customer_id: "c1".to_owned(),
        id: id.to_owned(),
        name: Some("Pat".to_owned()),
        job_title: Some("Buyer".to_owned()),
        decision_maker: dm,
        email: dm.then(|| "pat@globex.example".to_owned()),
        phone: None,
        preferred_channel: Some("WHATSAPP".to_owned()),
        created_at: now,
        updated_at: now,
        pii: None,
    };
    d.contacts = vec![contact("assistant", false), contact("buyer", true)];
    let c = opportunity::contacts(&d);
    assert_eq!((c.contact_count, c.decision_maker_count), (2, 1));
    assert!(c.contacts[0].decision_maker, "decision makers first");
    assert_eq!(c.contacts[0].interaction_count, 1);
    assert_eq!(
        c.contacts[0].preferred_channel,
        common::ContactChannel::Whatsapp as i32
    );
    assert!(close(c.completeness, 1.0));
    let p = opportunity::potential(&d, &ctx());
    // 1000 x USD 2.00 at 0.5 = EUR 1000.00.
    assert_eq!(
        p.rfq_target_value.as_ref().map(|m| m.amount_minor),
        Some(100_000)
    );
    assert!(close(p.paid_sample_share, 0.5));
    let expected = 0.25 * (1.0 - (-1.0f64 / 3.0).exp())
        + 0.20 * (1.0 - (-0.1f64).exp())
        + 0.20 * 0.5
        + 0.15 * (4.0 / 5.0)
        + 0.20 * 1.0;
    assert!(
        close(p.score, 100.0 * expected),
        "{} vs {}",
        p.score,
        100.0 * expected
    );
    assert!(close(
        p.components.iter().map(|c| c.weight).sum::<f64>(),
        1.0
    ));
}

#[test]
fn decision_stages_follow_recent_behaviour() {
    let stage = |events: Vec<StoredEvent>, orders: Vec<OrderFacts>| {
        decision_stage::assess(&data("PERSON", events, orders), &ctx())
    };
    let cart = ev(
        "c",
        days_ago(1),
        None,
        Payload::CartAdd(ing::CartChangeEvent {
            product: product("mug"),
            quantity: 1,
            ..Default::default()
        }),
    );
    let view = ev(
        "v",
        days_ago(1),
        None,
        Payload::ProductView(ing::ProductViewEvent {
            product: product("mug"),
            dwell_seconds: 0,
        }),
    );
    let s = stage(vec![view.clone(), cart], Vec::new());
    assert_eq!(s.stage, common::DecisionStage::Evaluation as i32);
    assert!(s.confidence > 0.5 && s.confidence <= 1.0);
    assert_eq!(s.evidence[0].event, "merchants/acme/events/c");
    let s = stage(vec![view.clone()], Vec::new());
    assert_eq!(s.stage, common::DecisionStage::InformationSearch as i32);
    let order = ev(
        "o",
        days_ago(0),
        None,
        order_event(
            "o9",
            ing::OrderStatus::Placed,
            ing::PaymentOutcome::Succeeded,
            common::PaymentMethod::Card,
        ),
    );
    assert_eq!(
        stage(vec![view, order], Vec::new()).stage,
        common::DecisionStage::Purchase as i32
    );
    let old = ev(
        "x",
        days_ago(200),
        None,
        Payload::PageView(ing::PageViewEvent::default()),
    );
    let s = stage(vec![old], Vec::new());
    assert_eq!(s.stage, common::DecisionStage::Dormant as i32);
    assert!(
        close(s.confidence, 1.0),
        "200 idle days is past full confidence"
    );
    let loyal = (0..4)
        .map(|i| {
            facts(
                order_row(&format!("o{i}"), days_ago(80 + i * 20), "DELIVERED", 100),
                1,
                &["mug"],
            )
        })
        .collect();
    assert_eq!(
        stage(Vec::new(), loyal).stage,
        common::DecisionStage::Loyal as i32
    );
    let s = stage(Vec::new(), Vec::new());
    assert_eq!(
        (s.stage, s.evidence.len()),
        (common::DecisionStage::NeedRecognition as i32, 0)
    );
}

#[test]
fn whole_profile_basic_fields_tags_and_completeness() {
    let events = vec![ev(
        "1",
        days_ago(1),
        Some("s"),
        session(common::DeviceType::Mobile, common::TrafficSource::Social),
    )];
    let mut o1 = order_row("o1", days_ago(50), "DELIVERED", 1000);
    o1.coupon_code = Some("X".to_owned());
    let mut o2 = order_row("o2", days_ago(20), "DELIVERED", 1000);
    o2.discount_minor = Some(100);
    let built = build(
        &data(
            "PERSON",
            events,
            vec![facts(o1, 1, &["lipstick"]), facts(o2, 1, &["lipstick"])],
        ),
        &ctx(),
    );
    let p = &built.profile;
    let Some(pb::profile::Basic::Person(b)) = &p.basic else {
        panic!("person")
    };
    assert_eq!(
        b.country_code, "FR",
        "no country on record: the session's IP country"
    );
    assert_eq!(b.age_band, common::AgeBand::AgeBand25To34 as i32);
    assert_eq!(
        b.consented_channels,
        vec![common::ConsentChannel::Email as i32]
    );
    assert_eq!(b.preferred_currency_code, "EUR", "most used order currency");
    assert!(
        b.email.is_empty() && b.display_name.is_empty(),
        "no personal data stored"
    );
    assert!(p.contacts.is_none() && p.purchasing_potential.is_none());
    let mean = [
        b.completeness,
        p.website_behaviour.as_ref().map_or(0.0, |d| d.completeness),
        p.content_preference
            .as_ref()
            .map_or(0.0, |d| d.completeness),
        p.transactions.as_ref().map_or(0.0, |d| d.completeness),
        p.evaluation_feedback
            .as_ref()
            .map_or(0.0, |d| d.completeness),
        p.social_sharing.as_ref().map_or(0.0, |d| d.completeness),
    ]
    .iter()
    .sum::<f64>()
        / 6.0;
    assert!(close(p.completeness, mean));
    let keys: Vec<(&str, &str)> = built
        .rule_tags
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect();
    assert!(keys.contains(&("price-sensitivity", "high")), "{keys:?}");
    assert!(keys.contains(&("interest", "Beauty")), "{keys:?}");
    let price = built
        .rule_tags
        .iter()
        .find(|t| t.key == "price-sensitivity")
        .expect("tag");
    assert_eq!(price.evidence_count, 2);
    assert!(close(price.confidence, 1.0 - (-2.0f64 / 3.0).exp()));
}

#[test]
fn tag_ids_are_slugs() {
    assert_eq!(
        rule_tags::tag_id("interest", "Beauty & Care"),
        "interest-beauty-care"
    );
    assert_eq!(rule_tags::tag_id("b2b-lead", "hot"), "b2b-lead-hot");
    assert_eq!(rule_tags::top_category("Home > Kitchen > Mugs"), "Home");
}

/// 9,300 orders of 10^15 minor units, each within ingestion's limit, sum to more than
/// `i64::MAX`: the revenue saturates at the largest figure instead of wrapping to a negative
/// one, and the average order value stays exact.
#[test]
fn revenue_beyond_i64_saturates_and_the_average_stays_exact() {
    const LARGEST_AMOUNT: i64 = 1_000_000_000_000_000;
    let orders = (0..9_300)
        .map(|i| {
            let at = days_ago(200) + Duration::minutes(i);
            facts(
                order_row(&format!("o{i}"), at, "DELIVERED", LARGEST_AMOUNT),
                1,
                &["mug"],
            )
        })
        .collect();
    let t = transactions::build(&data("PERSON", Vec::new(), orders), &ctx());
    assert_eq!(t.order_count, 9_300);
    assert_eq!(t.revenue.expect("revenue").amount_minor, i64::MAX);
    assert_eq!(
        t.average_order_value.expect("aov").amount_minor,
        LARGEST_AMOUNT
    );
}
