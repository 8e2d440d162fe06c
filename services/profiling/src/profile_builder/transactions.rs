//! Transactions: orders, revenue in base currency, payment behaviour and logistics
//! sensitivity (report section 4: delays, shipping cost, tracking, after-sales).

use std::collections::{HashMap, HashSet};

use caravan_core::money;
use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1::PaymentOutcome;
use caravan_proto::caravan::ingestion::v1::event::Payload;
use caravan_proto::caravan::profiling::v1 as pb;
use chrono::{DateTime, Duration, Utc};

use serde::{Deserialize, Serialize};

use super::basic::enum_value;
use super::{
    BuildContext, CustomerData, OrderFacts, StoredEvent, days_between, saturation, share,
    top_counts,
};

/// A late order counts as repurchased when another order follows within this many days
/// of its delivery.
pub const REPURCHASE_WINDOW_DAYS: i64 = 90;

/// Whether the order counts as placed (not cancelled).
pub(crate) fn counts(o: &OrderFacts) -> bool {
    o.order.status != "CANCELLED"
}

/// The order total in base currency, if known.
pub(crate) fn base_total(o: &OrderFacts, ctx: &BuildContext) -> Option<i64> {
    o.order
        .base_total_minor
        .filter(|_| o.order.base_currency.as_deref() == Some(ctx.base_currency.as_str()))
        .or_else(|| ctx.to_base(&o.order.currency, o.order.total_minor))
}

/// Revenue per order id, net of returns: a RETURNED order contributes nothing, partial
/// refunds are subtracted at the order's own conversion rate.
pub(crate) fn net_revenue(data: &CustomerData, ctx: &BuildContext) -> HashMap<String, i64> {
    let mut revenue: HashMap<String, i64> = data
        .orders
        .iter()
        .filter(|o| counts(o) && o.order.status != "RETURNED")
        .filter_map(|o| Some((o.order.order_id.clone(), base_total(o, ctx)?)))
        .collect();
    for refund in &data.events.transactions.refunds {
        let Some(order) = data
            .orders
            .iter()
            .find(|o| o.order.order_id == refund.order_id)
        else {
            continue;
        };
        let refund_base =
            if refund.currency_code == order.order.currency && order.order.total_minor > 0 {
                base_total(order, ctx).map(|b| {
                    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
                    let v = (refund.amount_minor as f64 * b as f64 / order.order.total_minor as f64)
                        .round() as i64;
                    v
                })
            } else {
                ctx.to_base(&refund.currency_code, refund.amount_minor)
            };
        if let (Some(r), Some(rev)) = (refund_base, revenue.get_mut(&order.order.order_id)) {
            *rev = rev.saturating_sub(r).max(0);
        }
    }
    revenue
}

/// A refund of a return, as kept between builds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Refund {
    order_id: String,
    currency_code: String,
    amount_minor: i64,
}

/// What the transactions dimension keeps of a customer's events, one event at a time
/// (orders themselves come from the `orders` projection at build time).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TransactionTally {
    /// Refunds of returns, in the order they happened.
    refunds: Vec<Refund>,
    /// Payment attempts reported on order events, by method: all and succeeded.
    payment_attempts: HashMap<i32, i64>,
    payment_successes: HashMap<i32, i64>,
    attempts: u64,
    failed_attempts: u64,
    /// Orders with an after-sales ticket, a 1–2 star review, or a return.
    ticketed_orders: HashSet<String>,
    badly_reviewed_orders: HashSet<String>,
    returned_orders: HashSet<String>,
    /// Checkout steps about shipping.
    shipping_steps: Vec<DateTime<Utc>>,
}

