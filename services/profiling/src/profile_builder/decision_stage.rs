//! The purchase-decision stage (need recognition, information search, evaluation,
//! purchase, after-sales, loyal, dormant), inferred from recent behaviour.
//!
//! Each recent event is evidence for one stage with a base weight (a placed order says
//! "purchase" more strongly than a page view says "need recognition"); evidence decays
//! with a half-life of [`HALF_LIFE_DAYS`]. The stage with the most weight wins; the
//! confidence is its share of all weight. Without evidence in [`WINDOW_DAYS`] a customer
//! with history is dormant.

use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::common::v1::DecisionStage;
use caravan_proto::caravan::ingestion::v1::OrderStatus;
use caravan_proto::caravan::ingestion::v1::event::Payload;
use caravan_proto::caravan::profiling::v1 as pb;
use chrono::{DateTime, Duration, Utc};

use super::stage_tally::StageWeights;
use super::{BuildContext, CustomerData, StoredEvent, days_between};

pub const HALF_LIFE_DAYS: f64 = 7.0;
pub const WINDOW_DAYS: i64 = 60;
/// A repeat buyer (at least [`LOYAL_MIN_ORDERS`] orders) whose last order is this recent
/// is loyal unless recent behaviour says more.
pub const LOYAL_RECENCY_DAYS: i64 = 120;
pub const LOYAL_MIN_ORDERS: usize = 3;
/// Days without activity at which a dormant assessment reaches full confidence.
pub const DORMANT_FULL_CONFIDENCE_DAYS: f64 = 180.0;
/// Evidence lines shown with an assessment.
pub const MAX_EVIDENCE: usize = 10;

struct Evidence {
    stage: DecisionStage,
    weight: f64,
    description: String,
    event: String,
    at: DateTime<Utc>,
}

pub(super) fn classify(e: &StoredEvent) -> Option<(DecisionStage, f64, String)> {
    use DecisionStage as S;
    Some(match &e.payload {
        Payload::Order(o) => match OrderStatus::try_from(o.status) {
            Ok(OrderStatus::Shipped | OrderStatus::Delivered) => (
                S::AfterSales,
                0.8,
                format!("order {} {}", o.order_id, status_word(o.status)),
            ),
            Ok(OrderStatus::Returned) => {
                (S::AfterSales, 1.0, format!("order {} returned", o.order_id))
            }
            Ok(OrderStatus::Cancelled) => (
                S::Evaluation,
                0.4,
                format!("order {} cancelled", o.order_id),
            ),
            _ => (
                S::Purchase,
                1.0,
                format!("order {} {}", o.order_id, status_word(o.status)),
            ),
        },
        Payload::CheckoutStep(s) => (
            S::Purchase,
            0.8,
            format!("checkout step {} {}", s.step_number, s.step_name)
                .trim()
                .to_owned(),
        ),
        Payload::Review(r) => (
            S::AfterSales,
            0.6,
            format!("review with rating {}", r.rating),
        ),
        Payload::AfterSalesTicket(t) => (
            S::AfterSales,
            1.0,
            format!("after-sales ticket {}", t.ticket_id),
        ),
        Payload::ReturnGoods(r) => (
            S::AfterSales,
            1.0,
            format!("return for order {}", r.order_id),
        ),
        Payload::CartAdd(c) => (S::Evaluation, 0.8, format!("added {} to cart", c.product)),
        Payload::Favourite(f) if !f.removed => {
            (S::Evaluation, 0.6, format!("favourited {}", f.product))
        }
        Payload::Rfq(r) => (
            S::Evaluation,
            0.9,
            format!("RFQ {} for {} units", r.rfq_id, r.quantity),
        ),
        Payload::SampleOrder(s) => (
            S::Evaluation,
            1.0,
            format!("sample order {}", s.sample_order_id),
        ),
        Payload::Search(s) => (
            S::InformationSearch,
            0.5,
            format!("searched \"{}\"", s.query),
        ),
        Payload::ProductView(v) => (S::InformationSearch, 0.3, format!("viewed {}", v.product)),
        Payload::Inquiry(i) => (
            S::InformationSearch,
            0.7,
            format!("inquiry {}", i.inquiry_id),
        ),
        Payload::ContentView(c) => (
            S::NeedRecognition,
            0.3,
            format!("viewed content {}", c.content_uri),
        ),
        Payload::SessionStart(_) => (S::NeedRecognition, 0.2, "started a session".to_owned()),
        Payload::PageView(p) => (S::NeedRecognition, 0.1, format!("viewed page {}", p.uri)),
        Payload::SocialAction(_) | Payload::Follow(_) => (
            S::NeedRecognition,
            0.2,
            "engaged on social media".to_owned(),
        ),
        _ => return None,
    })
}

