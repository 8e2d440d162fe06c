//! Self-checks of the store, run by its own test suites on SQLite (unit tests) and on
//! MariaDB (`tests/mysql.rs`) so both backends are held to exactly the same
//! expectations. They panic (like `assert!`) on a mismatch and return database errors.

use chrono::{NaiveDate, TimeZone, Timelike, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ColumnTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use sea_orm_migration::MigratorTrait;
use serde_json::json;

use crate::UtcDateTime;
use crate::entity::{
    customer_contacts, customer_identifiers, customers, events, exchange_rates, merchants,
    order_lines, orders, outbox, rec_models,
};
use crate::error::StoreError;
use crate::migration::Migrator;

/// A W3C trace context as ingestion stores it with an outbox row.
const TRACE_PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

const MERCHANT: &str = "acme-shop";

/// The `outbox` columns the bulk-insert checks write (`seq` is generated).
const OUTBOX_ROW_COLUMNS: [&str; 5] = [
    "merchant_id",
    "event_id",
    "customer_id",
    "kind",
    "created_at",
];

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, micros: u32) -> UtcDateTime {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .and_then(|t| t.with_nanosecond(micros * 1_000))
        .expect("valid test timestamp")
        .into()
}

/// The tables a fully migrated database must have: [`crate::TABLES`] plus the migrator's
/// bookkeeping table, sorted.
pub fn expected_tables() -> Vec<String> {
    let mut t: Vec<String> = crate::TABLES.iter().map(|s| (*s).to_owned()).collect();
    t.push("seaql_migrations".to_owned());
    t.sort();
    t
}

/// Migrates twice and checks the second run changed nothing.
pub async fn assert_migrate_is_idempotent(db: &DatabaseConnection) -> Result<(), StoreError> {
    crate::migrate(db).await?;
    let first = super::table_names(db).await?;
    assert_eq!(first, expected_tables(), "tables after the first migration");
    crate::migrate(db).await?;
    assert_eq!(
        super::table_names(db).await?,
        first,
        "second run changed tables"
    );
    assert!(
        Migrator::get_pending_migrations(db).await?.is_empty(),
        "migrations still pending"
    );
    assert_eq!(
        Migrator::get_applied_migrations(db).await?.len(),
        Migrator::migrations().len(),
        "every migration is recorded exactly once"
    );
    Ok(())
}

/// Rolls every migration back (only the bookkeeping table may remain), then applies them
/// again.
pub async fn assert_down_then_up(db: &DatabaseConnection) -> Result<(), StoreError> {
    Migrator::down(db, None).await?;
    assert_eq!(
        super::table_names(db).await?,
        vec!["seaql_migrations".to_owned()],
        "down must drop every table"
    );
    crate::migrate(db).await?;
    assert_eq!(super::table_names(db).await?, expected_tables());
    Ok(())
}

fn merchant() -> merchants::Model {
    merchants::Model {
        id: MERCHANT.to_owned(),
        display_name: "Acme Cross-Border Ltd. — 跨境".to_owned(),
        base_currency: "EUR".to_owned(),
        // Before 1970: outside MySQL TIMESTAMP, fine for DATETIME(6).
        created_at: at(1969, 7, 20, 20, 17, 40, 1),
        updated_at: at(2026, 1, 2, 3, 4, 5, 123_456),
        identity_version: 7,
        time_zone: Some("America/Los_Angeles".to_owned()),
    }
}

fn person(id: &str) -> customers::Model {
    let t = at(2026, 1, 2, 3, 4, 5, 654_321);
    customers::Model {
        merchant_id: MERCHANT.to_owned(),
        id: id.to_owned(),
        kind: "PERSON".to_owned(),
        given_name: Some("Zoë".to_owned()),
        family_name: Some("Müller".to_owned()),
        email: Some("zoe@example.com".to_owned()),
        phone: None,
        country: Some("DE".to_owned()),
        region: Some("BE".to_owned()),
        city: Some("Berlin".to_owned()),
        city_tier: Some(1),
        birth_year: Some(1990),
        age_band: Some("35-44".to_owned()),
        gender: None,
        language: Some("de-DE".to_owned()),
        preferred_currency: Some("EUR".to_owned()),
        acquisition_channel: Some("SOCIAL".to_owned()),
        company_name: None,
        industry: None,
        size_band: None,
        revenue_band: None,
        website: None,
        business_type: None,
        year_founded: None,
        registration_number: None,
        star_rating: Some(5),
        source: Some("import".to_owned()),
        import_tags: Some(json!(["vip", "wholesale-lead"])),
        consents: Some(json!({"EMAIL": {"granted": true, "time": "2026-01-01T00:00:00Z"}})),
        merged_into: None,
        // Past 2038: MySQL TIMESTAMP could not hold it, DATETIME(6) can.
        deleted_at: Some(at(2100, 12, 31, 23, 59, 59, 999_999)),
        created_at: t,
        updated_at: t,
        pii: None,
    }
}

