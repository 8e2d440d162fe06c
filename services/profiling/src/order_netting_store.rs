//! What [`crate::order_netting`] needs from the store: the orders and lines of the customers
//! who have a credit note (few: most merchants have none, and then this is one query), and
//! the helpers readers use to apply the result to their rows.

use std::collections::HashMap;

use caravan_store::UtcDateTime;
use caravan_store::entity::{order_lines, orders};
use caravan_store::sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect,
};

use crate::error::ProfilingError;
use crate::order_netting::{OrderLines, Reversal, reversals};

/// Ids per `IN (...)` list.
const CHUNK: usize = 500;

/// The reversal of every order of `merchant_id` (or of `customer_ids` only) that a credit
/// note reversed, by order id.
pub async fn merchant_reversals(
    db: &DatabaseConnection,
    merchant_id: &str,
    customer_ids: Option<&[String]>,
) -> Result<HashMap<String, Reversal>, ProfilingError> {
    let mut with_notes = orders::Entity::find()
        .select_only()
        .column(orders::Column::CustomerId)
        .distinct()
        .filter(orders::Column::MerchantId.eq(merchant_id))
        .filter(orders::Column::CreditNote.eq(true));
    if let Some(ids) = customer_ids {
        with_notes = with_notes.filter(orders::Column::CustomerId.is_in(ids.iter().cloned()));
    }
    let customers: Vec<String> = with_notes.into_tuple().all(db).await?;
    let mut out = HashMap::new();
    for chunk in customers.chunks(CHUNK) {
        for orders in customer_orders(db, merchant_id, chunk).await?.into_values() {
            out.extend(reversals(&orders));
        }
    }
    Ok(out)
}

type OrderRow = (String, String, String, UtcDateTime, bool);

/// The orders with lines of `customer_ids`, grouped by customer.
async fn customer_orders(
    db: &DatabaseConnection,
    merchant_id: &str,
    customer_ids: &[String],
) -> Result<HashMap<String, Vec<OrderLines>>, ProfilingError> {
    let rows: Vec<OrderRow> = orders::Entity::find()
        .select_only()
        .columns([
            orders::Column::CustomerId,
            orders::Column::OrderId,
            orders::Column::Status,
            orders::Column::PlacedAt,
            orders::Column::CreditNote,
        ])
        .filter(orders::Column::MerchantId.eq(merchant_id))
        .filter(orders::Column::CustomerId.is_in(customer_ids.iter().cloned()))
        .into_tuple()
        .all(db)
        .await?;
    let mut lines: HashMap<String, Vec<(String, i64, i64)>> = HashMap::new();
    let ids: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
    for chunk in ids.chunks(CHUNK) {
        let found: Vec<(String, String, i32, i64)> = order_lines::Entity::find()
            .select_only()
            .columns([
                order_lines::Column::OrderId,
                order_lines::Column::Sku,
                order_lines::Column::Quantity,
                order_lines::Column::UnitPriceMinor,
            ])
            .filter(order_lines::Column::MerchantId.eq(merchant_id))
            .filter(order_lines::Column::OrderId.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        for (order, sku, quantity, price) in found {
            lines
                .entry(order)
                .or_default()
                .push((sku, i64::from(quantity), price));
        }
    }
    let mut out: HashMap<String, Vec<OrderLines>> = HashMap::new();
    for (customer, order_id, status, placed_at, credit_note) in rows {
        out.entry(customer).or_default().push(OrderLines {
            lines: lines.remove(&order_id).unwrap_or_default(),
            counts: counts(&status, credit_note),
            order_id,
            placed_at: placed_at.get(),
            credit_note,
        });
    }
    Ok(out)
}

/// Whether an order of this status is a sale that counts (and so can be reversed).
pub fn counts(status: &str, credit_note: bool) -> bool {
    !credit_note && status != "CANCELLED"
}
