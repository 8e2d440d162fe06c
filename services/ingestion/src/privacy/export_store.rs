//! SQL of an export: the rows of one customer (and the customers merged into it) in the
//! tables read only for exports. Reads only.

use std::collections::HashMap;

use caravan_store::entity::{
    contact_log, customer_contacts, customers, events, identity_merges, order_lines, orders,
};
use caravan_store::pii;
use caravan_store::sea_orm::sea_query::ExprTrait as _;
use caravan_store::sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

/// Events read at a time.
pub const EVENT_PAGE: u64 = 500;

/// The customers merged into `id`.
pub async fn merged_into<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    id: &str,
) -> Result<Vec<customers::Model>, DbErr> {
    let mut rows = customers::Entity::find()
        .filter(customers::Column::MerchantId.eq(merchant_id))
        .filter(customers::Column::MergedInto.eq(id))
        .order_by_asc(customers::Column::Id)
        .all(db)
        .await?;
    for row in &mut rows {
        pii::open_customer(row)?;
    }
    Ok(rows)
}

pub async fn contacts<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    ids: &[String],
) -> Result<Vec<customer_contacts::Model>, DbErr> {
    let mut rows = customer_contacts::Entity::find()
        .filter(customer_contacts::Column::MerchantId.eq(merchant_id))
        .filter(customer_contacts::Column::CustomerId.is_in(ids.iter().cloned()))
        .order_by_asc(customer_contacts::Column::CustomerId)
        .order_by_asc(customer_contacts::Column::Id)
        .all(db)
        .await?;
    for row in &mut rows {
        pii::open_contact(row)?;
    }
    Ok(rows)
}

/// The customers' events after row `after`, oldest first.
pub async fn events_after<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    ids: &[String],
    after: i64,
) -> Result<Vec<events::Model>, DbErr> {
    events::Entity::find()
        .filter(events::Column::MerchantId.eq(merchant_id))
        .filter(events::Column::CustomerId.is_in(ids.iter().cloned()))
        .filter(events::Column::Id.gt(after))
        .order_by_asc(events::Column::Id)
        .limit(EVENT_PAGE)
        .all(db)
        .await
}

/// The customers' orders with their lines, oldest first.
pub async fn orders<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    ids: &[String],
) -> Result<Vec<(orders::Model, Vec<order_lines::Model>)>, DbErr> {
    let orders = orders::Entity::find()
        .filter(orders::Column::MerchantId.eq(merchant_id))
        .filter(orders::Column::CustomerId.is_in(ids.iter().cloned()))
        .order_by_asc(orders::Column::PlacedAt)
        .order_by_asc(orders::Column::OrderId)
        .all(db)
        .await?;
    let mut lines: HashMap<String, Vec<order_lines::Model>> = HashMap::new();
    for chunk in orders.chunks(500) {
        let rows = order_lines::Entity::find()
            .filter(order_lines::Column::MerchantId.eq(merchant_id))
            .filter(order_lines::Column::OrderId.is_in(chunk.iter().map(|o| o.order_id.clone())))
            .order_by_asc(order_lines::Column::LineNo)
            .all(db)
            .await?;
        for line in rows {
            lines.entry(line.order_id.clone()).or_default().push(line);
        }
    }
    Ok(orders
        .into_iter()
        .map(|o| {
            let l = lines.remove(&o.order_id).unwrap_or_default();
            (o, l)
        })
        .collect())
}

pub async fn identity_merges<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    ids: &[String],
) -> Result<Vec<identity_merges::Model>, DbErr> {
    identity_merges::Entity::find()
        .filter(identity_merges::Column::MerchantId.eq(merchant_id))
        .filter(
            identity_merges::Column::SourceCustomerId
                .is_in(ids.iter().cloned())
                .or(identity_merges::Column::TargetCustomerId.is_in(ids.iter().cloned())),
        )
        .order_by_asc(identity_merges::Column::Id)
        .all(db)
        .await
}

/// Marketing's contact log for the customers (read, never written, here).
pub async fn marketing_contacts<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    ids: &[String],
) -> Result<Vec<contact_log::Model>, DbErr> {
    contact_log::Entity::find()
        .filter(contact_log::Column::MerchantId.eq(merchant_id))
        .filter(contact_log::Column::CustomerId.is_in(ids.iter().cloned()))
        .order_by_asc(contact_log::Column::Id)
        .all(db)
        .await
}