/// Inserts and reads back rows of several entities: composite keys, JSON, far-future and
/// microsecond timestamps, dates, a >64 KiB blob, auto-increment sequences.
pub async fn assert_roundtrip(db: &DatabaseConnection) -> Result<(), StoreError> {
    let m = merchant();
    merchants::Entity::insert(m.clone().into_active_model())
        .exec(db)
        .await?;
    assert_eq!(
        merchants::Entity::find_by_id(MERCHANT).one(db).await?,
        Some(m)
    );

    let c = person("c-1");
    customers::Entity::insert(c.clone().into_active_model())
        .exec(db)
        .await?;
    assert_eq!(
        customers::Entity::find_by_id((MERCHANT.to_owned(), "c-1".to_owned()))
            .one(db)
            .await?,
        Some(c)
    );

    let ident = customer_identifiers::Model {
        merchant_id: MERCHANT.to_owned(),
        kind: "EMAIL".to_owned(),
        value_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
        customer_id: "c-1".to_owned(),
        created_at: crate::now(),
    };
    customer_identifiers::Entity::insert(ident.clone().into_active_model())
        .exec(db)
        .await?;
    let found = customer_identifiers::Entity::find()
        .filter(customer_identifiers::Column::MerchantId.eq(MERCHANT))
        .filter(customer_identifiers::Column::CustomerId.eq("c-1"))
        .all(db)
        .await?;
    assert_eq!(found, vec![ident.clone()]);
    // The composite-key relation customers -> customer_identifiers.
    let with_idents = customers::Entity::find()
        .filter(customers::Column::MerchantId.eq(MERCHANT))
        .find_with_related(customer_identifiers::Entity)
        .all(db)
        .await?;
    assert_eq!(with_idents.len(), 1);
    assert_eq!(with_idents[0].1, vec![ident]);

    // Events: binary payload (every byte value, NUL included), microsecond instants,
    // ordering and range filters on time (SQLite compares the RFC 3339 text).
    let payload: Vec<u8> = (0..=255u8).chain("naïve café ☕".bytes()).collect();
    let t_early = at(2026, 3, 1, 12, 0, 0, 500_000);
    let t_late = at(2026, 3, 1, 12, 0, 1, 0);
    let mut inserted = Vec::new();
    for (event_id, t) in [("e-2", t_late), ("e-1", t_early)] {
        let e = events::ActiveModel {
            id: NotSet,
            merchant_id: Set(MERCHANT.to_owned()),
            event_id: Set(event_id.to_owned()),
            customer_id: Set("c-1".to_owned()),
            kind: Set("order".to_owned()),
            occur_time: Set(t),
            session_id: Set(Some("s-1".to_owned())),
            source: Set(None),
            payload: Set(payload.clone()),
            ingested_at: Set(crate::now()),
        }
        .insert(db)
        .await?;
        assert!(e.id > 0, "auto-increment id assigned");
        assert_eq!(e.payload, payload);
        assert_eq!(e.occur_time, t);
        inserted.push(e);
    }
    let by_time = events::Entity::find()
        .filter(events::Column::MerchantId.eq(MERCHANT))
        .filter(events::Column::CustomerId.eq("c-1"))
        .order_by_asc(events::Column::OccurTime)
        .all(db)
        .await?;
    let ids: Vec<&str> = by_time.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["e-1", "e-2"], "chronological order");
    assert_eq!(by_time[0].payload, payload, "binary payload round-trips");
    let after = events::Entity::find()
        .filter(events::Column::OccurTime.gt(at(2026, 3, 1, 12, 0, 0, 750_000)))
        .all(db)
        .await?;
    assert_eq!(after.len(), 1, "time range filter");
    assert_eq!(after[0].event_id, "e-2");
    // Plain chrono values work in filters too (within 1970-2038 on MySQL).
    let plain: chrono::DateTime<Utc> = at(2026, 3, 1, 12, 0, 0, 500_000).get();
    let at_or_after = events::Entity::find()
        .filter(events::Column::OccurTime.gte(plain))
        .count(db)
        .await?;
    assert_eq!(at_or_after, 2, "filter with DateTime<Utc>");
    let far_future = customers::Entity::find()
        .filter(customers::Column::DeletedAt.gt(at(2099, 1, 1, 0, 0, 0, 0)))
        .count(db)
        .await?;
    assert_eq!(far_future, 1, "filter beyond 2038");

    // Outbox: sequence numbers increase and are not reused after a delete.
    let mut seqs = Vec::new();
    for e in &inserted {
        let entries = crate::outbox_entries::encode(vec![crate::outbox_entries::OutboxEntry {
            event_id: e.event_id.clone(),
            customer_id: e.customer_id.clone(),
            kind: e.kind.clone(),
        }]);
        let row = outbox::ActiveModel {
            seq: NotSet,
            merchant_id: Set(MERCHANT.to_owned()),
            event_id: Set(e.event_id.clone()),
            customer_id: Set(e.customer_id.clone()),
            kind: Set(e.kind.clone()),
            created_at: Set(crate::now()),
            entry_count: Set(1),
            entries: Set(Some(entries.clone())),
            trace_parent: Set(Some(TRACE_PARENT.to_owned())),
        }
        .insert(db)
        .await?;
        assert_eq!(row.entries, Some(entries));
        assert_eq!(row.trace_parent.as_deref(), Some(TRACE_PARENT));
        seqs.push(row.seq);
    }
    assert!(seqs[0] < seqs[1], "outbox seq increases: {seqs:?}");
    outbox::Entity::delete_by_id(seqs[1]).exec(db).await?;
    let res = outbox::Entity::insert(outbox::ActiveModel {
        seq: NotSet,
        merchant_id: Set(MERCHANT.to_owned()),
        event_id: Set("e-3".to_owned()),
        customer_id: Set("c-1".to_owned()),
        kind: Set("page_view".to_owned()),
        created_at: Set(crate::now()),
        entry_count: Set(1),
        entries: Set(None),
        trace_parent: Set(None),
    })
    .exec(db)
    .await?;
    assert!(
        res.last_insert_id > seqs[1],
        "outbox seq is never reused ({} after {})",
        res.last_insert_id,
        seqs[1]
    );
    let pending = outbox::Entity::find()
        .filter(outbox::Column::Seq.gt(seqs[0]))
        .order_by_asc(outbox::Column::Seq)
        .all(db)
        .await?;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].event_id, "e-3");

    // Dates.
    let rate = exchange_rates::Model {
        merchant_id: MERCHANT.to_owned(),
        currency: "IDR".to_owned(),
        effective_date: NaiveDate::from_ymd_opt(2026, 2, 28).expect("valid date"),
        rate: "0.0000571234".to_owned(),
        created_at: crate::now(),
    };
    exchange_rates::Entity::insert(rate.clone().into_active_model())
        .exec(db)
        .await?;
    let latest = exchange_rates::Entity::find()
        .filter(exchange_rates::Column::MerchantId.eq(MERCHANT))
        .filter(exchange_rates::Column::Currency.eq("IDR"))
        .filter(
            exchange_rates::Column::EffectiveDate
                .lte(NaiveDate::from_ymd_opt(2026, 3, 1).expect("valid date")),
        )
        .order_by_desc(exchange_rates::Column::EffectiveDate)
        .one(db)
        .await?;
    assert_eq!(latest, Some(rate));

    // Orders with lines.
    let order = orders::Model {
        merchant_id: MERCHANT.to_owned(),
        order_id: "o-1".to_owned(),
        customer_id: "c-1".to_owned(),
        status: "PAID".to_owned(),
        total_minor: 2598,
        currency: "EUR".to_owned(),
        base_total_minor: Some(2598),
        base_currency: Some("EUR".to_owned()),
        discount_minor: None,
        coupon_code: None,
        payment_method: Some("CARD".to_owned()),
        payment_outcome: Some("SUCCEEDED".to_owned()),
        carrier: Some("DHL".to_owned()),
        promised_days: Some(5),
        actual_days: None,
        shipping_cost_minor: Some(499),
        tracking_offered: Some(true),
        destination_country: Some("DE".to_owned()),
        placed_at: t_early,
        updated_at: t_late,
        credit_note: false,
    };
    orders::Entity::insert(order.clone().into_active_model())
        .exec(db)
        .await?;
    let lines: Vec<order_lines::ActiveModel> = (0..2)
        .map(|i| {
            order_lines::Model {
                merchant_id: MERCHANT.to_owned(),
                order_id: "o-1".to_owned(),
                line_no: i,
                sku: "mug-1".to_owned(),
                quantity: 1,
                unit_price_minor: 1299,
            }
            .into_active_model()
        })
        .collect();
    order_lines::Entity::insert_many(lines).exec(db).await?;
    assert_eq!(
        orders::Entity::find_by_id((MERCHANT.to_owned(), "o-1".to_owned()))
            .one(db)
            .await?,
        Some(order)
    );
    assert_eq!(
        order_lines::Entity::find()
            .filter(order_lines::Column::OrderId.eq("o-1"))
            .count(db)
            .await?,
        2
    );

    // A model blob larger than MySQL BLOB's 64 KiB.
    let params: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let model = rec_models::Model {
        merchant_id: MERCHANT.to_owned(),
        version: 1,
        kind: "ITEM_CF".to_owned(),
        blend_weights: None,
        params,
        metrics: json!({"ndcg@10": 0.31, "hit_rate@10": 0.52}),
        state: "ACTIVE".to_owned(),
        training_job_id: Some("job-1".to_owned()),
        created_at: crate::now(),
        activated_at: Some(crate::now()),
    };
    rec_models::Entity::insert(model.clone().into_active_model())
        .exec(db)
        .await?;
    let active = rec_models::Entity::find()
        .filter(rec_models::Column::MerchantId.eq(MERCHANT))
        .filter(rec_models::Column::State.eq("ACTIVE"))
        .order_by_desc(rec_models::Column::Version)
        .one(db)
        .await?;
    assert_eq!(active, Some(model));
    Ok(())
}

