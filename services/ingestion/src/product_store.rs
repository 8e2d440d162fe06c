//! Products and exchange rates in the store.

use caravan_store::entity::{exchange_rates, products};
use caravan_store::sea_orm::sea_query::{LikeExpr, OnConflict};
use caravan_store::sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use caravan_store::{UtcDateTime, is_unique_violation};
use chrono::NaiveDate;

use crate::error::IngestionError;
use crate::product_rules::ProductFields;

fn row(merchant_id: &str, sku: &str, f: &ProductFields, now: UtcDateTime) -> products::ActiveModel {
    products::ActiveModel {
        merchant_id: Set(merchant_id.to_owned()),
        sku: Set(sku.to_owned()),
        title: Set(f.title.clone()),
        category_path: Set(f.category_path.clone()),
        brand: Set(f.brand.clone()),
        price_minor: Set(f.price.0),
        currency: Set(f.price.1.clone()),
        ship_to_countries: Set(f.ship_to_countries.clone()),
        stock: Set(f.stock),
        replenishable: Set(f.replenishable),
        active: Set(f.active),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

fn upsert_conflict() -> OnConflict {
    OnConflict::columns([products::Column::MerchantId, products::Column::Sku])
        .update_columns([
            products::Column::Title,
            products::Column::CategoryPath,
            products::Column::Brand,
            products::Column::PriceMinor,
            products::Column::Currency,
            products::Column::ShipToCountries,
            products::Column::Stock,
            products::Column::Replenishable,
            products::Column::Active,
            products::Column::UpdatedAt,
        ])
        .to_owned()
}

pub async fn insert(
    db: &DatabaseConnection,
    merchant_id: &str,
    sku: &str,
    fields: &ProductFields,
) -> Result<products::Model, IngestionError> {
    match products::Entity::insert(row(merchant_id, sku, fields, UtcDateTime::now()))
        .exec_without_returning(db)
        .await
    {
        Ok(_) => get(db, merchant_id, sku).await,
        Err(err) if is_unique_violation(&err) => Err(IngestionError::AlreadyExists(format!(
            "merchants/{merchant_id}/products/{sku}"
        ))),
        Err(err) => Err(err.into()),
    }
}

pub async fn find(
    db: &DatabaseConnection,
    merchant_id: &str,
    sku: &str,
) -> Result<Option<products::Model>, IngestionError> {
    Ok(
        products::Entity::find_by_id((merchant_id.to_owned(), sku.to_owned()))
            .one(db)
            .await?,
    )
}

pub async fn get(
    db: &DatabaseConnection,
    merchant_id: &str,
    sku: &str,
) -> Result<products::Model, IngestionError> {
    find(db, merchant_id, sku)
        .await?
        .ok_or_else(|| IngestionError::NotFound(format!("merchants/{merchant_id}/products/{sku}")))
}

/// Creates or replaces products in one transaction; returns the stored rows in request
/// order and how many were new.
pub async fn upsert_many(
    db: &DatabaseConnection,
    merchant_id: &str,
    items: &[(String, ProductFields)],
) -> Result<(Vec<products::Model>, usize), IngestionError> {
    let txn = db.begin().await?;
    let skus: Vec<String> = items.iter().map(|(sku, _)| sku.clone()).collect();
    let existing: Vec<String> = products::Entity::find()
        .select_only()
        .column(products::Column::Sku)
        .filter(products::Column::MerchantId.eq(merchant_id))
        .filter(products::Column::Sku.is_in(skus.clone()))
        .into_tuple()
        .all(&txn)
        .await?;
    let now = UtcDateTime::now();
    let rows: Vec<_> = items
        .iter()
        .map(|(sku, f)| row(merchant_id, sku, f, now))
        .collect();
    let mut rows = rows;
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(500));
        products::Entity::insert_many(rows)
            .on_conflict(upsert_conflict())
            .exec_without_returning(&txn)
            .await?;
        rows = rest;
    }
    let stored = products::Entity::find()
        .filter(products::Column::MerchantId.eq(merchant_id))
        .filter(products::Column::Sku.is_in(skus.clone()))
        .all(&txn)
        .await?;
    txn.commit().await?;
    let mut by_sku: std::collections::HashMap<String, products::Model> =
        stored.into_iter().map(|r| (r.sku.clone(), r)).collect();
    let ordered = skus.iter().filter_map(|s| by_sku.remove(s)).collect();
    let created = skus.iter().filter(|s| !existing.contains(s)).count();
    Ok((ordered, created))
}

