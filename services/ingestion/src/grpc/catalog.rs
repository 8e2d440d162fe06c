//! Products and exchange rates.

use std::collections::HashSet;

use caravan_core::iso;
use caravan_core::names::parse_child_name;
use caravan_core::paging;
use caravan_platform::FieldViolations;
use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_store::entity::{exchange_rates, products};
use chrono::NaiveDate;

use super::list_filter::{boolean, comparisons};
use super::{IngestionApi, merchant_id_from_name};
use crate::error::IngestionError;
use crate::event_store;
use crate::merchant_store;
use crate::money_rules::Rate;
use crate::product_rules::{
    MAX_BATCH_PRODUCTS, apply_product_mask, check_product, check_sku, product_to_proto,
};
use crate::product_store::{self, ProductFilter};
use caravan_core::filter::Op;

fn product_ids(name: &str, field: &str) -> Result<(String, String), IngestionError> {
    let (merchant, sku) = parse_child_name(name, "products")
        .map_err(|e| IngestionError::invalid(field, e.to_string()))?;
    check_sku(&sku).map_err(|why| IngestionError::invalid(field, why))?;
    Ok((merchant.as_str().to_owned(), sku))
}

pub async fn create_product(
    api: &IngestionApi,
    request: pb::CreateProductRequest,
) -> Result<pb::Product, IngestionError> {
    let merchant_id = merchant_id_from_name(&request.parent, "parent")?;
    let mut violations = FieldViolations::new();
    if let Err(why) = check_sku(&request.product_id) {
        violations.add("product_id", why);
    }
    let product = request.product.unwrap_or_default();
    let fields = match check_product(&product, "product") {
        Ok(f) => Some(f),
        Err(v) => {
            violations.extend_prefixed("", v);
            None
        }
    };
    let fields = match (violations.is_empty(), fields) {
        (true, Some(f)) => f,
        _ => return Err(strip_leading_dot(violations).into()),
    };
    merchant_store::get(&api.db, &merchant_id).await?;
    let row = product_store::insert(&api.db, &merchant_id, &request.product_id, &fields).await?;
    Ok(product_to_proto(&row))
}

/// `extend_prefixed("")` yields ".field"; drop the dot.
fn strip_leading_dot(violations: FieldViolations) -> FieldViolations {
    let mut out = FieldViolations::new();
    for v in violations.iter() {
        out.add(v.field.trim_start_matches('.'), v.description.clone());
    }
    out
}

pub async fn get_product(
    api: &IngestionApi,
    request: pb::GetProductRequest,
) -> Result<pb::Product, IngestionError> {
    let (merchant_id, sku) = product_ids(&request.name, "name")?;
    Ok(product_to_proto(
        &product_store::get(&api.db, &merchant_id, &sku).await?,
    ))
}

pub async fn update_product(
    api: &IngestionApi,
    request: pb::UpdateProductRequest,
) -> Result<pb::Product, IngestionError> {
    let update = request
        .product
        .ok_or_else(|| IngestionError::invalid("product", "is required"))?;
    let (merchant_id, sku) = product_ids(&update.name, "product.name")?;
    let paths = request.update_mask.map(|m| m.paths).unwrap_or_default();
    let mut merged = match product_store::find(&api.db, &merchant_id, &sku).await? {
        Some(row) => product_to_proto(&row),
        None if request.allow_missing => {
            merchant_store::get(&api.db, &merchant_id).await?;
            pb::Product {
                name: update.name.clone(),
                ..Default::default()
            }
        }
        None => return Err(IngestionError::NotFound(update.name.clone())),
    };
    apply_product_mask(&mut merged, &update, &paths)?;
    let fields = check_product(&merged, "product")?;
    let row = product_store::replace(&api.db, &merchant_id, &sku, &fields).await?;
    Ok(product_to_proto(&row))
}