/// Duplicate keys are recognised as unique violations on this backend, other
/// constraint failures are not. Run after [`assert_roundtrip`] (it reuses its rows).
pub async fn assert_unique_violations(db: &DatabaseConnection) -> Result<(), StoreError> {
    // Replayed event id: the ingestion idempotency path.
    let dup_event = events::ActiveModel {
        id: NotSet,
        merchant_id: Set(MERCHANT.to_owned()),
        event_id: Set("e-1".to_owned()),
        customer_id: Set("c-1".to_owned()),
        kind: Set("order".to_owned()),
        occur_time: Set(crate::now()),
        session_id: Set(None),
        source: Set(None),
        payload: Set(vec![1]),
        ingested_at: Set(crate::now()),
    };
    let err = StoreError::from(
        events::Entity::insert(dup_event)
            .exec(db)
            .await
            .expect_err("duplicate (merchant_id, event_id) must fail"),
    );
    assert!(err.is_unique_violation(), "not recognised: {err}");

    // Same event id under another merchant is fine.
    events::Entity::insert(events::ActiveModel {
        id: NotSet,
        merchant_id: Set("other-shop".to_owned()),
        event_id: Set("e-1".to_owned()),
        customer_id: Set("c-9".to_owned()),
        kind: Set("page_view".to_owned()),
        occur_time: Set(crate::now()),
        session_id: Set(None),
        source: Set(None),
        payload: Set(vec![1, 2]),
        ingested_at: Set(crate::now()),
    })
    .exec(db)
    .await?;

    // Event ids are case-sensitive on both backends (binary collation on MySQL).
    events::Entity::insert(events::ActiveModel {
        id: NotSet,
        merchant_id: Set(MERCHANT.to_owned()),
        event_id: Set("E-1".to_owned()),
        customer_id: Set("c-1".to_owned()),
        kind: Set("page_view".to_owned()),
        occur_time: Set(crate::now()),
        session_id: Set(None),
        source: Set(None),
        payload: Set(vec![1]),
        ingested_at: Set(crate::now()),
    })
    .exec(db)
    .await?;

    // Duplicate composite primary key.
    let err = StoreError::from(
        customers::Entity::insert(person("c-1").into_active_model())
            .exec(db)
            .await
            .expect_err("duplicate customer must fail"),
    );
    assert!(err.is_unique_violation(), "not recognised: {err}");

    // Identifier already bound to a customer.
    let err = StoreError::from(
        customer_identifiers::Entity::insert(
            customer_identifiers::Model {
                merchant_id: MERCHANT.to_owned(),
                kind: "EMAIL".to_owned(),
                value_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
                    .to_owned(),
                customer_id: "c-1".to_owned(),
                created_at: crate::now(),
            }
            .into_active_model(),
        )
        .exec(db)
        .await
        .expect_err("duplicate identifier must fail"),
    );
    assert!(err.is_unique_violation(), "not recognised: {err}");

    // A foreign-key failure is an error, but not a unique violation (and proves foreign
    // keys are enforced on this connection).
    let err = StoreError::from(
        customer_contacts::Entity::insert(
            customer_contacts::Model {
                merchant_id: MERCHANT.to_owned(),
                customer_id: "no-such-customer".to_owned(),
                id: "ct-1".to_owned(),
                name: Some("Li Wei".to_owned()),
                job_title: Some("Buyer".to_owned()),
                decision_maker: true,
                email: None,
                phone: None,
                preferred_channel: Some("WECHAT".to_owned()),
                created_at: crate::now(),
                updated_at: crate::now(),
                pii: None,
            }
            .into_active_model(),
        )
        .exec(db)
        .await
        .expect_err("contact of a missing customer must fail"),
    );
    assert!(!err.is_unique_violation(), "misclassified: {err}");
    Ok(())
}

