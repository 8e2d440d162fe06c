//! What a valid event is, and the facts extracted from it. Pure, no I/O.
//!
//! Limits (each violation names its field relative to the event, e.g.
//! `order.lines[0].quantity`):
//! * encoded event at most [`MAX_EVENT_BYTES`];
//! * `event_id` `[A-Za-z0-9][A-Za-z0-9._:-]{0,127}`; ids (order, ticket, session...) at
//!   most 128 characters, short texts 255, URIs 2048, free texts 10,000;
//! * `occur_time` required, from 1970 on, at most 5 minutes in the future;
//! * money: ISO 4217 code, at most 10^15 minor units, never negative (refunds and
//!   discounts are positive amounts); quantities positive and at most 10^9;
//! * enums must be known values; countries ISO 3166-1 alpha-2;
//! * the customer: either `customer` (id or `merchants/{m}/customers/{id}`) or
//!   `customer_identifiers`, not both, not neither.
//!
//! Quantities are always positive: a cancellation or return is expressed by the order
//! status (CANCELLED / RETURNED) or a `return_goods` event, never by negative quantities.

use caravan_core::iso;
use caravan_core::names::{check_child_id, parse_child_name};
use caravan_platform::FieldViolations;
use caravan_platform::proto_time::from_timestamp;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_proto::stored_event::encode_payload;
use chrono::{DateTime, Duration, Utc};
use pb::event::Payload;
use prost::Message;

use crate::identity_rules::{IdentifierKey, IdentityHasher, identifier_key};
use crate::money_rules::check_money;

pub const MAX_EVENT_BYTES: usize = 64 * 1024;
pub const MAX_FUTURE: Duration = Duration::minutes(5);
const MAX_ID: usize = 128;
const MAX_SHORT: usize = 255;
const MAX_URI: usize = 2048;
const MAX_TEXT: usize = 10_000;
const MAX_QUANTITY: i64 = 1_000_000_000;
const MAX_LINES: usize = 1000;
const MAX_IDENTIFIERS: usize = 20;

/// Who an event is about, as the caller named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerRef {
    /// A customer id (created implicitly if it does not exist).
    Id(String),
    /// Identifiers, matched in order; `enterprise` when a new customer would be an
    /// ENTERPRISE.
    Identifiers(Vec<IdentifierKey>),
}

/// A validated event, ready to store.
#[derive(Debug, Clone)]
pub struct ValidEvent {
    pub event_id: String,
    pub customer: CustomerRef,
    /// The kind of a customer created implicitly for this event.
    pub implied_customer_kind: &'static str,
    pub occur_time: DateTime<Utc>,
    pub session_id: Option<String>,
    pub source: Option<String>,
    /// `page_view`, `order`... (the `events.kind` column).
    pub kind: &'static str,
    /// The payload with product references normalised to resource names, already in its
    /// stored form (`stored_event::encode_payload`): encoded while checking, outside the
    /// batch's transaction.
    pub stored_payload: Vec<u8>,
    pub order: Option<OrderFacts>,
}

/// The stored status of a placed order.
pub const ORDER_PLACED: &str = "PLACED";

/// The order facts of an `order` event, for the `orders` / `order_lines` projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFacts {
    pub order_id: String,
    pub status: &'static str,
    /// A cancellation document of its own, netted against earlier orders.
    pub credit_note: bool,
    /// (sku, quantity, unit price minor)
    pub lines: Vec<(String, i32, i64)>,
    pub currency: Option<String>,
    /// The total as given, or computed from lines - discount + shipping.
    pub total_minor: Option<i64>,
    pub discount_minor: Option<i64>,
    pub coupon_code: Option<String>,
    pub payment_method: Option<&'static str>,
    pub payment_outcome: Option<&'static str>,
    pub carrier: Option<String>,
    pub promised_days: Option<i32>,
    pub actual_days: Option<i32>,
    pub shipping_cost_minor: Option<i64>,
    pub tracking_offered: Option<bool>,
    pub destination_country: Option<String>,
}

/// The `events.kind` code and proto kind of a payload.
pub fn payload_kind(payload: &Payload) -> (&'static str, pb::EventKind) {
    use pb::EventKind as K;
    match payload {
        Payload::SessionStart(_) => ("session_start", K::SessionStart),
        Payload::PageView(_) => ("page_view", K::PageView),
        Payload::Search(_) => ("search", K::Search),
        Payload::ProductView(_) => ("product_view", K::ProductView),
        Payload::CartAdd(_) => ("cart_add", K::CartAdd),
        Payload::CartRemove(_) => ("cart_remove", K::CartRemove),
        Payload::CheckoutStep(_) => ("checkout_step", K::CheckoutStep),
        Payload::ContentView(_) => ("content_view", K::ContentView),
        Payload::Favourite(_) => ("favourite", K::Favourite),
        Payload::Follow(_) => ("follow", K::Follow),
        Payload::Order(_) => ("order", K::Order),
        Payload::Review(_) => ("review", K::Review),
        Payload::AfterSalesTicket(_) => ("after_sales_ticket", K::AfterSalesTicket),
        Payload::ReturnGoods(_) => ("return", K::Return),
        Payload::SocialAction(_) => ("social_action", K::SocialAction),
        Payload::Inquiry(_) => ("inquiry", K::Inquiry),
        Payload::Rfq(_) => ("rfq", K::Rfq),
        Payload::SampleOrder(_) => ("sample_order", K::SampleOrder),
    }
}

/// The proto kind of an `events.kind` code.
pub fn kind_from_code(code: &str) -> pb::EventKind {
    use pb::EventKind as K;
    match code {
        "session_start" => K::SessionStart,
        "page_view" => K::PageView,
        "search" => K::Search,
        "product_view" => K::ProductView,
        "cart_add" => K::CartAdd,
        "cart_remove" => K::CartRemove,
        "checkout_step" => K::CheckoutStep,
        "content_view" => K::ContentView,
        "favourite" => K::Favourite,
        "follow" => K::Follow,
        "order" => K::Order,
        "review" => K::Review,
        "after_sales_ticket" => K::AfterSalesTicket,
        "return" => K::Return,
        "social_action" => K::SocialAction,
        "inquiry" => K::Inquiry,
        "rfq" => K::Rfq,
        "sample_order" => K::SampleOrder,
        _ => K::Unspecified,
    }
}

