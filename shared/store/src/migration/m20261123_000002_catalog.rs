//! Catalog: products and per-merchant exchange rates.
//!
//! Exchange rates are stored as the exact decimal string the merchant supplied
//! (`rate`, base-currency units per one unit of `currency`), not as micros: a fixed
//! 10^-6 scale keeps only two significant digits for rates such as IDR -> USD
//! (0.000063). Orders carry their converted `base_total_minor`, computed once at
//! ingestion, so analytics never need to multiply by a rate in SQL.

use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Products {
    Table,
    MerchantId,
    Sku,
    Title,
    CategoryPath,
    Brand,
    PriceMinor,
    Currency,
    ShipToCountries,
    Stock,
    Replenishable,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ExchangeRates {
    Table,
    MerchantId,
    Currency,
    EffectiveDate,
    Rate,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = Types::of(manager);

        create_table(
            manager,
            Table::create()
                .table(Products::Table)
                .col(id(Products::MerchantId))
                .col(key(Products::Sku))
                .col(varchar(Products::Title, 512))
                .col(varchar(Products::CategoryPath, 512))
                .col(varchar_null(Products::Brand, 128))
                .col(big(Products::PriceMinor))
                .col(currency(Products::Currency))
                .col(text(Products::ShipToCountries))
                .col(int(Products::Stock))
                .col(boolean(Products::Replenishable))
                .col(boolean(Products::Active))
                .col(t.ts(Products::CreatedAt))
                .col(t.ts(Products::UpdatedAt))
                .primary_key(&mut pk([Products::MerchantId, Products::Sku]))
                .take(),
            vec![
                index(
                    "idx_products_merchant_category",
                    Products::Table,
                    [Products::MerchantId, Products::CategoryPath],
                ),
                index(
                    "idx_products_merchant_brand",
                    Products::Table,
                    [Products::MerchantId, Products::Brand],
                ),
            ],
        )
        .await?;

        create_table(
            manager,
            Table::create()
                .table(ExchangeRates::Table)
                .col(id(ExchangeRates::MerchantId))
                .col(currency(ExchangeRates::Currency))
                .col(date(ExchangeRates::EffectiveDate))
                .col(varchar(ExchangeRates::Rate, 40))
                .col(t.ts(ExchangeRates::CreatedAt))
                .primary_key(&mut pk([
                    ExchangeRates::MerchantId,
                    ExchangeRates::Currency,
                    ExchangeRates::EffectiveDate,
                ]))
                .take(),
            vec![],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            [
                ExchangeRates::Table.into_iden(),
                Products::Table.into_iden(),
            ],
        )
        .await
    }
}