/// Results recorded before `m20261124_000011_campaign_breakdowns` survive it (as the
/// campaign's own segment, `""`) and its rollback (one row per bucket again: its total row).
pub async fn assert_campaign_results_survive_breakdown_migration(
    db: &DatabaseConnection,
) -> Result<(), StoreError> {
    use crate::entity::campaign_results;
    use sea_orm::{ConnectionTrait, Statement};

    Migrator::down(db, None).await?;
    // The migrations before the breakdown one (it is the ninth in the list).
    Migrator::up(db, Some(8)).await?;
    let t = at(2026, 5, 1, 0, 0, 0, 0);
    let backend = db.get_database_backend();
    // Raw SQL: the entity has columns that later migrations add.
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO merchants (id, display_name, base_currency, created_at, updated_at) \
         VALUES (?, 'Acme', 'EUR', ?, ?)",
        [MERCHANT.into(), t.into(), t.into()],
    ))
    .await?;
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO campaigns (merchant_id, id, display_name, strategy_id, variant, channel, \
         segment_id, state, budget_minor, currency, started_at, ended_at, created_at, \
         updated_at) VALUES (?, 'spring', 'Spring', 'tracking', 'A', 'EMAIL', NULL, 'RUNNING', \
         NULL, 'EUR', NULL, NULL, ?, ?)",
        [MERCHANT.into(), t.into(), t.into()],
    ))
    .await?;
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO campaign_results (merchant_id, campaign_id, bucket_start, bucket_seconds, \
         impressions, clicks, conversions, revenue_minor, spend_minor, currency, updated_at) \
         VALUES (?, 'spring', ?, 86400, 1000, 100, 10, 50000, 9000, 'EUR', ?)",
        [MERCHANT.into(), t.into(), t.into()],
    ))
    .await?;
    crate::migrate(db).await?;
    let rows = campaign_results::Entity::find().all(db).await?;
    assert_eq!(
        rows.len(),
        1,
        "the stored result survives the table rebuild"
    );
    assert_eq!(
        (
            rows[0].segment_id.as_str(),
            rows[0].bucket_start,
            rows[0].impressions
        ),
        ("", t, 1000)
    );
    // A segment row beside the bucket's total row, then back to one row per bucket.
    let mut other = rows[0].clone().into_active_model();
    other.segment_id = Set("champions".to_owned());
    other.impressions = Set(500);
    other.insert(db).await?;
    // Roll back the breakdown and every migration after it.
    let after_breakdown = u32::try_from(Migrator::migrations().len() - 8).unwrap_or(1);
    Migrator::down(db, Some(after_breakdown)).await?;
    let impressions: Vec<i64> = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT impressions FROM campaign_results",
        ))
        .await?
        .iter()
        .map(|row| row.try_get::<i64>("", "impressions"))
        .collect::<Result<_, _>>()?;
    let (total, n) = (impressions.iter().sum::<i64>(), impressions.len());
    assert_eq!(
        (total, n),
        (1000, 1),
        "rollback keeps a bucket's total row, not the sum with its segments"
    );
    crate::migrate(db).await?;
    Ok(())
}