/// The `events.kind` code for a proto kind name used in filters (`ORDER`, `EVENT_KIND_ORDER`).
pub fn kind_code_from_filter(value: &str) -> Option<&'static str> {
    let name = value.strip_prefix("EVENT_KIND_").unwrap_or(value);
    let kind = pb::EventKind::from_str_name(&format!("EVENT_KIND_{name}"))?;
    [
        "session_start",
        "page_view",
        "search",
        "product_view",
        "cart_add",
        "cart_remove",
        "checkout_step",
        "content_view",
        "favourite",
        "follow",
        "order",
        "review",
        "after_sales_ticket",
        "return",
        "social_action",
        "inquiry",
        "rfq",
        "sample_order",
    ]
    .into_iter()
    .find(|code| kind_from_code(code) == kind)
}

/// Whether the event id is well formed.
pub fn check_event_id(event_id: &str) -> Result<(), String> {
    let mut chars = event_id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    if event_id.is_empty() {
        Err("is required (the caller's idempotency key)".to_owned())
    } else if !first_ok || !rest_ok || event_id.len() > MAX_ID {
        Err(format!(
            "{event_id:?} must match [A-Za-z0-9][A-Za-z0-9._:-]{{0,127}}"
        ))
    } else {
        Ok(())
    }
}

/// The customer id named by `value` (`id` or `merchants/{merchant}/customers/{id}`), at
/// most 64 characters either way (the width of the customer id column).
pub fn customer_id_ref(value: &str, merchant: &str) -> Result<String, String> {
    let id = if value.starts_with("merchants/") {
        let (m, id) = parse_child_name(value, "customers").map_err(|e| e.to_string())?;
        if m.as_str() != merchant {
            return Err(format!(
                "customer {value:?} belongs to another merchant than merchants/{merchant}"
            ));
        }
        id
    } else {
        check_child_id(value).map_err(|e| e.to_string())?;
        value.to_owned()
    };
    if id.len() > 64 {
        return Err("customer id must be at most 64 characters".to_owned());
    }
    Ok(id)
}

/// An event that failed its checks: its id (as sent), every violation, and the event as it
/// was checked (product references normalised), for the failed-event store; `None` when it
/// is over [`MAX_EVENT_BYTES`], which is not kept.
#[derive(Debug)]
pub struct Rejected {
    pub event_id: String,
    pub violations: FieldViolations,
    pub event: Option<Box<pb::Event>>,
}

/// Validates an event; returns what to store or every violation (fields relative to the
/// event).
pub fn check_event(
    mut event: pb::Event,
    merchant: &str,
    now: DateTime<Utc>,
    hasher: &IdentityHasher,
) -> Result<ValidEvent, Rejected> {
    let reject = |event: pb::Event, violations: FieldViolations| Rejected {
        event_id: event.event_id.clone(),
        violations,
        event: Some(Box::new(event)),
    };
    let mut v = FieldViolations::new();
    let size = event.encoded_len();
    if size > MAX_EVENT_BYTES {
        v.add(
            "",
            format!("event is {size} bytes encoded; at most {MAX_EVENT_BYTES} are accepted"),
        );
        return Err(Rejected {
            event_id: event.event_id,
            violations: v,
            event: None,
        });
    }
    if let Err(why) = check_event_id(&event.event_id) {
        v.add("event_id", why);
    }
    let customer = check_customer_ref(&event, merchant, hasher, &mut v);
    let occur_time = match event.occur_time.as_ref() {
        None => {
            v.add("occur_time", "is required");
            None
        }
        Some(ts) => match from_timestamp(ts) {
            None => {
                v.add("occur_time", "is not a valid timestamp");
                None
            }
            Some(t) if t > now + MAX_FUTURE => {
                v.add(
                    "occur_time",
                    format!("{t} is more than 5 minutes in the future (server time {now})"),
                );
                None
            }
            Some(t) if t < DateTime::UNIX_EPOCH => {
                v.add("occur_time", "must not be before 1970-01-01");
                None
            }
            Some(t) => Some(t),
        },
    };
    let session_id = optional_text(&event.session_id, "session_id", MAX_ID, &mut v);
    let source = optional_text(&event.source, "source", 64, &mut v);

    let Some(mut payload) = event.payload.take() else {
        v.add(
            "payload",
            "exactly one payload (e.g. page_view, order) must be set",
        );
        return Err(reject(event, v));
    };
    let (kind, _) = payload_kind(&payload);
    let order = check_payload(&mut payload, merchant, &mut v);
    let implied_customer_kind = match (&payload, &customer) {
        (Payload::Inquiry(_) | Payload::Rfq(_) | Payload::SampleOrder(_), _) => "ENTERPRISE",
        (_, Some(CustomerRef::Identifiers(keys)))
            if keys.iter().any(|k| k.kind == "REGISTRATION_NUMBER") =>
        {
            "ENTERPRISE"
        }
        _ => "PERSON",
    };
    let (Some(customer), Some(occur_time), true) = (customer, occur_time, v.is_empty()) else {
        event.payload = Some(payload);
        return Err(reject(event, v));
    };
    Ok(ValidEvent {
        event_id: event.event_id,
        customer,
        implied_customer_kind,
        occur_time,
        session_id,
        source,
        kind,
        stored_payload: caravan_store::pii::seal_event_payload(merchant, &encode_payload(&payload)),
        order,
    })
}

