//! What a valid product is. Pure, no I/O.

use caravan_core::iso;
use caravan_platform::FieldViolations;
use caravan_proto::caravan::common::v1::Money;
use caravan_proto::caravan::ingestion::v1 as pb;

use crate::money_rules::check_money;

pub const MAX_BATCH_PRODUCTS: usize = 1000;

/// A product's column values after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductFields {
    pub title: String,
    pub category_path: String,
    pub brand: Option<String>,
    /// `(amount_minor, currency)`; `(0, "")` when no price is known.
    pub price: (i64, String),
    /// Sorted, de-duplicated, comma-joined ISO codes; empty = ships everywhere.
    pub ship_to_countries: String,
    pub stock: i32,
    pub replenishable: bool,
    pub active: bool,
}

/// SKU rule from the contract: `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`.
pub fn check_sku(sku: &str) -> Result<(), String> {
    let mut chars = sku.chars();
    let first = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if sku.is_empty() {
        Err("is required (the SKU)".to_owned())
    } else if !first || !rest || sku.len() > 128 {
        Err(format!(
            "{sku:?} must match [A-Za-z0-9][A-Za-z0-9._-]{{0,127}}"
        ))
    } else {
        Ok(())
    }
}

/// Normalises a category path: levels trimmed and joined with " > ".
pub fn normalise_category(path: &str) -> String {
    path.split('>')
        .map(str::trim)
        .filter(|level| !level.is_empty())
        .collect::<Vec<_>>()
        .join(" > ")
}

pub fn check_product(
    product: &pb::Product,
    prefix: &str,
) -> Result<ProductFields, FieldViolations> {
    let mut v = FieldViolations::new();
    let f = |name: &str| format!("{prefix}.{name}");
    let title = product.title.trim();
    if title.is_empty() {
        v.add(f("title"), "is required");
    } else if title.chars().count() > 512 {
        v.add(f("title"), "must be at most 512 characters");
    }
    let category_path = normalise_category(&product.category_path);
    if category_path.chars().count() > 512 {
        v.add(f("category_path"), "must be at most 512 characters");
    }
    let brand = product.brand.trim();
    if brand.chars().count() > 128 {
        v.add(f("brand"), "must be at most 128 characters");
    }
    let price = match &product.price {
        Some(price) => {
            check_money(price, &f("price"), false, &mut v);
            (price.amount_minor, price.currency_code.clone())
        }
        None => (0, String::new()),
    };
    let mut countries: Vec<String> = Vec::new();
    for (i, code) in product.ship_to_country_codes.iter().enumerate() {
        if iso::is_country(code) {
            countries.push(code.clone());
        } else {
            v.add(
                format!("{prefix}.ship_to_country_codes[{i}]"),
                format!("{code:?} is not an ISO 3166-1 alpha-2 country code"),
            );
        }
    }
    countries.sort();
    countries.dedup();
    let stock = product.stock_quantity.max(0);
    if stock > i64::from(i32::MAX) {
        v.add(f("stock_quantity"), format!("must be at most {}", i32::MAX));
    }
    v.into_result()?;
    Ok(ProductFields {
        title: title.to_owned(),
        category_path,
        brand: (!brand.is_empty()).then(|| brand.to_owned()),
        price,
        ship_to_countries: countries.join(","),
        stock: i32::try_from(stock).unwrap_or(i32::MAX),
        replenishable: product.replenishable,
        active: product.active,
    })
}

pub fn product_to_proto(row: &caravan_store::entity::products::Model) -> pb::Product {
    pb::Product {
        name: format!("merchants/{}/products/{}", row.merchant_id, row.sku),
        title: row.title.clone(),
        category_path: row.category_path.clone(),
        brand: row.brand.clone().unwrap_or_default(),
        price: (!row.currency.trim().is_empty()).then(|| Money {
            currency_code: row.currency.clone(),
            amount_minor: row.price_minor,
        }),
        ship_to_country_codes: row
            .ship_to_countries
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect(),
        stock_quantity: i64::from(row.stock),
        replenishable: row.replenishable,
        active: row.active,
        attributes: Default::default(),
        create_time: Some(caravan_platform::proto_time::to_timestamp(
            row.created_at.get(),
        )),
        update_time: Some(caravan_platform::proto_time::to_timestamp(
            row.updated_at.get(),
        )),
    }
}