/// [`crate::bulk_insert::insert_rows`] writes every row, across statement chunks, with values
/// bound as given (quotes, backslashes and non-ASCII text stay data), and refuses values
/// that do not make whole rows.
pub async fn assert_bulk_insert(db: &DatabaseConnection) -> Result<(), StoreError> {
    use sea_orm::Value;

    let t = at(2026, 3, 4, 5, 6, 7, 89);
    let columns = OUTBOX_ROW_COLUMNS;
    let mut values = Vec::new();
    for i in 0..2_501 {
        values.extend([
            Value::from(MERCHANT),
            Value::from(format!("bulk-{i}-'\\\"--;")),
            Value::from("Zoë 跨境"),
            Value::from("page_view"),
            Value::from(t),
        ]);
    }
    let inserted = crate::bulk_insert::insert_rows(db, "outbox", &columns, values, 1_000).await?;
    assert_eq!(inserted, 2_501);
    let rows = outbox::Entity::find()
        .filter(outbox::Column::EventId.starts_with("bulk-"))
        .order_by_asc(outbox::Column::Seq)
        .all(db)
        .await?;
    assert_eq!(rows.len(), 2_501);
    assert_eq!(rows[2_500].event_id, "bulk-2500-'\\\"--;");
    assert_eq!(rows[0].customer_id, "Zoë 跨境");
    assert_eq!(rows[0].created_at, t);

    // 400 rows of 60 KiB: 24 MiB, more than MariaDB's default 16 MiB max_allowed_packet,
    // which drops the connection of a statement that does not fit. The rows are split
    // into statements by size, not only by count.
    let mut large = Vec::new();
    for i in 0..400u32 {
        let blob: Vec<u8> = (0..60 * 1024).map(|b| (b as u32 ^ i) as u8).collect();
        large.extend([
            Value::from(MERCHANT),
            Value::from(format!("bulk-large-{i}")),
            Value::from("c-1"),
            Value::from("event_batch"),
            Value::from(t),
            Value::from(blob),
        ]);
    }
    let with_entries = [
        "merchant_id",
        "event_id",
        "customer_id",
        "kind",
        "created_at",
        "entries",
    ];
    let inserted =
        crate::bulk_insert::insert_rows(db, "outbox", &with_entries, large, 1_000).await?;
    assert_eq!(inserted, 400);
    let last = outbox::Entity::find()
        .filter(outbox::Column::EventId.eq("bulk-large-399"))
        .one(db)
        .await?
        .expect("the last large row");
    let entries = last.entries.expect("its blob");
    assert_eq!(entries.len(), 60 * 1024);
    assert_eq!(entries[1], (1u32 ^ 399) as u8);

    let ragged = vec![Value::from("only"), Value::from("two")];
    assert!(
        crate::bulk_insert::insert_rows(db, "outbox", &columns, ragged, 10)
            .await
            .is_err(),
        "values that do not fill whole rows are refused"
    );
    outbox::Entity::delete_many()
        .filter(outbox::Column::EventId.starts_with("bulk-"))
        .exec(db)
        .await?;
    Ok(())
}