impl TransactionTally {
    pub(crate) fn apply(&mut self, e: &StoredEvent) {
        match &e.payload {
            Payload::ReturnGoods(r) => {
                if let Some(refund) = &r.refund {
                    self.refunds.push(Refund {
                        order_id: r.order_id.clone(),
                        currency_code: refund.currency_code.clone(),
                        amount_minor: refund.amount_minor,
                    });
                }
                self.returned_orders.insert(r.order_id.clone());
            }
            Payload::Order(o) => {
                let Some(p) = &o.payment else { return };
                let succeeded = match PaymentOutcome::try_from(p.outcome) {
                    Ok(PaymentOutcome::Succeeded) => true,
                    Ok(PaymentOutcome::Failed) => false,
                    _ => return,
                };
                self.attempts += 1;
                *self.payment_attempts.entry(p.method).or_default() += 1;
                if succeeded {
                    *self.payment_successes.entry(p.method).or_default() += 1;
                } else {
                    self.failed_attempts += 1;
                }
            }
            Payload::AfterSalesTicket(t) => {
                self.ticketed_orders.insert(t.order_id.clone());
            }
            Payload::Review(r) if (1..=2).contains(&r.rating) => {
                self.badly_reviewed_orders.insert(r.order_id.clone());
            }
            Payload::CheckoutStep(s) if s.step_name.to_lowercase().contains("shipping") => {
                self.shipping_steps.push(e.occur_time);
            }
            _ => {}
        }
    }
}

fn payments(data: &CustomerData, d: &mut pb::TransactionsDimension) {
    let t = &data.events.transactions;
    let (all, ok, attempts, failed) = if t.attempts > 0 {
        (
            t.payment_attempts.clone(),
            t.payment_successes.clone(),
            t.attempts,
            t.failed_attempts,
        )
    } else {
        // Orders whose events carried no outcome: the projected method counts as a success.
        let mut all: HashMap<i32, i64> = HashMap::new();
        let mut ok: HashMap<i32, i64> = HashMap::new();
        let (mut attempts, mut failed) = (0, 0);
        for o in &data.orders {
            let method = enum_value(o.order.payment_method.as_deref(), "PAYMENT_METHOD_", |n| {
                common::PaymentMethod::from_str_name(n).map(|e| e as i32)
            });
            if method == 0 {
                continue;
            }
            attempts += 1;
            *all.entry(method).or_default() += 1;
            if o.order.payment_outcome.as_deref() == Some("FAILED") {
                failed += 1;
            } else {
                *ok.entry(method).or_default() += 1;
            }
        }
        (all, ok, attempts, failed)
    };
    let attempts = usize::try_from(attempts).unwrap_or(usize::MAX);
    d.preferred_payment_method = top_counts(&ok, 1).first().map_or(0, |(m, _)| *m);
    d.payment_method_mix = top_counts(&all, usize::MAX)
        .into_iter()
        .map(|(payment_method, n)| pb::PaymentMethodShare {
            payment_method,
            share: share(usize::try_from(n).unwrap_or(0), attempts),
        })
        .collect();
    d.payment_failure_rate = share(usize::try_from(failed).unwrap_or(usize::MAX), attempts);
}

fn delivery_time(o: &OrderFacts) -> Option<DateTime<Utc>> {
    let days = o.order.actual_days?;
    Some(o.order.placed_at.get() + Duration::days(i64::from(days)))
}

fn post_delay(data: &CustomerData, late: &[&OrderFacts]) -> pb::PostDelayBehaviour {
    let mut repurchased = 0;
    let mut ticketed = 0;
    let mut negative = 0;
    let mut returned = 0;
    for o in late {
        let id = &o.order.order_id;
        if let Some(delivered) = delivery_time(o) {
            let until = delivered + Duration::days(REPURCHASE_WINDOW_DAYS);
            if data.orders.iter().any(|other| {
                let t = other.order.placed_at.get();
                counts(other) && t > delivered && t <= until
            }) {
                repurchased += 1;
            }
        }
        let t = &data.events.transactions;
        let has_ticket = t.ticketed_orders.contains(id);
        let has_negative = t.badly_reviewed_orders.contains(id);
        let has_return = o.order.status == "RETURNED" || t.returned_orders.contains(id);
        ticketed += usize::from(has_ticket);
        negative += usize::from(has_negative);
        returned += usize::from(has_return);
    }
    pb::PostDelayBehaviour {
        delayed_order_count: i64::try_from(late.len()).unwrap_or(i64::MAX),
        repurchase_rate: share(repurchased, late.len()),
        ticket_rate: share(ticketed, late.len()),
        negative_review_rate: share(negative, late.len()),
        return_rate: share(returned, late.len()),
    }
}

/// Share of checkout steps about shipping that were not followed by an order in 24 hours.
fn shipping_step_abandonment(data: &CustomerData) -> Option<f64> {
    let steps = &data.events.transactions.shipping_steps;
    (!steps.is_empty())
        .then(|| super::behaviour::abandonment(steps, &data.events.funnel.order_times()))
}

