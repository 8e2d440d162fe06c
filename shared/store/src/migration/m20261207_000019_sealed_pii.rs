//! Personal data at rest: the names, e-mail and phone of customers and of B2B contacts move
//! into one sealed (AES-256-GCM) column per row, `pii` (`crate::sealing`, `crate::pii`).
//! The plaintext columns stay for rows written before, until `caravan privacy reseal` seals
//! them and clears the columns.

use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Customers {
    Table,
    Pii,
}

#[derive(DeriveIden)]
enum CustomerContacts {
    Table,
    Pii,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = Types::of(manager);
        add_column(manager, Customers::Table, t.long_blob_null(Customers::Pii)).await?;
        add_column(
            manager,
            CustomerContacts::Table,
            t.long_blob_null(CustomerContacts::Pii),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, CustomerContacts::Table, CustomerContacts::Pii).await?;
        drop_column(manager, Customers::Table, Customers::Pii).await
    }
}