/// How many migrations to roll back to undo `name` and every migration after it.
fn steps_back_to_before(name: &str) -> u32 {
    let all = Migrator::migrations();
    let position = all
        .iter()
        .position(|m| m.name() == name)
        .unwrap_or_else(|| panic!("{name} is listed"));
    u32::try_from(all.len() - position).unwrap_or(u32::MAX)
}

/// Rolling back the packed outbox (migration 14) turns each packed row back into one row per
/// event, so no unconsumed entry is lost; single rows stay as they are.
pub async fn assert_packed_outbox_unpacks_on_rollback(
    db: &DatabaseConnection,
) -> Result<(), StoreError> {
    use crate::outbox_entries::{self, OutboxEntry};
    use sea_orm::{ConnectionTrait, Statement};

    crate::migrate(db).await?;
    let t = at(2026, 6, 1, 12, 0, 0, 0);
    let entry = |e: &str, c: &str| OutboxEntry {
        event_id: e.to_owned(),
        customer_id: c.to_owned(),
        kind: "page_view".to_owned(),
    };
    let packed = outbox_entries::encode(vec![entry("e-1", "c-1"), entry("e-2", "c-2")]);
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO outbox (merchant_id, event_id, customer_id, kind, created_at, \
         entry_count, entries) VALUES (?, 'e-1', 'c-1', 'event_batch', ?, 2, ?), \
         (?, 'merge-1', 'c-9', 'customer_merged', ?, 1, NULL)",
        [
            MERCHANT.into(),
            t.into(),
            packed.into(),
            MERCHANT.into(),
            t.into(),
        ],
    ))
    .await?;
    // Back to before migration 14: roll back it and every later one.
    Migrator::down(
        db,
        Some(steps_back_to_before("m20261124_000014_packed_outbox")),
    )
    .await?;
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT event_id, customer_id, kind FROM outbox ORDER BY event_id",
        ))
        .await?;
    let rows: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            Ok((
                r.try_get_by_index(0)?,
                r.try_get_by_index(1)?,
                r.try_get_by_index(2)?,
            ))
        })
        .collect::<Result<_, sea_orm::DbErr>>()?;
    let expected = [
        ("e-1", "c-1", "page_view"),
        ("e-2", "c-2", "page_view"),
        ("merge-1", "c-9", "customer_merged"),
    ];
    assert_eq!(
        rows,
        expected
            .iter()
            .map(|(e, c, k)| ((*e).to_owned(), (*c).to_owned(), (*k).to_owned()))
            .collect::<Vec<_>>()
    );
    crate::migrate(db).await?;
    let counts: Vec<i32> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::EntryCount)
        .into_tuple()
        .all(db)
        .await?;
    assert_eq!(
        counts,
        vec![1, 1, 1],
        "rows from before count one entry each"
    );
    Ok(())
}

/// Migration 15 turns stored JSON payloads (`{"v":1,"pb":"<hex>"}`) into a format byte plus
/// the same bytes, keeps every other column and the indexes, turns an unreadable document
/// into an empty payload, and converts back on rollback.
pub async fn assert_event_payloads_convert_both_ways(
    db: &DatabaseConnection,
) -> Result<(), StoreError> {
    use sea_orm::{ConnectionTrait, Statement};

    crate::migrate(db).await?;
    let rollback = steps_back_to_before("m20261124_000015_binary_event_payloads");
    Migrator::down(db, Some(rollback)).await?;
    let t = at(2026, 7, 1, 8, 0, 0, 250_000);
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO events (id, merchant_id, event_id, customer_id, kind, occur_time, \
         session_id, source, payload, ingested_at) VALUES \
         (7, ?, 'e-1', 'c-1', 'product_view', ?, 's-1', NULL, ?, ?), \
         (9, ?, 'e-2', 'c-2', 'page_view', ?, NULL, 'web', ?, ?)",
        [
            MERCHANT.into(),
            t.into(),
            r#"{"v":1,"pb":"5a0412020801"}"#.into(),
            t.into(),
            MERCHANT.into(),
            t.into(),
            r#"{"unexpected":true}"#.into(),
            t.into(),
        ],
    ))
    .await?;

    crate::migrate(db).await?;
    let rows = events::Entity::find()
        .order_by_asc(events::Column::Id)
        .all(db)
        .await?;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].id, rows[0].event_id.as_str(), rows[0].occur_time),
        (7, "e-1", t)
    );
    assert_eq!(rows[0].session_id.as_deref(), Some("s-1"));
    assert_eq!(rows[1].source.as_deref(), Some("web"));
    assert_eq!(rows[0].payload, vec![1, 0x5a, 0x04, 0x12, 0x02, 0x08, 0x01]);
    assert!(
        rows[1].payload.is_empty(),
        "unreadable documents become empty"
    );
    // The idempotency index came back with the rebuilt table.
    let again = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            "INSERT INTO events (merchant_id, event_id, customer_id, kind, occur_time, \
             payload, ingested_at) VALUES (?, 'e-1', 'c-1', 'page_view', ?, ?, ?)",
            [MERCHANT.into(), t.into(), vec![1u8].into(), t.into()],
        ))
        .await;
    assert!(
        again.is_err_and(|e| crate::is_unique_violation(&e)),
        "(merchant_id, event_id) stays unique"
    );
    // New rows continue after the copied ids.
    let next = events::ActiveModel {
        id: NotSet,
        merchant_id: Set(MERCHANT.to_owned()),
        event_id: Set("e-3".to_owned()),
        customer_id: Set("c-1".to_owned()),
        kind: Set("page_view".to_owned()),
        occur_time: Set(t),
        session_id: Set(None),
        source: Set(None),
        payload: Set(vec![1]),
        ingested_at: Set(t),
    }
    .insert(db)
    .await?;
    assert!(next.id > 9, "id {} after 9", next.id);

    Migrator::down(db, Some(rollback)).await?;
    let back = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT payload FROM events WHERE id IN (7, 9) ORDER BY id",
        ))
        .await?;
    let docs: Vec<serde_json::Value> = back
        .iter()
        .map(|r| {
            let text: String = r.try_get_by_index(0)?;
            serde_json::from_str(&text).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))
        })
        .collect::<Result<_, sea_orm::DbErr>>()?;
    assert_eq!(
        docs,
        vec![
            json!({"v": 1, "pb": "5a0412020801"}),
            json!({"v": 1, "pb": ""})
        ]
    );
    crate::migrate(db).await?;
    Ok(())
}