fn logistics(
    data: &CustomerData,
    ctx: &BuildContext,
    placed: &[&OrderFacts],
) -> pb::LogisticsSensitivity {
    let delivered: Vec<&OrderFacts> = placed
        .iter()
        .copied()
        .filter(|o| o.order.promised_days.is_some() && o.order.actual_days.is_some())
        .collect();
    let late: Vec<&OrderFacts> = delivered
        .iter()
        .copied()
        .filter(|o| o.order.actual_days > o.order.promised_days)
        .collect();
    let delays: Vec<f64> = late
        .iter()
        .filter_map(|o| Some(f64::from(o.order.actual_days? - o.order.promised_days?)))
        .collect();
    let shipping: Vec<i64> = placed
        .iter()
        .filter_map(|o| ctx.to_base(&o.order.currency, o.order.shipping_cost_minor?))
        .collect();
    let with_tracking_info: Vec<bool> = placed
        .iter()
        .filter_map(|o| o.order.tracking_offered)
        .collect();
    // Heuristic, documented in the README: abandoning at the shipping step and ordering
    // mostly when shipping is free both signal sensitivity to shipping cost.
    let free_share = (!shipping.is_empty())
        .then(|| share(shipping.iter().filter(|c| **c == 0).count(), shipping.len()));
    let signals: Vec<f64> = [shipping_step_abandonment(data), free_share]
        .into_iter()
        .flatten()
        .collect();
    #[allow(clippy::cast_precision_loss)]
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    pb::LogisticsSensitivity {
        late_delivery_share: share(late.len(), delivered.len()),
        average_delay_days: mean(&delays),
        shipping_cost_sensitivity: mean(&signals),
        tracking_usage_rate: share(
            with_tracking_info.iter().filter(|t| **t).count(),
            with_tracking_info.len(),
        ),
        post_delay_behaviour: Some(post_delay(data, &late)),
        average_shipping_cost: money::mean_minor(
            money::sum_minor(shipping.iter().copied()),
            shipping.len(),
        )
        .map(|mean| ctx.money(mean)),
    }
}

pub fn build(data: &CustomerData, ctx: &BuildContext) -> pb::TransactionsDimension {
    let placed: Vec<&OrderFacts> = data.orders.iter().filter(|o| counts(o)).collect();
    let revenue_by_order = net_revenue(data, ctx);
    // Exact, then saturated: thousands of large orders must not wrap to a negative figure.
    let revenue = money::sum_minor(revenue_by_order.values().copied());
    let mut d = pb::TransactionsDimension {
        order_count: i64::try_from(placed.len()).unwrap_or(i64::MAX),
        cancelled_order_count: i64::try_from(data.orders.len() - placed.len()).unwrap_or(0),
        ..Default::default()
    };
    if !placed.is_empty() {
        d.revenue = Some(ctx.money(money::saturate(revenue)));
        let priced = placed
            .iter()
            .filter(|o| base_total(o, ctx).is_some())
            .count();
        d.average_order_value = money::mean_minor(revenue, priced).map(|aov| ctx.money(aov));
        let mut times: Vec<DateTime<Utc>> =
            placed.iter().map(|o| o.order.placed_at.get()).collect();
        times.sort();
        d.first_order_time = times.first().map(|t| to_timestamp(*t));
        d.last_order_time = times.last().map(|t| to_timestamp(*t));
        if times.len() >= 2 {
            #[allow(clippy::cast_precision_loss)]
            let gaps = (times.len() - 1) as f64;
            d.average_days_between_orders = days_between(times[0], times[times.len() - 1]) / gaps;
        }
        let discounted = placed
            .iter()
            .filter(|o| {
                o.order.discount_minor.is_some_and(|x| x > 0)
                    || o.order
                        .coupon_code
                        .as_deref()
                        .is_some_and(|c| !c.is_empty())
            })
            .count();
        d.discount_order_share = share(discounted, placed.len());
        d.logistics = Some(logistics(data, ctx, &placed));
    }
    payments(data, &mut d);
    #[allow(clippy::cast_precision_loss)]
    let evidence = data.orders.len() as f64;
    d.completeness = saturation(evidence, 3.0);
    d
}