/// Applies masked fields of `update` onto `current` (AIP-134; empty mask = all).
pub fn apply_product_mask(
    current: &mut pb::Product,
    update: &pb::Product,
    paths: &[String],
) -> Result<(), FieldViolations> {
    let mut v = FieldViolations::new();
    if paths.is_empty() {
        let name = current.name.clone();
        *current = update.clone();
        current.name = name;
        return Ok(());
    }
    for path in paths {
        match path.as_str() {
            "title" => current.title = update.title.clone(),
            "category_path" => current.category_path = update.category_path.clone(),
            "brand" => current.brand = update.brand.clone(),
            "price" | "price.amount_minor" | "price.currency_code" => {
                current.price = update.price.clone()
            }
            "ship_to_country_codes" => {
                current.ship_to_country_codes = update.ship_to_country_codes.clone()
            }
            "stock_quantity" => current.stock_quantity = update.stock_quantity,
            "replenishable" => current.replenishable = update.replenishable,
            "active" => current.active = update.active,
            "attributes" => current.attributes = update.attributes.clone(),
            other => v.add(
                "update_mask",
                format!("{other:?} is not a mutable product field"),
            ),
        }
    }
    v.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product() -> pb::Product {
        pb::Product {
            title: " WHITE HANGING HEART T-LIGHT HOLDER ".to_owned(),
            category_path: "Home>Decor >  Candles".to_owned(),
            price: Some(Money {
                currency_code: "GBP".to_owned(),
                amount_minor: 255,
            }),
            ship_to_country_codes: vec!["GB".to_owned(), "DE".to_owned(), "GB".to_owned()],
            stock_quantity: -4,
            active: true,
            ..Default::default()
        }
    }

    #[test]
    fn normalises_a_valid_product() {
        let fields = check_product(&product(), "product").expect("valid");
        assert_eq!(fields.title, "WHITE HANGING HEART T-LIGHT HOLDER");
        assert_eq!(fields.category_path, "Home > Decor > Candles");
        assert_eq!(fields.ship_to_countries, "DE,GB");
        assert_eq!(fields.stock, 0, "negative stock is zero");
        assert_eq!(fields.price, (255, "GBP".to_owned()));
        assert!(check_sku("85123A").is_ok());
        assert!(check_sku("POST").is_ok());
        assert!(check_sku("-x").is_err());
        assert!(check_sku("a b").is_err());
    }

    #[test]
    fn names_bad_fields() {
        let mut p = product();
        p.title = String::new();
        p.price = Some(Money {
            currency_code: "GBX".to_owned(),
            amount_minor: -1,
        });
        p.ship_to_country_codes = vec!["UK".to_owned()];
        let err = check_product(&p, "products[2]").expect_err("invalid");
        let fields: Vec<_> = err.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "products[2].title",
                "products[2].price.currency_code",
                "products[2].price.amount_minor",
                "products[2].ship_to_country_codes[0]"
            ]
        );
    }

    #[test]
    fn masks() {
        let mut current = product();
        let update = pb::Product {
            stock_quantity: 10,
            title: "ignored".to_owned(),
            ..Default::default()
        };
        apply_product_mask(&mut current, &update, &["stock_quantity".to_owned()]).expect("valid");
        assert_eq!(current.stock_quantity, 10);
        assert!(current.title.contains("HEART"));
        assert!(apply_product_mask(&mut current, &update, &["name".to_owned()]).is_err());
    }
}
