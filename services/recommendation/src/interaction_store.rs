//! Reads what training and serving need from the store: interactions (order lines and
//! events, see [`crate::signals`]), customers' countries and RFM segments, and the
//! catalogue.

use std::collections::HashMap;

use caravan_store::entity::{customers, events, order_lines, orders, products, profiles};
use caravan_store::sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use caravan_store::{StoreError, UtcDateTime};
use chrono::{DateTime, Utc};

use crate::engine::interactions::Interaction;
use crate::engine::serving::{CatalogItem, Catalogue};
use crate::signals;

/// Events read per query (keyset pagination on `events.id`).
const EVENT_PAGE: u64 = 20_000;

/// Interactions of `merchant` with `start <= time < end`.
pub async fn load_interactions(
    db: &DatabaseConnection,
    merchant: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<Interaction>, StoreError> {
    let (start, end) = (UtcDateTime::new(start), UtcDateTime::new(end));
    let order_rows: Vec<(String, String, String, UtcDateTime)> = orders::Entity::find()
        .select_only()
        .column(orders::Column::OrderId)
        .column(orders::Column::CustomerId)
        .column(orders::Column::Status)
        .column(orders::Column::PlacedAt)
        .filter(orders::Column::MerchantId.eq(merchant))
        .filter(orders::Column::PlacedAt.gte(start))
        .filter(orders::Column::PlacedAt.lt(end))
        .into_tuple()
        .all(db)
        .await?;
    let by_order: HashMap<String, (String, String, i64)> = order_rows
        .into_iter()
        .map(|(id, customer, status, at)| (id, (customer, status, at.get().timestamp())))
        .collect();
    let mut out = Vec::new();
    if !by_order.is_empty() {
        let lines: Vec<(String, String)> = order_lines::Entity::find()
            .select_only()
            .column(order_lines::Column::OrderId)
            .column(order_lines::Column::Sku)
            .filter(order_lines::Column::MerchantId.eq(merchant))
            .into_tuple()
            .all(db)
            .await?;
        for (order_id, sku) in lines {
            if let Some((customer, status, time)) = by_order.get(&order_id) {
                out.extend(signals::from_order_line(customer, &sku, status, *time));
            }
        }
    }
    let mut after = 0i64;
    let mut skipped = 0usize;
    loop {
        let page: Vec<(i64, String, UtcDateTime, Vec<u8>)> = events::Entity::find()
            .select_only()
            .column(events::Column::Id)
            .column(events::Column::CustomerId)
            .column(events::Column::OccurTime)
            .column(events::Column::Payload)
            .filter(events::Column::MerchantId.eq(merchant))
            .filter(events::Column::Kind.is_in(signals::EVENT_KINDS))
            .filter(events::Column::OccurTime.gte(start))
            .filter(events::Column::OccurTime.lt(end))
            .filter(events::Column::Id.gt(after))
            .order_by_asc(events::Column::Id)
            .limit(EVENT_PAGE)
            .into_tuple()
            .all(db)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.0;
        let full = page.len() as u64 == EVENT_PAGE;
        for (_, customer, at, payload) in page {
            let opened = caravan_store::pii::open_event_payload(merchant, &payload)
                .map_err(caravan_store::sea_orm::DbErr::from)?;
            match caravan_proto::stored_event::decode_payload(&opened) {
                Some(p) => out.extend(signals::from_event(&customer, at.get().timestamp(), &p)),
                None => skipped += 1,
            }
        }
        if !full {
            break;
        }
    }
    if skipped > 0 {
        tracing::warn!(
            merchant,
            skipped,
            "events with an unreadable payload skipped"
        );
    }
    Ok(out)
}

/// Customer id → ISO alpha-2 country, for customers with a country.
pub async fn load_countries(
    db: &DatabaseConnection,
    merchant: &str,
) -> Result<HashMap<String, String>, StoreError> {
    let rows: Vec<(String, Option<String>)> = customers::Entity::find()
        .select_only()
        .column(customers::Column::Id)
        .column(customers::Column::Country)
        .filter(customers::Column::MerchantId.eq(merchant))
        .filter(customers::Column::Country.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, c)| c.map(|c| (id, c)))
        .collect())
}

/// Customer id → segment id of its built-in RFM segment as profiling names it
/// (`champions`, `potential-loyalists`, ...), for customers profiling has scored.
pub async fn load_segments(
    db: &DatabaseConnection,
    merchant: &str,
) -> Result<HashMap<String, String>, StoreError> {
    let rows: Vec<(String, Option<String>)> = profiles::Entity::find()
        .select_only()
        .column(profiles::Column::CustomerId)
        .column(profiles::Column::RfmSegment)
        .filter(profiles::Column::MerchantId.eq(merchant))
        .filter(profiles::Column::RfmSegment.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, code)| Some((id, rfm_segment_id(code.as_deref()?)?.to_owned())))
        .collect())
}

/// Profiling's segment id of a stored RFM segment code (`AT_RISK` → `at-risk`).
pub fn rfm_segment_id(code: &str) -> Option<&'static str> {
    Some(match code {
        "CHAMPIONS" => "champions",
        "LOYAL" => "loyal",
        "POTENTIAL_LOYALIST" => "potential-loyalists",
        "NEW" => "new",
        "PROMISING" => "promising",
        "NEED_ATTENTION" => "need-attention",
        "ABOUT_TO_SLEEP" => "about-to-sleep",
        "AT_RISK" => "at-risk",
        "CANT_LOSE" => "cant-lose",
        "HIBERNATING" => "hibernating",
        "LOST" => "lost",
        _ => return None,
    })
}

/// The country of one customer (for customers the serving model has not seen).
pub async fn customer_country(
    db: &DatabaseConnection,
    merchant: &str,
    customer: &str,
) -> Result<Option<String>, StoreError> {
    let row: Option<Option<String>> = customers::Entity::find()
        .select_only()
        .column(customers::Column::Country)
        .filter(customers::Column::MerchantId.eq(merchant))
        .filter(customers::Column::Id.eq(customer))
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.flatten())
}

/// The merchant's whole catalogue.
pub async fn load_catalogue(
    db: &DatabaseConnection,
    merchant: &str,
) -> Result<Catalogue, StoreError> {
    let rows = products::Entity::find()
        .filter(products::Column::MerchantId.eq(merchant))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|p| {
            let ships: Vec<String> = p
                .ship_to_countries
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            (
                p.sku,
                CatalogItem {
                    title: p.title,
                    category: p.category_path,
                    brand: p.brand,
                    ships_to: (!ships.is_empty()).then_some(ships),
                    in_stock: p.stock > 0,
                    replenishable: p.replenishable,
                    active: p.active,
                },
            )
        })
        .collect())
}

/// A cheap fingerprint of the catalogue: (product count, latest update). The serving
/// refresher reloads the catalogue only when it changes.
pub async fn catalogue_stamp(
    db: &DatabaseConnection,
    merchant: &str,
) -> Result<(i64, Option<UtcDateTime>), StoreError> {
    let row: Option<(i64, Option<UtcDateTime>)> = products::Entity::find()
        .select_only()
        .column_as(products::Column::Sku.count(), "n")
        .column_as(products::Column::UpdatedAt.max(), "latest")
        .filter(products::Column::MerchantId.eq(merchant))
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.unwrap_or((0, None)))
}