fn status_word(status: i32) -> String {
    OrderStatus::try_from(status)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("ORDER_STATUS_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| "placed".to_owned())
        .replace("unspecified", "placed")
}

/// The evidence a build may show, and every stage's weight (the evidence it shows included).
fn stage_evidence(data: &CustomerData, as_of: DateTime<Utc>) -> (Vec<Evidence>, StageWeights) {
    let since = as_of - Duration::days(WINDOW_DAYS);
    let merchant = &data.customer.merchant_id;
    let tally = &data.events.stage;
    let mut weights = tally.weights(since, as_of);
    let mut evidence: Vec<Evidence> = tally
        .shown(since, as_of)
        .map(|o| Evidence {
            stage: DecisionStage::try_from(o.stage).unwrap_or(DecisionStage::NeedRecognition),
            weight: o.weight,
            description: o.description.to_owned(),
            event: format!("merchants/{merchant}/events/{}", o.event_id),
            at: o.at,
        })
        .collect();
    let mut extra = Vec::new();
    // Coming back to the same product is comparison, not browsing.
    for (product, views) in tally.product_views(since, as_of) {
        if views.len() < 2 {
            continue;
        }
        let first = views[0];
        let last = views[views.len() - 1];
        let days = days_between(first, last).ceil().max(1.0);
        let decay = 0.5f64.powf(days_between(last, as_of).max(0.0) / HALF_LIFE_DAYS);
        extra.push(Evidence {
            stage: DecisionStage::Evaluation,
            weight: 0.7 * decay,
            description: format!("{} product views of {product} in {days} days", views.len()),
            event: String::new(),
            at: last,
        });
    }
    let placed: Vec<DateTime<Utc>> = data
        .orders
        .iter()
        .filter(|o| super::transactions::counts(o))
        .map(|o| o.order.placed_at.get())
        .collect();
    if let Some(last) = placed.iter().max()
        && placed.len() >= LOYAL_MIN_ORDERS
        && *last >= as_of - Duration::days(LOYAL_RECENCY_DAYS)
    {
        extra.push(Evidence {
            stage: DecisionStage::Loyal,
            weight: 0.9,
            description: format!(
                "{} orders, the last {:.0} days ago",
                placed.len(),
                days_between(*last, as_of).max(0.0)
            ),
            event: String::new(),
            at: *last,
        });
    }
    for e in &extra {
        *weights.by_stage.entry(e.stage as i32).or_default() += e.weight;
        let first = weights.first.entry(e.stage as i32).or_insert(e.at);
        *first = (*first).min(e.at);
    }
    evidence.extend(extra);
    (evidence, weights)
}

fn last_activity(data: &CustomerData) -> Option<DateTime<Utc>> {
    let last_event = data.events.last_event_time;
    let last_order = data.orders.iter().map(|o| o.order.placed_at.get()).max();
    last_event.max(last_order)
}

/// The time a customer's stage is assessed at: the build's `as_of`, or the customer's latest
/// event if it is later (an event that arrived after the build read the merchant's latest,
/// or dated a little ahead). The stage tally's evidence assumes no event of the customer is
/// left out as later than `as_of` (`stage_tally`).
fn assessed_at(data: &CustomerData, ctx: &BuildContext) -> DateTime<Utc> {
    ctx.as_of
        .max(data.events.last_event_time.unwrap_or(ctx.as_of))
}

pub fn assess(data: &CustomerData, ctx: &BuildContext) -> pb::DecisionStageAssessment {
    let as_of = assessed_at(data, ctx);
    let (mut evidence, weights) = stage_evidence(data, as_of);
    let total: f64 = weights.by_stage.values().sum();
    if total <= 1e-6 {
        return match last_activity(data) {
            Some(last) => {
                let idle = days_between(last, as_of).max(0.0);
                pb::DecisionStageAssessment {
                    stage: DecisionStage::Dormant as i32,
                    confidence: (idle / DORMANT_FULL_CONFIDENCE_DAYS).clamp(0.1, 1.0),
                    since_time: Some(to_timestamp(last + Duration::days(WINDOW_DAYS))),
                    evidence: vec![pb::StageEvidence {
                        description: format!("no activity for {idle:.0} days"),
                        event: String::new(),
                        observe_time: Some(to_timestamp(last)),
                        weight: 1.0,
                    }],
                }
            }
            None => pb::DecisionStageAssessment {
                stage: DecisionStage::NeedRecognition as i32,
                confidence: 0.1,
                since_time: None,
                evidence: Vec::new(),
            },
        };
    }
    // Ties go to the later stage of the funnel (higher enum value).
    let (stage, weight) = weights
        .by_stage
        .iter()
        .max_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(b.0)))
        .map(|(s, w)| (*s, *w))
        .unwrap_or((DecisionStage::NeedRecognition as i32, 0.0));
    evidence.retain(|e| e.stage as i32 == stage);
    let since = weights.first.get(&stage).copied();
    evidence.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(b.at.cmp(&a.at)));
    evidence.truncate(MAX_EVIDENCE);
    pb::DecisionStageAssessment {
        stage,
        confidence: weight / total,
        since_time: since.map(to_timestamp),
        evidence: evidence
            .into_iter()
            .map(|e| pb::StageEvidence {
                description: e.description,
                event: e.event,
                observe_time: Some(to_timestamp(e.at)),
                weight: e.weight.min(1.0),
            })
            .collect(),
    }
}
