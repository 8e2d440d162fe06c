//! Events, the transactional outbox, consumer offsets and denormalised order facts.
//!
//! `events` uses a surrogate auto-increment key so InnoDB appends in arrival order (the
//! caller's `event_id` is random-ish and would fragment a clustered index); the
//! idempotency key is the `UNIQUE (merchant_id, event_id)` index, and a duplicate insert
//! surfaces as a unique violation (`StoreError::is_unique_violation`).
//!
//! `orders` / `order_lines` are facts extracted from order events for analytics; the
//! latest event per order wins (`updated_at`). Money is minor units + ISO currency; the
//! shipping cost is in the order `currency`; `base_total_minor` is null until an
//! exchange rate for the order date is known.

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
enum Outbox {
    Table,
    Seq,
    MerchantId,
    EventId,
    CustomerId,
    Kind,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ConsumerOffsets {
    Table,
    Consumer,
    LastSeq,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    MerchantId,
    OrderId,
    CustomerId,
    Status,
    TotalMinor,
    Currency,
    BaseTotalMinor,
    BaseCurrency,
    DiscountMinor,
    CouponCode,
    PaymentMethod,
    PaymentOutcome,
    Carrier,
    PromisedDays,
    ActualDays,
    ShippingCostMinor,
    TrackingOffered,
    DestinationCountry,
    PlacedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OrderLines {
    Table,
    MerchantId,
    OrderId,
    LineNo,
    Sku,
    Quantity,
    UnitPriceMinor,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = Types::of(manager);

        create_table(
            manager,
            Table::create()
                .table(Events::Table)
                .col(seq_pk(Events::Id))
                .col(id(Events::MerchantId))
                .col(key(Events::EventId))
                .col(id(Events::CustomerId))
                .col(code(Events::Kind))
                .col(t.ts(Events::OccurTime))
                .col(varchar_null(Events::SessionId, KEY_LEN))
                .col(varchar_null(Events::Source, 64))
                .col(json(Events::Payload))
                .col(t.ts(Events::IngestedAt))
                .take(),
            vec![
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
            ],
        )
        .await?;

        create_table(
            manager,
            Table::create()
                .table(Outbox::Table)
                .col(seq_pk(Outbox::Seq))
                .col(id(Outbox::MerchantId))
                .col(key(Outbox::EventId))
                .col(id(Outbox::CustomerId))
                .col(code(Outbox::Kind))
                .col(t.ts(Outbox::CreatedAt))
                .take(),
            vec![],
        )
        .await?;

        create_table(
            manager,
            Table::create()
                .table(ConsumerOffsets::Table)
                .col(id(ConsumerOffsets::Consumer).primary_key())
                .col(big(ConsumerOffsets::LastSeq))
                .col(t.ts(ConsumerOffsets::UpdatedAt))
                .take(),
            vec![],
        )
        .await?;

        create_table(
            manager,
            Table::create()
                .table(Orders::Table)
                .col(id(Orders::MerchantId))
                .col(key(Orders::OrderId))
                .col(id(Orders::CustomerId))
                .col(code(Orders::Status))
                .col(big(Orders::TotalMinor))
                .col(currency(Orders::Currency))
                .col(big_null(Orders::BaseTotalMinor))
                .col(currency_null(Orders::BaseCurrency))
                .col(big_null(Orders::DiscountMinor))
                .col(varchar_null(Orders::CouponCode, 64))
                .col(code_null(Orders::PaymentMethod))
                .col(code_null(Orders::PaymentOutcome))
                .col(varchar_null(Orders::Carrier, 64))
                .col(int_null(Orders::PromisedDays))
                .col(int_null(Orders::ActualDays))
                .col(big_null(Orders::ShippingCostMinor))
                .col(boolean_null(Orders::TrackingOffered))
                .col(country_null(Orders::DestinationCountry))
                .col(t.ts(Orders::PlacedAt))
                .col(t.ts(Orders::UpdatedAt))
                .primary_key(&mut pk([Orders::MerchantId, Orders::OrderId]))
                .take(),
            vec![
                index(
                    "idx_orders_customer_placed",
                    Orders::Table,
                    [Orders::MerchantId, Orders::CustomerId, Orders::PlacedAt],
                ),
                index(
                    "idx_orders_merchant_placed",
                    Orders::Table,
                    [Orders::MerchantId, Orders::PlacedAt],
                ),
            ],
        )
        .await?;

        create_table(
            manager,
            Table::create()
                .table(OrderLines::Table)
                .col(id(OrderLines::MerchantId))
                .col(key(OrderLines::OrderId))
                .col(int(OrderLines::LineNo))
                .col(key(OrderLines::Sku))
                .col(int(OrderLines::Quantity))
                .col(big(OrderLines::UnitPriceMinor))
                .primary_key(&mut pk([
                    OrderLines::MerchantId,
                    OrderLines::OrderId,
                    OrderLines::LineNo,
                ]))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_order_lines_order")
                        .from_tbl(OrderLines::Table)
                        .from_col(OrderLines::MerchantId)
                        .from_col(OrderLines::OrderId)
                        .to_tbl(Orders::Table)
                        .to_col(Orders::MerchantId)
                        .to_col(Orders::OrderId)
                        .on_delete(ForeignKeyAction::Cascade)
                        .on_update(ForeignKeyAction::Cascade),
                )
                .take(),
            vec![index(
                "idx_order_lines_sku",
                OrderLines::Table,
                [OrderLines::MerchantId, OrderLines::Sku],
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            [
                OrderLines::Table.into_iden(),
                Orders::Table.into_iden(),
                ConsumerOffsets::Table.into_iden(),
                Outbox::Table.into_iden(),
                Events::Table.into_iden(),
            ],
        )
        .await
    }
}
