//! Verifies that the entities match the migrated schema, column for column.
//!
//! The migrations are hand-written (frozen history) and the entities are the live view;
//! nothing ties them together at compile time. This check builds a *twin* database from
//! the entities alone (`Schema::create_table_from_entity`) and compares the column
//! metadata of every table (name and order, SQL type, nullability, primary key) with the
//! migrated database, on whichever backend both connections use.

use sea_orm::sea_query::TableCreateStatement;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, IdenStatic, Iterable,
    PrimaryKeyToColumn, Schema, Statement,
};

use crate::error::StoreError;

/// What the check needs to know about one entity.
struct EntityInfo {
    table: &'static str,
    /// `(column, nullable, part of primary key)` in declaration order.
    columns: Vec<(String, bool, bool)>,
    create: fn(DbBackend) -> TableCreateStatement,
}

impl EntityInfo {
    fn of<E: EntityTrait + Default>() -> Self {
        let pk: Vec<String> = E::PrimaryKey::iter()
            .map(|k| k.into_column().as_str().to_owned())
            .collect();
        let columns = E::Column::iter()
            .map(|c| {
                let name = c.as_str().to_owned();
                let is_pk = pk.contains(&name);
                (name, c.def().is_null(), is_pk)
            })
            .collect();
        EntityInfo {
            table: E::default().table_name(),
            columns,
            create: |backend| Schema::new(backend).create_table_from_entity(E::default()),
        }
    }
}

macro_rules! entity_infos {
    ($($module:ident),* $(,)?) => {
        vec![$(EntityInfo::of::<crate::entity::$module::Entity>()),*]
    };
}

/// All entities, parents before children (the order the migrations create them).
fn all_entities() -> Vec<EntityInfo> {
    entity_infos!(
        merchants,
        customers,
        customer_contacts,
        customer_identifiers,
        identity_merges,
        products,
        exchange_rates,
        events,
        outbox,
        consumer_offsets,
        orders,
        order_lines,
        profiles,
        customer_tags,
        tag_history,
        segments,
        value_models,
        rebuild_jobs,
        rec_models,
        training_jobs,
        country_exclusions,
        strategies,
        campaigns,
        campaign_results,
        strategy_posteriors,
        contact_log,
        response_priors,
        api_keys,
        access_log,
        erased_customers,
        rec_model_customers,
        rec_model_purges,
        failed_events,
        profile_event_summaries,
    )
}

/// One column as the database reports it.
#[derive(Debug, PartialEq)]
struct ColumnMeta {
    name: String,
    sql_type: String,
    nullable: bool,
    pk: bool,
}

async fn columns(db: &DatabaseConnection, table: &str) -> Result<Vec<ColumnMeta>, StoreError> {
    let backend = db.get_database_backend();
    let (sql, mysql) = match backend {
        DbBackend::Sqlite => (
            "SELECT name, lower(type) AS sql_type, \"notnull\" = 0 AS nullable, pk > 0 AS pk \
             FROM pragma_table_info(?) ORDER BY cid",
            false,
        ),
        _ => (
            "SELECT CAST(COLUMN_NAME AS CHAR) AS name, \
             CAST(CONCAT(DATA_TYPE, \
               CASE WHEN CHARACTER_MAXIMUM_LENGTH IS NOT NULL \
                      AND DATA_TYPE IN ('char', 'varchar') \
                    THEN CONCAT('(', CHARACTER_MAXIMUM_LENGTH, ')') \
                    WHEN DATA_TYPE IN ('datetime', 'timestamp') \
                    THEN CONCAT('(', DATETIME_PRECISION, ')') ELSE '' END) AS CHAR) AS sql_type, \
             IS_NULLABLE = 'YES' AS nullable, COLUMN_KEY = 'PRI' AS pk \
             FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            true,
        ),
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, [table.into()]))
        .await?;
    rows.iter()
        .map(|r| {
            let sql_type: String = r.try_get("", "sql_type")?;
            Ok(ColumnMeta {
                name: r.try_get("", "name")?,
                sql_type: if mysql {
                    normalise_mysql_type(&sql_type)
                } else {
                    sql_type
                },
                nullable: r.try_get::<i64>("", "nullable")? != 0,
                pk: r.try_get::<i64>("", "pk")? != 0,
            })
        })
        .collect()
}

/// The entity twin uses the generic sea-query types; the migrations deliberately pick
/// `DATETIME(6)` and `LONGBLOB` on MySQL (see `migration::schema`).
fn normalise_mysql_type(t: &str) -> String {
    match t {
        "timestamp(0)" => "datetime(6)".to_owned(),
        "blob" => "longblob".to_owned(),
        other => other.to_owned(),
    }
}

/// Creates every entity's table in `twin` (an empty database) straight from the entity
/// definitions.
pub async fn create_tables_from_entities(twin: &DatabaseConnection) -> Result<(), StoreError> {
    let backend = twin.get_database_backend();
    for e in all_entities() {
        twin.execute(&(e.create)(backend)).await?;
    }
    Ok(())
}

/// Panics with a list of differences unless every entity matches the migrated `db`.
///
/// `twin` must be an empty database on the same backend; it receives the entity-built
/// tables. Also checks that the entities cover exactly [`crate::TABLES`].
pub async fn assert_entities_match_schema(
    db: &DatabaseConnection,
    twin: &DatabaseConnection,
) -> Result<(), StoreError> {
    create_tables_from_entities(twin).await?;
    let entities = all_entities();
    let entity_tables: Vec<&str> = entities.iter().map(|e| e.table).collect();
    assert_eq!(
        entity_tables,
        crate::TABLES,
        "entity modules and migrated tables differ"
    );

    let mut problems = Vec::new();
    for e in &entities {
        let migrated = columns(db, e.table).await?;
        let from_entity = columns(twin, e.table).await?;
        if migrated.is_empty() {
            problems.push(format!("{}: table missing in migrated database", e.table));
            continue;
        }
        let declared: Vec<(String, bool, bool)> = migrated
            .iter()
            .map(|c| (c.name.clone(), c.nullable, c.pk))
            .collect();
        if declared != e.columns {
            problems.push(format!(
                "{}: (column, nullable, pk)\n  migrated: {declared:?}\n  entity:   {:?}",
                e.table, e.columns
            ));
        }
        for (m, t) in migrated.iter().zip(&from_entity) {
            if m != t {
                problems.push(format!("{}: migrated {m:?} != entity {t:?}", e.table));
            }
        }
        if migrated.len() != from_entity.len() {
            problems.push(format!(
                "{}: {} migrated columns, {} entity columns",
                e.table,
                migrated.len(),
                from_entity.len()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "entities do not match the migrations:\n{}",
        problems.join("\n")
    );
    Ok(())
}
