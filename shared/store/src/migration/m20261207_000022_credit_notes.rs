//! `orders.credit_note`: an order that is a cancellation document of its own (UCI's `C`
//! invoices), not naming the order it reverses. Profiling nets it against the customer's
//! earlier orders of the same products, so a cancelled sale stops counting as revenue.

use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Orders {
    Table,
    CreditNote,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            manager,
            Orders::Table,
            boolean(Orders::CreditNote).default(false).take(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, Orders::Table, Orders::CreditNote).await
    }
}
