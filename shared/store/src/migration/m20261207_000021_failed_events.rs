//! The failed-event store: events ingestion rejected as invalid, kept (sealed, like event
//! payloads) with their reasons for a retention period so that an operator can inspect
//! them and replay them after a fix, instead of their existing only in one response.

use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FailedEvents {
    Table,
    Id,
    MerchantId,
    Fingerprint,
    EventId,
    CustomerId,
    Record,
    AttemptCount,
    FirstFailedAt,
    LastFailedAt,
}

/// HMAC-SHA256 in hex.
const HASH_HEX_LEN: u32 = 64;
/// `events.event_id`'s length: a longer id is itself a reason for rejection and is not kept
/// in this column.
const EVENT_ID_LEN: u32 = 128;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = Types::of(manager);
        create_table(
            manager,
            Table::create()
                .table(FailedEvents::Table)
                .col(seq_pk(FailedEvents::Id))
                .col(id(FailedEvents::MerchantId))
                .col(varchar(FailedEvents::Fingerprint, HASH_HEX_LEN))
                .col(varchar_null(FailedEvents::EventId, EVENT_ID_LEN))
                .col(id_null(FailedEvents::CustomerId))
                .col(t.long_blob(FailedEvents::Record))
                .col(int(FailedEvents::AttemptCount))
                .col(t.ts(FailedEvents::FirstFailedAt))
                .col(t.ts(FailedEvents::LastFailedAt))
                .take(),
            vec![
                // The same event rejected again is one row with one more attempt.
                unique(
                    "failed_events_fingerprint",
                    FailedEvents::Table,
                    [FailedEvents::MerchantId, FailedEvents::Fingerprint],
                ),
                // ListFailedEvents pages by most recent failure.
                index(
                    "failed_events_recent",
                    FailedEvents::Table,
                    [
                        FailedEvents::MerchantId,
                        FailedEvents::LastFailedAt,
                        FailedEvents::Id,
                    ],
                ),
                // Retention deletes by age over all merchants.
                index(
                    "failed_events_age",
                    FailedEvents::Table,
                    [FailedEvents::LastFailedAt],
                ),
                // Erasure deletes a customer's.
                index(
                    "failed_events_customer",
                    FailedEvents::Table,
                    [FailedEvents::MerchantId, FailedEvents::CustomerId],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, [FailedEvents::Table.into_iden()]).await
    }
}
