//! `merchants.time_zone`: the IANA zone whose calendar decides a merchant's days (the
//! purchase days of its value models, their calibration and holdout ends) and the clock of
//! importers reading local times. NULL means UTC, what every merchant had before.

use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Merchants {
    Table,
    TimeZone,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            manager,
            Merchants::Table,
            varchar_null(Merchants::TimeZone, 64),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, Merchants::Table, Merchants::TimeZone).await
    }
}