pub async fn replace(
    db: &DatabaseConnection,
    merchant_id: &str,
    sku: &str,
    fields: &ProductFields,
) -> Result<products::Model, IngestionError> {
    products::Entity::insert(row(merchant_id, sku, fields, UtcDateTime::now()))
        .on_conflict(upsert_conflict())
        .exec_without_returning(db)
        .await?;
    get(db, merchant_id, sku).await
}

#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    pub category_prefix: Option<String>,
    pub brand: Option<String>,
    pub active: Option<bool>,
    pub replenishable: Option<bool>,
}

/// A LIKE pattern for the values that start with `prefix` taken literally: a `%` or `_` in a
/// caller's category is a character to match, not a wildcard. `!` escapes, because a
/// backslash is itself special in MySQL string literals.
fn literal_prefix(prefix: &str) -> LikeExpr {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '!' | '%' | '_') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    LikeExpr::new(pattern).escape('!')
}

pub async fn list(
    db: &DatabaseConnection,
    merchant_id: &str,
    filter: &ProductFilter,
    order: (products::Column, bool),
    offset: u64,
    limit: u64,
) -> Result<(Vec<products::Model>, u64), IngestionError> {
    let mut query = products::Entity::find().filter(products::Column::MerchantId.eq(merchant_id));
    if let Some(prefix) = &filter.category_prefix {
        query = query.filter(
            Condition::any()
                .add(products::Column::CategoryPath.eq(prefix.as_str()))
                .add(products::Column::CategoryPath.like(literal_prefix(&format!("{prefix} > ")))),
        );
    }
    if let Some(brand) = &filter.brand {
        query = query.filter(products::Column::Brand.eq(brand.as_str()));
    }
    if let Some(active) = filter.active {
        query = query.filter(products::Column::Active.eq(active));
    }
    if let Some(r) = filter.replenishable {
        query = query.filter(products::Column::Replenishable.eq(r));
    }
    let total = query.clone().count(db).await?;
    let (column, desc) = order;
    query = if desc {
        query
            .order_by_desc(column)
            .order_by_desc(products::Column::Sku)
    } else {
        query
            .order_by_asc(column)
            .order_by_asc(products::Column::Sku)
    };
    Ok((query.offset(offset).limit(limit).all(db).await?, total))
}

pub async fn set_rate(
    db: &DatabaseConnection,
    merchant_id: &str,
    currency: &str,
    date: NaiveDate,
    rate: &str,
) -> Result<exchange_rates::Model, IngestionError> {
    exchange_rates::Entity::insert(exchange_rates::ActiveModel {
        merchant_id: Set(merchant_id.to_owned()),
        currency: Set(currency.to_owned()),
        effective_date: Set(date),
        rate: Set(rate.to_owned()),
        created_at: Set(UtcDateTime::now()),
    })
    .on_conflict(
        OnConflict::columns([
            exchange_rates::Column::MerchantId,
            exchange_rates::Column::Currency,
            exchange_rates::Column::EffectiveDate,
        ])
        .update_columns([
            exchange_rates::Column::Rate,
            exchange_rates::Column::CreatedAt,
        ])
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    exchange_rates::Entity::find_by_id((merchant_id.to_owned(), currency.to_owned(), date))
        .one(db)
        .await?
        .ok_or_else(|| IngestionError::NotFound("the exchange rate just set".to_owned()))
}

pub async fn list_rates(
    db: &DatabaseConnection,
    merchant_id: &str,
    currency: Option<&str>,
    offset: u64,
    limit: u64,
) -> Result<Vec<exchange_rates::Model>, IngestionError> {
    let mut query =
        exchange_rates::Entity::find().filter(exchange_rates::Column::MerchantId.eq(merchant_id));
    if let Some(c) = currency {
        query = query.filter(exchange_rates::Column::Currency.eq(c));
    }
    Ok(query
        .order_by_desc(exchange_rates::Column::EffectiveDate)
        .order_by_asc(exchange_rates::Column::Currency)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?)
}
