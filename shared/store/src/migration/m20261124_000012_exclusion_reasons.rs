//! Recommendation, second step: a country exclusion keeps why the category is excluded
//! ("import ban"), as the API always accepted.

use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CountryExclusions {
    Table,
    Reason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            manager,
            CountryExclusions::Table,
            varchar_null(CountryExclusions::Reason, NAME_LEN),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, CountryExclusions::Table, CountryExclusions::Reason).await
    }
}