fn check_customer_ref(
    event: &pb::Event,
    merchant: &str,
    hasher: &IdentityHasher,
    v: &mut FieldViolations,
) -> Option<CustomerRef> {
    match (
        event.customer.is_empty(),
        event.customer_identifiers.is_empty(),
    ) {
        (true, true) => {
            v.add(
                "customer",
                "is required: set customer (an id or merchants/{merchant}/customers/{id}) or customer_identifiers",
            );
            None
        }
        (false, false) => {
            v.add(
                "customer_identifiers",
                "set either customer or customer_identifiers, not both",
            );
            None
        }
        (false, true) => match customer_id_ref(&event.customer, merchant) {
            Ok(id) => Some(CustomerRef::Id(id)),
            Err(why) => {
                v.add("customer", why);
                None
            }
        },
        (true, false) => {
            if event.customer_identifiers.len() > MAX_IDENTIFIERS {
                v.add(
                    "customer_identifiers",
                    format!("at most {MAX_IDENTIFIERS} identifiers per event"),
                );
                return None;
            }
            let keys: Vec<_> = event
                .customer_identifiers
                .iter()
                .enumerate()
                .filter_map(|(i, id)| {
                    identifier_key(id, hasher, v, &format!("customer_identifiers[{i}]"))
                })
                .collect();
            (keys.len() == event.customer_identifiers.len())
                .then_some(CustomerRef::Identifiers(keys))
        }
    }
}