/// [`crate::consumer_lease`]: of two replicas one holds the lease and the other stands by;
/// only the holder commits; the other takes over once the lease expires or is released;
/// the former holder can then neither renew nor commit.
pub async fn assert_consumer_lease_is_exclusive(db: &DatabaseConnection) -> Result<(), StoreError> {
    use crate::consumer_lease::ConsumerLease;
    use std::time::Duration;

    crate::migrate(db).await?;
    let lease = Duration::from_secs(30);
    let a = ConsumerLease::new("lease-check", "replica-a".to_owned(), lease);
    let b = ConsumerLease::new("lease-check", "replica-b".to_owned(), lease);
    let t0 = at(2026, 11, 24, 10, 0, 0, 0);
    let later = |seconds: i64| UtcDateTime::new(t0.get() + chrono::Duration::seconds(seconds));

    assert_eq!(a.offset(db).await?, 0, "no row yet");
    assert_eq!(a.acquire(db, t0).await?, Some(0), "a free lease is taken");
    assert_eq!(b.acquire(db, later(1)).await?, None, "a held lease is not");
    assert_eq!(
        a.acquire(db, later(20)).await?,
        Some(0),
        "the holder renews"
    );
    assert_eq!(
        b.acquire(db, later(40)).await?,
        None,
        "renewed at 20 s, it holds until 50 s"
    );
    assert!(a.commit(db, 42, later(41)).await?, "the holder commits");
    assert!(!b.commit(db, 7, later(42)).await?, "the other does not");
    assert_eq!(b.offset(db).await?, 42, "the offset is the holder's");

    assert_eq!(
        b.acquire(db, later(51)).await?,
        Some(42),
        "an expired lease is taken over, with the offset"
    );
    assert!(
        !a.commit(db, 43, later(52)).await?,
        "the former holder cannot commit"
    );
    assert_eq!(
        a.acquire(db, later(53)).await?,
        None,
        "nor take the lease back while it holds"
    );
    assert_eq!(a.offset(db).await?, 42);

    b.release(db).await?;
    assert_eq!(
        a.acquire(db, later(54)).await?,
        Some(42),
        "a released lease is taken at once"
    );
    assert_eq!(
        a.acquire(db, later(54)).await?,
        Some(42),
        "renewing at the same instant still holds (MySQL reports no changed row)"
    );
    let other = ConsumerLease::new("other-consumer", "replica-b".to_owned(), lease);
    assert_eq!(
        other.acquire(db, later(55)).await?,
        Some(0),
        "each consumer name has its own lease"
    );
    Ok(())
}