pub async fn list_products(
    api: &IngestionApi,
    request: pb::ListProductsRequest,
) -> Result<pb::ListProductsResponse, IngestionError> {
    let merchant_id = merchant_id_from_name(&request.parent, "parent")?;
    let size = paging::page_size(request.page_size)
        .map_err(|e| IngestionError::invalid("page_size", e.to_string()))?;
    let mut filter = ProductFilter::default();
    for c in comparisons(&request.filter)? {
        match (c.field.as_str(), c.op) {
            ("category_path", Op::Has | Op::Eq) => {
                filter.category_prefix =
                    Some(crate::product_rules::normalise_category(&c.value.text))
            }
            ("brand", Op::Eq) => filter.brand = Some(c.value.text),
            ("active", Op::Eq) => filter.active = Some(boolean(&c)?),
            ("replenishable", Op::Eq) => filter.replenishable = Some(boolean(&c)?),
            _ => {
                return Err(IngestionError::invalid(
                    "filter",
                    format!(
                        "{c}: supported are category_path (:), brand, active, replenishable (=)"
                    ),
                ));
            }
        }
    }
    let order = match request.order_by.trim() {
        "" | "name" | "name asc" => (products::Column::Sku, false),
        "name desc" => (products::Column::Sku, true),
        "title" | "title asc" => (products::Column::Title, false),
        "title desc" => (products::Column::Title, true),
        "create_time" | "create_time asc" => (products::Column::CreatedAt, false),
        "create_time desc" => (products::Column::CreatedAt, true),
        "update_time" | "update_time asc" => (products::Column::UpdatedAt, false),
        "update_time desc" => (products::Column::UpdatedAt, true),
        "stock_quantity" | "stock_quantity asc" => (products::Column::Stock, false),
        "stock_quantity desc" => (products::Column::Stock, true),
        other => {
            return Err(IngestionError::invalid(
                "order_by",
                format!("{other:?} is not a supported ordering"),
            ));
        }
    };
    let fingerprint = paging::request_fingerprint(&[
        &request.parent,
        &request.filter,
        &request.order_by,
        "products",
    ]);
    let offset: u64 = paging::decode_token(&request.page_token, fingerprint)
        .map_err(|e| IngestionError::invalid("page_token", e.to_string()))?
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let (rows, total) =
        product_store::list(&api.db, &merchant_id, &filter, order, offset, size).await?;
    let next_page_token = if offset + (rows.len() as u64) < total {
        paging::encode_token(&(offset + size).to_string(), fingerprint)
    } else {
        String::new()
    };
    Ok(pb::ListProductsResponse {
        products: rows.iter().map(product_to_proto).collect(),
        next_page_token,
        total_size: i64::try_from(total).unwrap_or(i64::MAX),
    })
}

/// BatchUpsertProducts: all or nothing; every invalid product is named.
pub async fn batch_upsert_products(
    api: &IngestionApi,
    request: pb::BatchUpsertProductsRequest,
) -> Result<pb::BatchUpsertProductsResponse, IngestionError> {
    let merchant_id = merchant_id_from_name(&request.parent, "parent")?;
    if request.products.len() > MAX_BATCH_PRODUCTS {
        return Err(IngestionError::invalid(
            "products",
            format!(
                "{} products; at most {MAX_BATCH_PRODUCTS} per call",
                request.products.len()
            ),
        ));
    }
    let mut violations = FieldViolations::new();
    let mut items = Vec::with_capacity(request.products.len());
    let mut seen = HashSet::new();
    for (i, product) in request.products.iter().enumerate() {
        let prefix = format!("products[{i}]");
        match product_ids(&product.name, &format!("{prefix}.name")) {
            Ok((m, sku)) if m == merchant_id => {
                if !seen.insert(sku.clone()) {
                    violations.add(format!("{prefix}.name"), "appears twice in the batch");
                }
                match check_product(product, &prefix) {
                    Ok(fields) => items.push((sku, fields)),
                    Err(v) => violations.extend_prefixed("", v),
                }
            }
            Ok(_) => violations.add(
                format!("{prefix}.name"),
                format!("must be under {}", request.parent),
            ),
            Err(IngestionError::Invalid(v)) => violations.extend_prefixed("", v),
            Err(other) => return Err(other),
        }
    }
    let violations = strip_leading_dot(violations);
    violations.into_result()?;
    merchant_store::get(&api.db, &merchant_id).await?;
    if request.validate_only {
        return Ok(pb::BatchUpsertProductsResponse::default());
    }
    let (rows, created) = product_store::upsert_many(&api.db, &merchant_id, &items).await?;
    let created = i32::try_from(created).unwrap_or(i32::MAX);
    Ok(pb::BatchUpsertProductsResponse {
        products: rows.iter().map(product_to_proto).collect(),
        created_count: created,
        updated_count: i32::try_from(rows.len()).unwrap_or(i32::MAX) - created,
    })
}