fn optional_text(value: &str, field: &str, max: usize, v: &mut FieldViolations) -> Option<String> {
    check_len(value, field, max, v);
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

fn check_len(value: &str, field: &str, max: usize, v: &mut FieldViolations) {
    if value.len() > max && value.chars().count() > max {
        v.add(field, format!("must be at most {max} characters"));
    }
}

fn required_text(value: &str, field: &str, max: usize, v: &mut FieldViolations) {
    if value.trim().is_empty() {
        v.add(field, "is required");
    } else {
        check_len(value, field, max, v);
    }
}

fn check_enum<E: TryFrom<i32>>(value: i32, field: &str, required: bool, v: &mut FieldViolations) {
    if E::try_from(value).is_err() {
        v.add(field, format!("{value} is not a known value"));
    } else if required && value == 0 {
        v.add(field, "is required");
    }
}

fn check_quantity(quantity: i64, field: &str, v: &mut FieldViolations) {
    if quantity <= 0 {
        v.add(
            field,
            "must be positive (express cancellations and returns by status or a return_goods event)",
        );
    } else if quantity > MAX_QUANTITY {
        v.add(field, format!("must be at most {MAX_QUANTITY}"));
    }
}

fn check_non_negative(value: i64, field: &str, v: &mut FieldViolations) {
    if value < 0 {
        v.add(field, "must not be negative");
    }
}

fn check_country(code: &str, field: &str, v: &mut FieldViolations) {
    if !code.is_empty() && !iso::is_country(code) {
        v.add(
            field,
            format!("{code:?} is not an ISO 3166-1 alpha-2 country code (upper case, e.g. \"DE\")"),
        );
    }
}

fn check_money_opt(money: Option<&common::Money>, field: &str, v: &mut FieldViolations) {
    if let Some(m) = money {
        check_money(m, field, false, v);
    }
}

/// Validates a product reference and rewrites it to `merchants/{m}/products/{sku}`.
fn product_ref(
    value: &mut String,
    merchant: &str,
    field: &str,
    required: bool,
    v: &mut FieldViolations,
) {
    if value.is_empty() {
        if required {
            v.add(
                field,
                "is required (a SKU or merchants/{merchant}/products/{sku})",
            );
        }
        return;
    }
    let sku = if value.starts_with("merchants/") {
        match parse_child_name(value, "products") {
            Ok((m, sku)) if m.as_str() == merchant => sku,
            Ok(_) => {
                v.add(field, "names a product of another merchant");
                return;
            }
            Err(e) => {
                v.add(field, e.to_string());
                return;
            }
        }
    } else {
        if let Err(e) = check_child_id(value) {
            v.add(field, e.to_string());
            return;
        }
        value.clone()
    };
    *value = format!("merchants/{merchant}/products/{sku}");
}

/// Validates an optional customer reference (referral) and normalises it to a name.
fn customer_ref_field(value: &mut String, merchant: &str, field: &str, v: &mut FieldViolations) {
    if value.is_empty() {
        return;
    }
    match customer_id_ref(value, merchant) {
        Ok(id) => *value = format!("merchants/{merchant}/customers/{id}"),
        Err(why) => v.add(field, why),
    }
}

fn check_payload(
    payload: &mut Payload,
    merchant: &str,
    v: &mut FieldViolations,
) -> Option<OrderFacts> {
    match payload {
        Payload::SessionStart(p) => {
            check_enum::<common::DeviceType>(p.device_type, "session_start.device_type", false, v);
            check_len(&p.os, "session_start.os", MAX_ID, v);
            check_enum::<common::TrafficSource>(
                p.traffic_source,
                "session_start.traffic_source",
                false,
                v,
            );
            check_len(&p.referrer_uri, "session_start.referrer_uri", MAX_URI, v);
            check_len(
                &p.landing_page_uri,
                "session_start.landing_page_uri",
                MAX_URI,
                v,
            );
            check_country(&p.ip_country_code, "session_start.ip_country_code", v);
            check_len(&p.language_code, "session_start.language_code", 35, v);
            check_len(&p.campaign, "session_start.campaign", MAX_SHORT, v);
        }
        Payload::PageView(p) => {
            required_text(&p.uri, "page_view.uri", MAX_URI, v);
            check_enum::<pb::PageType>(p.page_type, "page_view.page_type", false, v);
            check_non_negative(p.dwell_seconds.into(), "page_view.dwell_seconds", v);
        }
        Payload::Search(p) => {
            required_text(&p.query, "search.query", 1000, v);
            check_non_negative(p.results_count.into(), "search.results_count", v);
            check_len(&p.category_path, "search.category_path", 512, v);
        }
        Payload::ProductView(p) => {
            product_ref(&mut p.product, merchant, "product_view.product", true, v);
            check_non_negative(p.dwell_seconds.into(), "product_view.dwell_seconds", v);
        }
        Payload::CartAdd(p) => check_cart(p, merchant, "cart_add", v),
        Payload::CartRemove(p) => check_cart(p, merchant, "cart_remove", v),
        Payload::CheckoutStep(p) => {
            if !(1..=100).contains(&p.step_number) {
                v.add("checkout_step.step_number", "must be between 1 and 100");
            }
            check_len(&p.step_name, "checkout_step.step_name", MAX_ID, v);
        }
        Payload::ContentView(p) => {
            check_len(&p.content_uri, "content_view.content_uri", MAX_URI, v);
            check_len(&p.category_path, "content_view.category_path", 512, v);
            check_len(&p.brand, "content_view.brand", MAX_ID, v);
            check_len(&p.topic, "content_view.topic", MAX_SHORT, v);
            check_enum::<common::ContentType>(
                p.content_type,
                "content_view.content_type",
                false,
                v,
            );
            check_non_negative(p.dwell_seconds.into(), "content_view.dwell_seconds", v);
        }
        Payload::Favourite(p) => {
            product_ref(&mut p.product, merchant, "favourite.product", true, v);
        }
        Payload::Follow(p) => {
            check_enum::<pb::FollowTargetKind>(p.target_kind, "follow.target_kind", true, v);
            required_text(&p.target, "follow.target", 512, v);
        }
        Payload::Order(p) => return check_order(p, merchant, v),
        Payload::Review(p) => {
            product_ref(&mut p.product, merchant, "review.product", true, v);
            check_len(&p.order_id, "review.order_id", MAX_ID, v);
            if !(1..=5).contains(&p.rating) {
                v.add("review.rating", "must be between 1 and 5");
            }
            check_len(&p.title, "review.title", MAX_SHORT, v);
            check_len(&p.text, "review.text", MAX_TEXT, v);
            check_len(&p.language_code, "review.language_code", 35, v);
        }
        Payload::AfterSalesTicket(p) => {
            required_text(&p.ticket_id, "after_sales_ticket.ticket_id", MAX_ID, v);
            check_len(&p.order_id, "after_sales_ticket.order_id", MAX_ID, v);
            check_enum::<pb::TicketTopic>(p.topic, "after_sales_ticket.topic", true, v);
            if let Some(hours) = p.resolution_hours
                && (!hours.is_finite() || hours < 0.0)
            {
                v.add(
                    "after_sales_ticket.resolution_hours",
                    "must be a finite number of hours, not negative (NaN and infinity are rejected)",
                );
            }
            if let Some(s) = p.satisfaction
                && !(1..=5).contains(&s)
            {
                v.add("after_sales_ticket.satisfaction", "must be between 1 and 5");
            }
            check_len(&p.text, "after_sales_ticket.text", MAX_TEXT, v);
        }
        Payload::ReturnGoods(p) => {
            required_text(&p.order_id, "return_goods.order_id", MAX_ID, v);
            product_ref(&mut p.product, merchant, "return_goods.product", true, v);
            check_quantity(p.quantity, "return_goods.quantity", v);
            check_enum::<pb::ReturnReason>(p.reason, "return_goods.reason", true, v);
            check_len(&p.reason_text, "return_goods.reason_text", MAX_TEXT, v);
            check_money_opt(p.refund.as_ref(), "return_goods.refund", v);
        }
        Payload::SocialAction(p) => {
            check_enum::<pb::SocialActionKind>(p.action, "social_action.action", true, v);
            check_enum::<common::SocialPlatform>(p.platform, "social_action.platform", true, v);
            check_len(&p.target_uri, "social_action.target_uri", MAX_URI, v);
            product_ref(&mut p.product, merchant, "social_action.product", false, v);
            customer_ref_field(
                &mut p.referred_customer,
                merchant,
                "social_action.referred_customer",
                v,
            );
            check_len(&p.comment_text, "social_action.comment_text", MAX_TEXT, v);
            check_non_negative(p.audience_size, "social_action.audience_size", v);
        }
        Payload::Inquiry(p) => {
            check_len(&p.inquiry_id, "inquiry.inquiry_id", MAX_ID, v);
            product_ref(&mut p.product, merchant, "inquiry.product", false, v);
            check_len(&p.category_path, "inquiry.category_path", 512, v);
            check_len(&p.message, "inquiry.message", MAX_TEXT, v);
            check_enum::<common::ContactChannel>(p.channel, "inquiry.channel", false, v);
            check_len(&p.contact, "inquiry.contact", MAX_SHORT, v);
        }
        Payload::Rfq(p) => {
            check_len(&p.rfq_id, "rfq.rfq_id", MAX_ID, v);
            product_ref(&mut p.product, merchant, "rfq.product", false, v);
            check_len(&p.category_path, "rfq.category_path", 512, v);
            check_quantity(p.quantity, "rfq.quantity", v);
            check_len(&p.unit, "rfq.unit", 32, v);
            check_money_opt(p.target_unit_price.as_ref(), "rfq.target_unit_price", v);
            if let Some(deadline) = &p.deadline_time
                && from_timestamp(deadline).is_none()
            {
                v.add("rfq.deadline_time", "is not a valid timestamp");
            }
            check_len(&p.contact, "rfq.contact", MAX_SHORT, v);
        }
        Payload::SampleOrder(p) => {
            check_len(
                &p.sample_order_id,
                "sample_order.sample_order_id",
                MAX_ID,
                v,
            );
            product_ref(&mut p.product, merchant, "sample_order.product", true, v);
            check_quantity(p.quantity, "sample_order.quantity", v);
            check_money_opt(p.amount.as_ref(), "sample_order.amount", v);
        }
    }
    None
}

fn check_cart(p: &mut pb::CartChangeEvent, merchant: &str, prefix: &str, v: &mut FieldViolations) {
    let mut local = FieldViolations::new();
    product_ref(&mut p.product, merchant, "product", true, &mut local);
    check_quantity(p.quantity, "quantity", &mut local);
    check_money_opt(p.unit_price.as_ref(), "unit_price", &mut local);
    v.extend_prefixed(prefix, local);
}

fn check_order(
    p: &mut pb::OrderEvent,
    merchant: &str,
    v: &mut FieldViolations,
) -> Option<OrderFacts> {
    let before = v.len();
    required_text(&p.order_id, "order.order_id", MAX_ID, v);
    check_enum::<pb::OrderStatus>(p.status, "order.status", true, v);
    let status = pb::OrderStatus::try_from(p.status)
        .ok()
        .map(order_status_code);
    if p.lines.is_empty() && p.status == pb::OrderStatus::Placed as i32 {
        v.add("order.lines", "are required on the PLACED event");
    }
    if p.credit_note {
        if p.status != pb::OrderStatus::Cancelled as i32 {
            v.add(
                "order.status",
                "must be CANCELLED on a credit note (credit_note is set)",
            );
        }
        if p.lines.is_empty() {
            v.add(
                "order.lines",
                "are required on a credit note: they say what it reverses",
            );
        }
    }
    if p.lines.len() > MAX_LINES {
        v.add(
            "order.lines",
            format!("at most {MAX_LINES} lines per order"),
        );
    }
    let mut currency: Option<String> = p.total.as_ref().map(|m| m.currency_code.clone());
    let mut check_currency = |money: &common::Money, field: &str, v: &mut FieldViolations| {
        match &currency {
        None => currency = Some(money.currency_code.clone()),
        Some(c) if *c != money.currency_code => v.add(
            format!("{field}.currency_code"),
            format!(
                "{:?} differs from the order currency {c:?}; all amounts of an order share one currency",
                money.currency_code
            ),
        ),
        Some(_) => {}
    }
    };
    let mut lines = Vec::with_capacity(p.lines.len());
    let mut lines_total: i128 = 0;
    for (i, line) in p.lines.iter_mut().enumerate() {
        let field = format!("order.lines[{i}]");
        product_ref(
            &mut line.product,
            merchant,
            &format!("{field}.product"),
            true,
            v,
        );
        check_quantity(line.quantity, &format!("{field}.quantity"), v);
        match &line.unit_price {
            None => v.add(format!("{field}.unit_price"), "is required"),
            Some(price) => {
                check_money(price, &format!("{field}.unit_price"), false, v);
                check_currency(price, &format!("{field}.unit_price"), v);
                lines_total += i128::from(price.amount_minor) * i128::from(line.quantity);
                let sku = line
                    .product
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                lines.push((
                    sku,
                    i32::try_from(line.quantity).unwrap_or(i32::MAX),
                    price.amount_minor,
                ));
            }
        }
    }
    if let Some(total) = &p.total {
        check_money(total, "order.total", false, v);
    }
    if let Some(discount) = &p.discount {
        check_money(discount, "order.discount", false, v);
        check_currency(discount, "order.discount", v);
    }
    check_len(&p.coupon_code, "order.coupon_code", 64, v);
    check_len(&p.campaign, "order.campaign", MAX_SHORT, v);
    if p.base_total.is_some() {
        p.base_total = None; // output only: computed from the merchant's exchange rates
    }
    if let Some(pay) = &p.payment {
        check_enum::<common::PaymentMethod>(pay.method, "order.payment.method", true, v);
        check_enum::<pb::PaymentOutcome>(pay.outcome, "order.payment.outcome", true, v);
        check_len(
            &pay.failure_reason,
            "order.payment.failure_reason",
            MAX_SHORT,
            v,
        );
        if !(0..=120).contains(&pay.installments) {
            v.add("order.payment.installments", "must be between 0 and 120");
        }
        if let Some(amount) = &pay.amount {
            check_money(amount, "order.payment.amount", false, v);
        }
    }
    if let Some(log) = &p.logistics {
        check_len(&log.carrier, "order.logistics.carrier", 64, v);
        for (days, field) in [
            (
                log.promised_delivery_days,
                "order.logistics.promised_delivery_days",
            ),
            (
                log.actual_delivery_days,
                "order.logistics.actual_delivery_days",
            ),
        ] {
            if let Some(d) = days
                && !(0..=365).contains(&d)
            {
                v.add(field, "must be between 0 and 365 days");
            }
        }
        if let Some(cost) = &log.shipping_cost {
            check_money(cost, "order.logistics.shipping_cost", false, v);
            check_currency(cost, "order.logistics.shipping_cost", v);
        }
        check_country(
            &log.destination_country_code,
            "order.logistics.destination_country_code",
            v,
        );
    }
    if v.len() > before {
        return None;
    }
    let discount_minor = p.discount.as_ref().map(|m| m.amount_minor);
    let shipping_cost_minor = p
        .logistics
        .as_ref()
        .and_then(|l| l.shipping_cost.as_ref())
        .map(|m| m.amount_minor);
    let total_minor = match &p.total {
        Some(total) => Some(total.amount_minor),
        None if !p.lines.is_empty() => {
            let computed = lines_total - i128::from(discount_minor.unwrap_or(0))
                + i128::from(shipping_cost_minor.unwrap_or(0));
            i64::try_from(computed.max(0)).ok()
        }
        None => None,
    };
    let nonempty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    Some(OrderFacts {
        order_id: p.order_id.trim().to_owned(),
        status: status.unwrap_or(ORDER_PLACED),
        credit_note: p.credit_note,
        lines,
        currency,
        total_minor,
        discount_minor,
        coupon_code: nonempty(&p.coupon_code),
        payment_method: p
            .payment
            .as_ref()
            .and_then(|pay| common::PaymentMethod::try_from(pay.method).ok())
            .map(|m| m.as_str_name().trim_start_matches("PAYMENT_METHOD_")),
        payment_outcome: p
            .payment
            .as_ref()
            .and_then(|pay| pb::PaymentOutcome::try_from(pay.outcome).ok())
            .map(|o| o.as_str_name().trim_start_matches("PAYMENT_OUTCOME_")),
        carrier: p.logistics.as_ref().and_then(|l| nonempty(&l.carrier)),
        promised_days: p.logistics.as_ref().and_then(|l| l.promised_delivery_days),
        actual_days: p.logistics.as_ref().and_then(|l| l.actual_delivery_days),
        shipping_cost_minor,
        tracking_offered: p.logistics.as_ref().map(|l| l.tracking_offered),
        destination_country: p
            .logistics
            .as_ref()
            .and_then(|l| nonempty(&l.destination_country_code)),
    })
}

pub fn order_status_code(status: pb::OrderStatus) -> &'static str {
    match status {
        pb::OrderStatus::Unspecified | pb::OrderStatus::Placed => ORDER_PLACED,
        pb::OrderStatus::Paid => "PAID",
        pb::OrderStatus::Shipped => "SHIPPED",
        pb::OrderStatus::Delivered => "DELIVERED",
        pb::OrderStatus::Cancelled => "CANCELLED",
        pb::OrderStatus::Returned => "RETURNED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::Timestamp;

    const M: &str = "acme";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000, 0).expect("valid")
    }

    fn hasher() -> IdentityHasher {
        IdentityHasher::new("test-key")
    }

    fn money(currency: &str, amount: i64) -> Option<common::Money> {
        Some(common::Money {
            currency_code: currency.to_owned(),
            amount_minor: amount,
        })
    }

    fn event(payload: Payload) -> pb::Event {
        pb::Event {
            event_id: "e-1".to_owned(),
            customer: "c1".to_owned(),
            occur_time: Some(Timestamp {
                seconds: 1_749_999_000,
                nanos: 0,
            }),
            payload: Some(payload),
            ..Default::default()
        }
    }

    fn fields(result: Result<ValidEvent, FieldViolations>) -> Vec<String> {
        match result {
            Ok(_) => Vec::new(),
            Err(v) => v.iter().map(|x| x.field.clone()).collect(),
        }
    }

    fn check(e: pb::Event) -> Result<ValidEvent, FieldViolations> {
        check_event(e, M, now(), &hasher()).map_err(|r| r.violations)
    }

    fn order(status: pb::OrderStatus) -> pb::OrderEvent {
        pb::OrderEvent {
            order_id: "536365".to_owned(),
            status: status as i32,
            lines: vec![pb::OrderLine {
                product: "85123A".to_owned(),
                quantity: 6,
                unit_price: money("GBP", 255),
            }],
            total: money("GBP", 1530),
            ..Default::default()
        }
    }

    #[test]
    fn a_credit_note_is_a_cancelled_order_with_lines() {
        let note = pb::OrderEvent {
            credit_note: true,
            ..order(pb::OrderStatus::Cancelled)
        };
        let valid = check(event(Payload::Order(note.clone()))).expect("valid");
        assert!(valid.order.as_ref().is_some_and(|o| o.credit_note));
        let placed = pb::OrderEvent {
            status: pb::OrderStatus::Placed as i32,
            ..note.clone()
        };
        assert_eq!(
            fields(check(event(Payload::Order(placed)))),
            ["order.status"]
        );
        let empty = pb::OrderEvent {
            lines: vec![],
            ..note
        };
        assert_eq!(fields(check(event(Payload::Order(empty)))), ["order.lines"]);
    }

    /// One valid example of every payload kind.
    pub fn every_kind() -> Vec<Payload> {
        vec![
            Payload::SessionStart(pb::SessionStartEvent {
                device_type: common::DeviceType::Mobile as i32,
                traffic_source: common::TrafficSource::ShortVideo as i32,
                ip_country_code: "DE".to_owned(),
                ..Default::default()
            }),
            Payload::PageView(pb::PageViewEvent {
                uri: "https://shop.example/".to_owned(),
                page_type: pb::PageType::Home as i32,
                dwell_seconds: 12,
            }),
            Payload::Search(pb::SearchEvent {
                query: "mug".to_owned(),
                results_count: 0,
                category_path: String::new(),
            }),
            Payload::ProductView(pb::ProductViewEvent {
                product: "SKU-1".to_owned(),
                dwell_seconds: 30,
            }),
            Payload::CartAdd(pb::CartChangeEvent {
                product: "SKU-1".to_owned(),
                quantity: 2,
                unit_price: money("EUR", 999),
            }),
            Payload::CartRemove(pb::CartChangeEvent {
                product: "merchants/acme/products/SKU-1".to_owned(),
                quantity: 1,
                unit_price: None,
            }),
            Payload::CheckoutStep(pb::CheckoutStepEvent {
                step_number: 2,
                step_name: "payment".to_owned(),
            }),
            Payload::ContentView(pb::ContentViewEvent {
                topic: "unboxing".to_owned(),
                content_type: common::ContentType::ShortVideo as i32,
                ..Default::default()
            }),
            Payload::Favourite(pb::FavouriteEvent {
                product: "SKU-1".to_owned(),
                removed: false,
            }),
            Payload::Follow(pb::FollowEvent {
                target_kind: pb::FollowTargetKind::Brand as i32,
                target: "Acme".to_owned(),
                removed: false,
            }),
            Payload::Order(order(pb::OrderStatus::Placed)),
            Payload::Review(pb::ReviewEvent {
                product: "SKU-1".to_owned(),
                rating: 4,
                text: "Good".to_owned(),
                ..Default::default()
            }),
            Payload::AfterSalesTicket(pb::AfterSalesTicketEvent {
                ticket_id: "t1".to_owned(),
                topic: pb::TicketTopic::LateDelivery as i32,
                resolved: true,
                resolution_hours: Some(4.5),
                satisfaction: Some(4),
                ..Default::default()
            }),
            Payload::ReturnGoods(pb::ReturnEvent {
                order_id: "o1".to_owned(),
                product: "SKU-1".to_owned(),
                quantity: 1,
                reason: pb::ReturnReason::SizeFit as i32,
                refund: money("EUR", 999),
                ..Default::default()
            }),
            Payload::SocialAction(pb::SocialActionEvent {
                action: pb::SocialActionKind::Referral as i32,
                platform: common::SocialPlatform::Tiktok as i32,
                referred_customer: "c2".to_owned(),
                ..Default::default()
            }),
            Payload::Inquiry(pb::InquiryEvent {
                product: "SKU-1".to_owned(),
                message: "MOQ?".to_owned(),
                channel: common::ContactChannel::TradeManager as i32,
                ..Default::default()
            }),
            Payload::Rfq(pb::RfqEvent {
                product: "SKU-1".to_owned(),
                quantity: 5000,
                unit: "pieces".to_owned(),
                target_unit_price: money("USD", 120),
                ..Default::default()
            }),
            Payload::SampleOrder(pb::SampleOrderEvent {
                product: "SKU-1".to_owned(),
                quantity: 2,
                paid: true,
                amount: money("USD", 3000),
                ..Default::default()
            }),
        ]
    }

    #[test]
    fn every_kind_has_a_valid_example_and_a_code() {
        let examples = every_kind();
        assert_eq!(examples.len(), 18);
        for payload in examples {
            let (code, kind) = payload_kind(&payload);
            assert_eq!(kind_from_code(code), kind);
            let valid = check(event(payload)).expect("valid example");
            assert_eq!(valid.kind, code);
            let expected = if matches!(code, "inquiry" | "rfq" | "sample_order") {
                "ENTERPRISE"
            } else {
                "PERSON"
            };
            assert_eq!(valid.implied_customer_kind, expected, "{code}");
        }
        assert_eq!(kind_code_from_filter("ORDER"), Some("order"));
        assert_eq!(kind_code_from_filter("EVENT_KIND_RETURN"), Some("return"));
        assert_eq!(kind_code_from_filter("NOPE"), None);
    }

    #[test]
    fn payloads_round_trip_through_storage_with_normalised_products() {
        let valid = check(event(Payload::ProductView(pb::ProductViewEvent {
            product: "SKU-1".to_owned(),
            dwell_seconds: 3,
        })))
        .expect("valid");
        let Some(Payload::ProductView(p)) = caravan_proto::stored_event::decode_payload(
            &caravan_store::pii::open_event_payload(M, &valid.stored_payload)
                .expect("sealed by this process"),
        ) else {
            panic!("decoded {:?}", valid.stored_payload);
        };
        assert_eq!(p.product, "merchants/acme/products/SKU-1");
    }

    #[test]
    fn envelope_problems_are_named() {
        let mut e = event(Payload::PageView(pb::PageViewEvent {
            uri: "/".to_owned(),
            ..Default::default()
        }));
        e.event_id = "bad id".to_owned();
        e.customer = String::new();
        e.occur_time = Some(Timestamp {
            seconds: 1_750_000_000 + 3600,
            nanos: 0,
        });
        e.session_id = "s".repeat(129);
        assert_eq!(
            fields(check(e)),
            ["event_id", "customer", "occur_time", "session_id"]
        );

        let mut e = event(Payload::PageView(pb::PageViewEvent {
            uri: "/".to_owned(),
            ..Default::default()
        }));
        e.payload = None;
        e.customer = "merchants/other/customers/c1".to_owned();
        assert_eq!(fields(check(e)), ["customer", "payload"]);

        let mut e = event(Payload::Search(pb::SearchEvent::default()));
        e.occur_time = None;
        e.customer_identifiers = vec![common::CustomerIdentifier {
            kind: common::IdentifierKind::Email as i32,
            value: "x@example.com".to_owned(),
            issuer: String::new(),
        }];
        assert_eq!(
            fields(check(e)),
            ["customer_identifiers", "occur_time", "search.query"]
        );
    }

    #[test]
    fn identifiers_resolve_kinds() {
        let mut e = event(Payload::PageView(pb::PageViewEvent {
            uri: "/".to_owned(),
            ..Default::default()
        }));
        e.customer = String::new();
        e.customer_identifiers = vec![
            common::CustomerIdentifier {
                kind: common::IdentifierKind::RegistrationNumber as i32,
                value: "HRB 1234".to_owned(),
                issuer: String::new(),
            },
            common::CustomerIdentifier {
                kind: common::IdentifierKind::Email as i32,
                value: "Buyer@Example.com".to_owned(),
                issuer: String::new(),
            },
        ];
        let valid = check(e).expect("valid");
        assert_eq!(valid.implied_customer_kind, "ENTERPRISE");
        let CustomerRef::Identifiers(keys) = valid.customer else {
            panic!("identifiers expected");
        };
        assert_eq!(keys[0].value_hash, "HRB 1234");
        assert_eq!(keys[1].value_hash, hasher().hash("buyer@example.com"));
    }

    #[test]
    fn oversized_events_are_rejected() {
        let e = event(Payload::Review(pb::ReviewEvent {
            product: "SKU-1".to_owned(),
            rating: 5,
            text: "x".repeat(MAX_EVENT_BYTES),
            ..Default::default()
        }));
        let err = check(e).expect_err("too big");
        assert!(err.summary().contains("bytes encoded"), "{err}");
        let e = event(Payload::Review(pb::ReviewEvent {
            product: "SKU-1".to_owned(),
            rating: 5,
            text: "x".repeat(MAX_TEXT + 1),
            ..Default::default()
        }));
        assert_eq!(fields(check(e)), ["review.text"]);
    }

    #[test]
    fn order_facts_and_violations() {
        let valid = check(event(Payload::Order(order(pb::OrderStatus::Placed)))).expect("valid");
        let facts = valid.order.expect("facts");
        assert_eq!(facts.status, "PLACED");
        assert_eq!(facts.lines, [("85123A".to_owned(), 6, 255)]);
        assert_eq!(facts.currency.as_deref(), Some("GBP"));
        assert_eq!(facts.total_minor, Some(1530));

        // A cancellation with positive quantities, as the UCI importer sends it.
        let cancelled = check(event(Payload::Order(order(pb::OrderStatus::Cancelled))))
            .expect("valid")
            .order
            .expect("facts");
        assert_eq!(cancelled.status, "CANCELLED");
        assert_eq!(cancelled.lines[0].1, 6);

        // Total computed from lines when absent.
        let mut o = order(pb::OrderStatus::Placed);
        o.total = None;
        o.discount = money("GBP", 30);
        let facts = check(event(Payload::Order(o)))
            .expect("valid")
            .order
            .expect("facts");
        assert_eq!(facts.total_minor, Some(1500));

        let mut o = order(pb::OrderStatus::Placed);
        o.lines.push(pb::OrderLine {
            product: "bad sku!".to_owned(),
            quantity: -2,
            unit_price: money("EUR", -1),
        });
        o.total = money("GBX", 5);
        o.logistics = Some(pb::LogisticsInfo {
            destination_country_code: "UK".to_owned(),
            promised_delivery_days: Some(-1),
            ..Default::default()
        });
        o.payment = Some(pb::PaymentInfo::default());
        assert_eq!(
            fields(check(event(Payload::Order(o)))),
            [
                "order.lines[0].unit_price.currency_code",
                "order.lines[1].product",
                "order.lines[1].quantity",
                "order.lines[1].unit_price.amount_minor",
                "order.lines[1].unit_price.currency_code",
                "order.total.currency_code",
                "order.payment.method",
                "order.payment.outcome",
                "order.logistics.promised_delivery_days",
                "order.logistics.destination_country_code",
            ]
        );

        let mut o = order(pb::OrderStatus::Placed);
        o.lines.clear();
        o.status = 42;
        assert_eq!(fields(check(event(Payload::Order(o)))), ["order.status"]);
        let mut o = order(pb::OrderStatus::Placed);
        o.lines.clear();
        assert_eq!(fields(check(event(Payload::Order(o)))), ["order.lines"]);
    }

    #[test]
    fn kind_specific_limits() {
        let bad = [
            (
                Payload::CartAdd(pb::CartChangeEvent {
                    product: String::new(),
                    quantity: 0,
                    unit_price: money("EUR", -5),
                }),
                vec![
                    "cart_add.product",
                    "cart_add.quantity",
                    "cart_add.unit_price.amount_minor",
                ],
            ),
            (
                Payload::AfterSalesTicket(pb::AfterSalesTicketEvent {
                    ticket_id: "t".to_owned(),
                    topic: 0,
                    resolution_hours: Some(f64::NAN),
                    satisfaction: Some(6),
                    ..Default::default()
                }),
                vec![
                    "after_sales_ticket.topic",
                    "after_sales_ticket.resolution_hours",
                    "after_sales_ticket.satisfaction",
                ],
            ),
            (
                Payload::Review(pb::ReviewEvent {
                    product: "p".to_owned(),
                    rating: 0,
                    ..Default::default()
                }),
                vec!["review.rating"],
            ),
            (
                Payload::SocialAction(pb::SocialActionEvent {
                    action: 1,
                    platform: 99,
                    audience_size: -1,
                    ..Default::default()
                }),
                vec!["social_action.platform", "social_action.audience_size"],
            ),
            (
                Payload::Rfq(pb::RfqEvent {
                    quantity: MAX_QUANTITY + 1,
                    target_unit_price: money("XXX1", 1),
                    ..Default::default()
                }),
                vec!["rfq.quantity", "rfq.target_unit_price.currency_code"],
            ),
            (
                Payload::SessionStart(pb::SessionStartEvent {
                    ip_country_code: "XX".to_owned(),
                    ..Default::default()
                }),
                vec!["session_start.ip_country_code"],
            ),
            (
                Payload::CheckoutStep(pb::CheckoutStepEvent {
                    step_number: 0,
                    step_name: String::new(),
                }),
                vec!["checkout_step.step_number"],
            ),
            (
                Payload::Follow(pb::FollowEvent::default()),
                vec!["follow.target_kind", "follow.target"],
            ),
            (
                Payload::SampleOrder(pb::SampleOrderEvent::default()),
                vec!["sample_order.product", "sample_order.quantity"],
            ),
            (
                Payload::ReturnGoods(pb::ReturnEvent::default()),
                vec![
                    "return_goods.order_id",
                    "return_goods.product",
                    "return_goods.quantity",
                    "return_goods.reason",
                ],
            ),
        ];
        for (payload, expected) in bad {
            assert_eq!(fields(check(event(payload))), expected);
        }
    }

    #[test]
    fn event_ids_and_customer_refs() {
        assert!(check_event_id("shopify:order:1234:paid").is_ok());
        assert!(check_event_id("uci-order-536365").is_ok());
        assert!(check_event_id("").is_err());
        assert!(check_event_id("-x").is_err());
        assert!(check_event_id(&"x".repeat(129)).is_err());
        assert_eq!(customer_id_ref("12346", M), Ok("12346".to_owned()));
        assert_eq!(
            customer_id_ref("merchants/acme/customers/c-1", M),
            Ok("c-1".to_owned())
        );
        assert!(customer_id_ref("merchants/acme/products/c-1", M).is_err());
        assert!(customer_id_ref("a b", M).is_err());
        assert!(customer_id_ref(&"x".repeat(65), M).is_err());
        assert!(
            customer_id_ref(&format!("merchants/acme/customers/{}", "x".repeat(65)), M).is_err(),
            "the resource-name form has the same limit"
        );
    }
}
