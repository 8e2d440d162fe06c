//! Merchant-wide facts of profiles: RFM quintile scores and segments. Quintiles rank a
//! customer among all the merchant's buyers. [`refresh_rfm`] ranks them all (one scan of the
//! merchant's orders, writes only for the profiles whose scores changed) and returns the
//! ranking as an [`RfmSnapshot`]; [`score_against`] scores a few changed customers against
//! such a snapshot, which costs what they cost instead of what the merchant costs.

use std::collections::HashMap;

use caravan_store::UtcDateTime;
use caravan_store::entity::{orders, profiles};
use caravan_store::sea_orm::sea_query::Expr;
use caravan_store::sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};
use chrono::{DateTime, Utc};

use crate::codes::rfm_segment_code;
use crate::error::ProfilingError;
use crate::order_netting::Reversal;
use crate::order_netting_store;
use crate::profile_builder::OrderFacts;
use crate::rfm::{self, RfmSnapshot, RfmValues};

/// Per-customer RFM inputs from `(customer, status, placed_at, base_total_minor)` rows:
/// frequency counts orders not cancelled, monetary sums those not cancelled or returned,
/// recency is days from the last order to `as_of`. A customer whose every order was
/// cancelled has transacted but bought nothing: scored with frequency and monetary 0 at the
/// recency of the last (cancelled) order. Customers without any order get no RFM.
pub fn rfm_inputs(
    rows: &[(String, String, DateTime<Utc>, Option<i64>)],
    as_of: DateTime<Utc>,
) -> Vec<(String, RfmValues)> {
    // customer -> (orders counted, money, last counted order, last order of any status)
    type Acc = (u32, i64, Option<DateTime<Utc>>, DateTime<Utc>);
    let mut acc: HashMap<&str, Acc> = HashMap::new();
    for (customer, status, placed, base) in rows {
        let e = acc.entry(customer).or_insert((0, 0, None, *placed));
        e.3 = e.3.max(*placed);
        if status == "CANCELLED" {
            continue;
        }
        e.0 += 1;
        if status != "RETURNED" {
            e.1 = e.1.saturating_add(base.unwrap_or(0));
        }
        e.2 = Some(e.2.map_or(*placed, |t| t.max(*placed)));
    }
    let mut out: Vec<(String, RfmValues)> = acc
        .into_iter()
        .map(|(c, (frequency, monetary, last_counted, last_any))| {
            let last = last_counted.unwrap_or(last_any);
            (
                c.to_owned(),
                RfmValues {
                    recency_days: crate::profile_builder::days_between(last, as_of).max(0.0),
                    frequency,
                    monetary,
                },
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

type Scores = (Option<i16>, Option<i16>, Option<i16>, Option<String>);
/// A profile's customer id and stored RFM columns.
type ScoreRow = (
    String,
    Option<i16>,
    Option<i16>,
    Option<i16>,
    Option<String>,
);

/// Recomputes the merchant's RFM scores; returns how many profiles changed, and the ranking.
pub async fn refresh_rfm(
    db: &DatabaseConnection,
    merchant_id: &str,
    as_of: DateTime<Utc>,
) -> Result<(usize, RfmSnapshot), ProfilingError> {
    type Row = (String, String, String, UtcDateTime, Option<i64>, bool);
    let rows: Vec<Row> = orders::Entity::find()
        .select_only()
        .column(orders::Column::CustomerId)
        .column(orders::Column::OrderId)
        .column(orders::Column::Status)
        .column(orders::Column::PlacedAt)
        .column(orders::Column::BaseTotalMinor)
        .column(orders::Column::CreditNote)
        .filter(orders::Column::MerchantId.eq(merchant_id))
        .into_tuple()
        .all(db)
        .await?;
    let reversed = order_netting_store::merchant_reversals(db, merchant_id, None).await?;
    // Net of credit notes: an order reversed entirely counts as cancelled, one reversed in
    // part with what is left; the credit notes themselves are cancelled orders.
    let rows: Vec<_> = rows
        .into_iter()
        .map(|(c, order_id, status, t, base, credit_note)| {
            match (credit_note, reversed.get(&order_id)) {
                (true, _) | (_, Some(Reversal { entire: true, .. })) => {
                    (c, "CANCELLED".to_owned(), t.get(), base)
                }
                (false, Some(r)) => (c, status, t.get(), base.map(|b| r.net(b))),
                (false, None) => (c, status, t.get(), base),
            }
        })
        .collect();
    let inputs = rfm_inputs(&rows, as_of);
    let values: Vec<RfmValues> = inputs.iter().map(|(_, v)| *v).collect();
    let snapshot = RfmSnapshot::of(&values, as_of);
    let scores = rfm::score(&values);
    let mut wanted: HashMap<String, Scores> = inputs
        .iter()
        .zip(scores)
        .map(|((c, _), s)| (c.clone(), columns(s)))
        .collect();
    let current: Vec<ScoreRow> = profiles::Entity::find()
        .select_only()
        .column(profiles::Column::CustomerId)
        .column(profiles::Column::RfmRecency)
        .column(profiles::Column::RfmFrequency)
        .column(profiles::Column::RfmMonetary)
        .column(profiles::Column::RfmSegment)
        .filter(profiles::Column::MerchantId.eq(merchant_id))
        .into_tuple()
        .all(db)
        .await?;
    // Group the changed profiles by their new scores: one UPDATE per distinct score tuple
    // (at most 5^3 of them) and chunk of ids, instead of one per profile.
    let mut changes: HashMap<Scores, Vec<String>> = HashMap::new();
    for (customer, r, f, m, segment) in current {
        let want = wanted.remove(&customer).unwrap_or((None, None, None, None));
        if want != (r, f, m, segment) {
            changes.entry(want).or_default().push(customer);
        }
    }
    let changed = changes.values().map(Vec::len).sum();
    write_scores(db, merchant_id, changes).await?;
    Ok((changed, snapshot))
}

/// The stored form of scores.
fn columns(s: rfm::RfmScores) -> Scores {
    (
        Some(i16::from(s.recency)),
        Some(i16::from(s.frequency)),
        Some(i16::from(s.monetary)),
        Some(rfm_segment_code(s.segment())),
    )
}

/// Writes scores, one UPDATE per distinct score tuple (at most 5^3 of them) and chunk of
/// ids, instead of one per profile; in one transaction.
async fn write_scores(
    db: &DatabaseConnection,
    merchant_id: &str,
    changes: HashMap<Scores, Vec<String>>,
) -> Result<(), ProfilingError> {
    let txn = db.begin().await?;
    for (want, customers) in changes {
        for chunk in customers.chunks(500) {
            profiles::Entity::update_many()
                .col_expr(profiles::Column::RfmRecency, Expr::value(want.0))
                .col_expr(profiles::Column::RfmFrequency, Expr::value(want.1))
                .col_expr(profiles::Column::RfmMonetary, Expr::value(want.2))
                .col_expr(profiles::Column::RfmSegment, Expr::value(want.3.clone()))
                .filter(profiles::Column::MerchantId.eq(merchant_id))
                .filter(profiles::Column::CustomerId.is_in(chunk.iter().cloned()))
                .exec(&txn)
                .await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

/// One order as RFM counts it: `(status, placed, base total)`.
pub type OrderRow = (String, DateTime<Utc>, Option<i64>);

/// A customer's id and their [`OrderRow`]s.
pub type CustomerOrders = (String, Vec<OrderRow>);

/// The RFM rows of one customer's orders as the portrait counts them (credit notes as
/// cancelled orders; orders they reverse already netted by `portrait_input`).
pub fn order_rows(orders: &[OrderFacts]) -> Vec<OrderRow> {
    orders
        .iter()
        .map(|o| {
            let status = if o.order.credit_note {
                "CANCELLED".to_owned()
            } else {
                o.order.status.clone()
            };
            (status, o.order.placed_at.get(), o.order.base_total_minor)
        })
        .collect()
}

/// Scores `customers` (id and [`order_rows`]) against `snapshot` and writes their scores;
/// a customer without orders is left unscored.
pub async fn score_against(
    db: &DatabaseConnection,
    merchant_id: &str,
    snapshot: &RfmSnapshot,
    customers: &[CustomerOrders],
) -> Result<(), ProfilingError> {
    let rows: Vec<(String, String, DateTime<Utc>, Option<i64>)> = customers
        .iter()
        .flat_map(|(id, rows)| {
            rows.iter()
                .map(move |(status, placed, base)| (id.clone(), status.clone(), *placed, *base))
        })
        .collect();
    let mut changes: HashMap<Scores, Vec<String>> = HashMap::new();
    for (id, values) in rfm_inputs(&rows, snapshot.as_of) {
        changes
            .entry(columns(snapshot.score(values)))
            .or_default()
            .push(id);
    }
    write_scores(db, merchant_id, changes).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(day: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2024-01-{day:02}T00:00:00Z"))
            .expect("valid")
            .to_utc()
    }

    #[test]
    fn inputs_count_cancelled_orders_for_recency_only_and_returned_money_not_at_all() {
        let rows = vec![
            ("a".to_owned(), "PAID".to_owned(), t(1), Some(1000)),
            ("a".to_owned(), "RETURNED".to_owned(), t(5), Some(700)),
            ("a".to_owned(), "CANCELLED".to_owned(), t(9), Some(9999)),
            ("b".to_owned(), "CANCELLED".to_owned(), t(2), Some(50)),
            ("c".to_owned(), "DELIVERED".to_owned(), t(3), None),
        ];
        let got = rfm_inputs(&rows, t(11));
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, "a");
        assert_eq!(got[0].1.frequency, 2);
        assert_eq!(got[0].1.monetary, 1000);
        assert!(
            (got[0].1.recency_days - 6.0).abs() < 1e-9,
            "last counted order on the 5th"
        );
        assert_eq!(
            (got[1].0.as_str(), got[1].1.frequency, got[1].1.monetary),
            ("b", 0, 0),
            "only cancelled orders: scored as a buyer of nothing"
        );
        assert!(
            (got[1].1.recency_days - 9.0).abs() < 1e-9,
            "at its last order"
        );
        assert_eq!(got[2].1.monetary, 0, "unknown base amount counts as 0");
    }
}
