//! Every row of every table, from the database's own catalogue (never a hand-written list),
//! as bytes: to show that a call changed nothing, or that no row anywhere still holds an id.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// Table name -> its rows, each row its columns' raw bytes joined by 0x1f, sorted.
pub type Dump = BTreeMap<String, Vec<Vec<u8>>>;

/// Reads every row of every base table of `db`.
pub async fn dump(db: &DatabaseConnection) -> Result<Dump> {
    let mut out = Dump::new();
    for table in caravan_store::testing::table_names(db).await? {
        let columns = column_names(db, &table).await?;
        let backend = db.get_database_backend();
        let sql = match backend {
            DbBackend::Sqlite => {
                let parts: Vec<String> = columns
                    .iter()
                    .map(|c| format!("IFNULL(CAST(\"{c}\" AS BLOB), x'')"))
                    .collect();
                format!(
                    "SELECT {} AS r FROM \"{table}\"",
                    parts.join(" || x'1f' || ")
                )
            }
            _ => {
                let parts: Vec<String> = columns
                    .iter()
                    .map(|c| format!("IFNULL(CAST(`{c}` AS BINARY), '')"))
                    .collect();
                format!(
                    "SELECT CONCAT_WS(0x1f, {}) AS r FROM `{table}`",
                    parts.join(", ")
                )
            }
        };
        let rows = db
            .query_all_raw(Statement::from_string(backend, sql))
            .await
            .with_context(|| format!("read {table}"))?;
        let mut rows = rows
            .iter()
            .map(|r| r.try_get::<Vec<u8>>("", "r"))
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("rows of {table}"))?;
        rows.sort();
        out.insert(table, rows);
    }
    Ok(out)
}

async fn column_names(db: &DatabaseConnection, table: &str) -> Result<Vec<String>> {
    let backend = db.get_database_backend();
    let (sql, field) = match backend {
        DbBackend::Sqlite => (
            format!("SELECT name FROM pragma_table_info('{table}')"),
            "name",
        ),
        _ => (
            format!(
                "SELECT CAST(COLUMN_NAME AS CHAR) AS name FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION"
            ),
            "name",
        ),
    };
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get::<String>("", field))
        .collect::<Result<Vec<_>, _>>()?)
}

/// The tables whose rows contain `needle` anywhere (in any column, blobs included), with the
/// number of such rows.
pub fn rows_containing(dump: &Dump, needle: &[u8]) -> Vec<(String, usize)> {
    dump.iter()
        .filter_map(|(table, rows)| {
            let n = rows.iter().filter(|row| contains(row, needle)).count();
            (n > 0).then(|| (table.clone(), n))
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The tables whose rows differ between two dumps.
pub fn changed_tables(before: &Dump, after: &Dump) -> Vec<String> {
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter(|t| before.get(*t) != after.get(*t))
        .cloned()
        .collect()
}

/// Waits until the profile outbox consumer has applied every outbox row written so far (its
/// committed `last_seq` reaches the newest `seq`), so that a snapshot taken next is not
/// changed later by portraits of what the test set up.
pub async fn wait_for_outbox_consumed(db: &DatabaseConnection) -> Result<()> {
    use caravan_store::entity::{consumer_offsets, outbox};
    use sea_orm::{EntityTrait, QueryOrder};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let newest = outbox::Entity::find()
            .order_by_desc(outbox::Column::Seq)
            .one(db)
            .await?
            .map_or(0, |row| row.seq);
        let consumed = consumer_offsets::Entity::find_by_id("profiling".to_owned())
            .one(db)
            .await?
            .map_or(0, |row| row.last_seq);
        if consumed >= newest {
            return Ok(());
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the outbox consumer is at {consumed}, the outbox at {newest} after 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
