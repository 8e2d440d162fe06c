//! `events.payload` becomes binary: a format byte (1) followed by the protobuf encoding of a
//! `caravan.ingestion.v1.Event` with only its payload set. It was the same protobuf as hex
//! inside a JSON document (`{"v":1,"pb":"<hex>"}`), twice the bytes plus a `json_valid`
//! check on every insert. The table is rebuilt (SQLite cannot change a column's type) and
//! every stored payload converted in SQL; a value that was not a version-1 document becomes
//! an empty payload, which readers skip like before. Rollback converts back.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    MerchantId,
    EventId,
    CustomerId,
    Kind,
    OccurTime,
    SessionId,
    Source,
    Payload,
    IngestedAt,
}

#[derive(DeriveIden)]
enum EventsNext {
    Table,
}

const ENVELOPE: &str =
    "id, merchant_id, event_id, customer_id, kind, occur_time, session_id, source, ingested_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = Types::of(manager);
        // Hex digits are joined before UNHEX: SQLite's `||` would turn blobs into text.
        let to_binary = if manager.get_database_backend() == DbBackend::MySql {
            "COALESCE(UNHEX(CONCAT('01', JSON_UNQUOTE(JSON_EXTRACT(payload, '$.pb')))), '')"
        } else {
            "COALESCE(unhex('01' || json_extract(payload, '$.pb')), X'')"
        };
        rebuild(manager, t.long_blob(Events::Payload), to_binary).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let to_json = if manager.get_database_backend() == DbBackend::MySql {
            "JSON_OBJECT('v', 1, 'pb', LOWER(HEX(SUBSTRING(payload, 2))))"
        } else {
            "json_object('v', 1, 'pb', lower(hex(substr(payload, 2))))"
        };
        rebuild(manager, json(Events::Payload), to_json).await
    }
}

/// Rebuilds `events` with `payload` declared as `payload_column` and filled by
/// `convert(payload)`; indexes are recreated after the rename (SQLite index names are
/// per database, so the new table cannot have them while the old one exists).
async fn rebuild(
    manager: &SchemaManager<'_>,
    payload_column: ColumnDef,
    convert: &str,
) -> Result<(), DbErr> {
    let t = Types::of(manager);
    drop_tables(manager, [EventsNext::Table]).await?;
    create_table(
        manager,
        Table::create()
            .table(EventsNext::Table)
            .col(seq_pk(Events::Id))
            .col(id(Events::MerchantId))
            .col(key(Events::EventId))
            .col(id(Events::CustomerId))
            .col(code(Events::Kind))
            .col(t.ts(Events::OccurTime))
            .col(varchar_null(Events::SessionId, KEY_LEN))
            .col(varchar_null(Events::Source, 64))
            .col(payload_column)
            .col(t.ts(Events::IngestedAt))
            .take(),
        vec![],
    )
    .await?;
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "INSERT INTO events_next ({ENVELOPE}, payload) SELECT {ENVELOPE}, {convert} FROM events"
        ))
        .await?;
    drop_tables(manager, [Events::Table]).await?;
    manager
        .rename_table(
            Table::rename()
                .table(EventsNext::Table, Events::Table)
                .take(),
        )
        .await?;
    for index in [
        unique(
            "uq_events_merchant_event",
            Events::Table,
            [Events::MerchantId, Events::EventId],
        ),
        index(
            "idx_events_customer_time",
            Events::Table,
            [Events::MerchantId, Events::CustomerId, Events::OccurTime],
        ),
        index(
            "idx_events_kind_time",
            Events::Table,
            [Events::MerchantId, Events::Kind, Events::OccurTime],
        ),
    ] {
        manager.create_index(index).await?;
    }
    Ok(())
}