fn rate_to_proto(row: &exchange_rates::Model, base_currency: &str) -> pb::ExchangeRate {
    use chrono::Datelike;
    let date = row.effective_date;
    pb::ExchangeRate {
        name: format!(
            "merchants/{}/exchangeRates/{}-{}",
            row.merchant_id,
            row.currency,
            date.format("%Y-%m-%d")
        ),
        from_currency_code: row.currency.clone(),
        to_currency_code: base_currency.to_owned(),
        effective_date: Some(common::Date {
            year: date.year(),
            month: i32::try_from(date.month()).unwrap_or(0),
            day: i32::try_from(date.day()).unwrap_or(0),
        }),
        rate: row.rate.clone(),
        // The store keeps no source column; see the report.
        source: String::new(),
        update_time: Some(to_timestamp(row.created_at.get())),
    }
}

/// SetExchangeRate: stores the rate (replacing one of the same currency and date) and
/// recomputes the base amounts of the merchant's orders in that currency, so orders stored
/// before a rate existed (base amount NULL) get theirs.
pub async fn set_exchange_rate(
    api: &IngestionApi,
    request: pb::SetExchangeRateRequest,
) -> Result<pb::ExchangeRate, IngestionError> {
    let merchant_id = merchant_id_from_name(&request.parent, "parent")?;
    let rate = request
        .exchange_rate
        .ok_or_else(|| IngestionError::invalid("exchange_rate", "is required"))?;
    let merchant = merchant_store::get(&api.db, &merchant_id).await?;
    let mut violations = FieldViolations::new();
    if !iso::is_currency(&rate.from_currency_code) {
        violations.add(
            "exchange_rate.from_currency_code",
            format!(
                "{:?} is not an ISO 4217 currency code",
                rate.from_currency_code
            ),
        );
    } else if rate.from_currency_code == merchant.base_currency {
        violations.add(
            "exchange_rate.from_currency_code",
            "is the merchant's base currency, which needs no rate",
        );
    }
    let date = rate.effective_date.as_ref().and_then(|d| {
        NaiveDate::from_ymd_opt(
            d.year,
            u32::try_from(d.month).ok()?,
            u32::try_from(d.day).ok()?,
        )
    });
    if date.is_none() {
        violations.add(
            "exchange_rate.effective_date",
            "is required and must be a valid date",
        );
    }
    let parsed = Rate::parse(&rate.rate)
        .map_err(|why| violations.add("exchange_rate.rate", why))
        .ok();
    violations.into_result()?;
    let (Some(date), Some(parsed)) = (date, parsed) else {
        return Err(IngestionError::invalid("exchange_rate", "is invalid"));
    };
    let row = product_store::set_rate(
        &api.db,
        &merchant_id,
        &rate.from_currency_code,
        date,
        &parsed.to_text(),
    )
    .await?;
    let changed = event_store::recompute_base_totals(
        &api.db,
        &merchant_id,
        &merchant.base_currency,
        &rate.from_currency_code,
    )
    .await?;
    tracing::info!(currency = %rate.from_currency_code, orders_rebased = changed, "exchange rate set");
    Ok(rate_to_proto(&row, &merchant.base_currency))
}

pub async fn list_exchange_rates(
    api: &IngestionApi,
    request: pb::ListExchangeRatesRequest,
) -> Result<pb::ListExchangeRatesResponse, IngestionError> {
    let merchant_id = merchant_id_from_name(&request.parent, "parent")?;
    let merchant = merchant_store::get(&api.db, &merchant_id).await?;
    let size = match request.page_size {
        0 => 100,
        n => {
            paging::page_size(n).map_err(|e| IngestionError::invalid("page_size", e.to_string()))?
        }
    };
    let mut currency = None;
    for c in comparisons(&request.filter)? {
        if c.field != "from_currency_code" || c.op != Op::Eq {
            return Err(IngestionError::invalid(
                "filter",
                format!("{c}: only from_currency_code = \"XXX\" is supported"),
            ));
        }
        currency = Some(c.value.text);
    }
    let fingerprint =
        paging::request_fingerprint(&[&request.parent, &request.filter, "exchangeRates"]);
    let offset: u64 = paging::decode_token(&request.page_token, fingerprint)
        .map_err(|e| IngestionError::invalid("page_token", e.to_string()))?
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let mut rows =
        product_store::list_rates(&api.db, &merchant_id, currency.as_deref(), offset, size + 1)
            .await?;
    let next_page_token = if rows.len() as u64 > size {
        rows.truncate(usize::try_from(size).unwrap_or(usize::MAX));
        paging::encode_token(&(offset + size).to_string(), fingerprint)
    } else {
        String::new()
    };
    Ok(pb::ListExchangeRatesResponse {
        exchange_rates: rows
            .iter()
            .map(|r| rate_to_proto(r, &merchant.base_currency))
            .collect(),
        next_page_token,
    })
}