/// [`crate::consumer_lease::ConsumerLease::hold_while`]: work three times as long as the
/// lease keeps it (another replica cannot take it meanwhile) and returns its result; work
/// during which the lease is taken anyway (here: stolen by a direct write) is dropped.
pub async fn assert_consumer_lease_is_kept_during_long_work(
    db: &DatabaseConnection,
) -> Result<(), StoreError> {
    use crate::consumer_lease::ConsumerLease;
    use crate::entity::consumer_offsets;
    use sea_orm::sea_query::Expr;
    use std::time::Duration;

    crate::migrate(db).await?;
    let lease = Duration::from_secs(1);
    let a = ConsumerLease::new("long-work", "replica-a".to_owned(), lease);
    let b = ConsumerLease::new("long-work", "replica-b".to_owned(), lease);
    assert_eq!(a.acquire(db, UtcDateTime::now()).await?, Some(0));

    let other_replica = async {
        let mut took = 0;
        for _ in 0..12 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if b.acquire(db, UtcDateTime::now()).await?.is_some() {
                took += 1;
            }
        }
        Ok::<usize, sea_orm::DbErr>(took)
    };
    let work = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        "done"
    };
    let (held, took) = tokio::join!(a.hold_while(db, work), other_replica);
    assert_eq!(held?, Some("done"), "the holder finished its work");
    assert_eq!(took?, 0, "the other replica never got the lease");

    consumer_offsets::Entity::update_many()
        .col_expr(
            consumer_offsets::Column::LeaseOwner,
            Expr::value("replica-b".to_owned()),
        )
        .filter(consumer_offsets::Column::Consumer.eq("long-work"))
        .exec(db)
        .await?;
    let lost = a
        .hold_while(db, tokio::time::sleep(Duration::from_secs(10)))
        .await?;
    assert_eq!(lost, None, "work is dropped once the lease is gone");
    Ok(())
}

/// [`crate::write_transaction`]: statements (entity queries and [`crate::bulk_insert`]) run
/// inside the transaction and see its writes; commit makes them visible; a dropped
/// transaction is rolled back and leaves no locks; unique violations are recognised; on
/// MySQL the transaction runs at the isolation level asked for.
pub async fn assert_write_transactions(db: &DatabaseConnection) -> Result<(), StoreError> {
    use crate::write_transaction::WriteTransaction;
    use sea_orm::{ConnectionTrait, DbBackend, IsolationLevel, Statement, Value};

    crate::migrate(db).await?;
    let t = at(2026, 11, 24, 15, 0, 0, 250);
    let row = |event_id: &str| {
        vec![
            Value::from(MERCHANT),
            Value::from(event_id),
            Value::from("Zoë 跨境"),
            Value::from("page_view"),
            Value::from(t),
        ]
    };
    let columns = OUTBOX_ROW_COLUMNS;
    let count = |prefix: &'static str| {
        outbox::Entity::find()
            .filter(outbox::Column::EventId.starts_with(prefix))
            .count(db)
    };

    let txn = WriteTransaction::begin(db, Some(IsolationLevel::ReadCommitted)).await?;
    let values: Vec<Value> = ["wt-1", "wt-2"].iter().flat_map(|id| row(id)).collect();
    let inserted = crate::bulk_insert::insert_rows(&txn, "outbox", &columns, values, 10).await?;
    assert_eq!(inserted, 2);
    let seen = outbox::Entity::find()
        .filter(outbox::Column::EventId.starts_with("wt-"))
        .order_by_asc(outbox::Column::Seq)
        .all(&txn)
        .await?;
    assert_eq!(seen.len(), 2, "the transaction sees its own writes");
    assert_eq!(seen[0].customer_id, "Zoë 跨境");
    assert_eq!(seen[1].created_at, t);
    if db.get_database_backend() == DbBackend::MySql {
        let level = txn
            .query_one_raw(Statement::from_string(
                DbBackend::MySql,
                "SELECT trx_isolation_level FROM information_schema.innodb_trx \
                 WHERE trx_mysql_thread_id = CONNECTION_ID()",
            ))
            .await?
            .expect("this transaction is listed");
        let level: String = level.try_get_by_index(0)?;
        assert_eq!(level, "READ COMMITTED");
    }
    txn.commit().await?;
    assert_eq!(count("wt-").await?, 2, "committed");

    let txn = WriteTransaction::begin(db, None).await?;
    crate::bulk_insert::insert_rows(&txn, "outbox", &columns, row("wt-dropped"), 10).await?;
    drop(txn);
    assert_eq!(count("wt-dropped").await?, 0, "rolled back");
    // The rolled-back row held no lock: the same row goes in again at once.
    let txn = WriteTransaction::begin(db, Some(IsolationLevel::ReadCommitted)).await?;
    crate::bulk_insert::insert_rows(&txn, "outbox", &columns, row("wt-dropped"), 10).await?;
    txn.commit().await?;
    assert_eq!(count("wt-dropped").await?, 1);

    let txn = WriteTransaction::begin(db, None).await?;
    let merchant = merchant().into_active_model();
    merchants::Entity::insert(merchant.clone())
        .exec_without_returning(&txn)
        .await?;
    let err = merchants::Entity::insert(merchant)
        .exec_without_returning(&txn)
        .await
        .expect_err("the same merchant twice");
    assert!(crate::is_unique_violation(&err), "{err}");
    drop(txn);
    assert_eq!(merchants::Entity::find().count(db).await?, 0);

    outbox::Entity::delete_many()
        .filter(outbox::Column::EventId.starts_with("wt-"))
        .exec(db)
        .await?;
    Ok(())
}
