//! Access: API keys (stored as hashes) and the access log of personal-data reveals and
//! exports.
//!
//! A key's merchants are kept as text (`*` or `acme,beta`) rather than a join table: keys
//! are few, read all at once by every replica's key ring, and never queried by merchant.

use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    KeyHash,
    DisplayName,
    Merchants,
    Scopes,
    RateLimitPerSecond,
    Creator,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AccessLog {
    Table,
    Id,
    MerchantId,
    CustomerId,
    KeyId,
    Rpc,
    Action,
    OccurredAt,
}

/// SHA-256 in hex.
const HASH_HEX_LEN: u32 = 64;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = Types::of(manager);
        create_table(
            manager,
            Table::create()
                .table(ApiKeys::Table)
                .col(id(ApiKeys::Id).primary_key())
                .col(varchar(ApiKeys::KeyHash, HASH_HEX_LEN))
                .col(varchar(ApiKeys::DisplayName, NAME_LEN))
                .col(text(ApiKeys::Merchants))
                .col(code(ApiKeys::Scopes))
                .col(int_null(ApiKeys::RateLimitPerSecond))
                .col(id(ApiKeys::Creator))
                .col(t.ts(ApiKeys::CreatedAt))
                .col(t.ts_null(ApiKeys::ExpiresAt))
                .col(t.ts_null(ApiKeys::RevokedAt))
                .take(),
            vec![],
        )
        .await?;
        create_table(
            manager,
            Table::create()
                .table(AccessLog::Table)
                .col(seq_pk(AccessLog::Id))
                .col(id(AccessLog::MerchantId))
                .col(key(AccessLog::CustomerId))
                .col(id(AccessLog::KeyId))
                .col(varchar(AccessLog::Rpc, NAME_LEN))
                .col(code(AccessLog::Action))
                .col(t.ts(AccessLog::OccurredAt))
                .take(),
            vec![
                index(
                    "access_log_merchant",
                    AccessLog::Table,
                    [AccessLog::MerchantId, AccessLog::Id],
                ),
                index(
                    "access_log_customer",
                    AccessLog::Table,
                    [AccessLog::MerchantId, AccessLog::CustomerId],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            [AccessLog::Table.into_iden(), ApiKeys::Table.into_iden()],
        )
        .await
    }
}
