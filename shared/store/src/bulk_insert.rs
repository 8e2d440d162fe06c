//! Multi-row INSERTs built straight from values, for the hot write paths (event ingestion).
//!
//! `Entity::insert_many` builds a sea-query expression tree per value, renders it, then
//! converts every value again for the driver: at a thousand rows per statement that was
//! about 40% of the ingestion service's CPU. Here the SQL text is one placeholder list per
//! chunk and the values go to the driver as they are, still as bound parameters (never
//! spliced into the SQL), so quoting and injection are the driver's business as before.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

use crate::statement_shapes::insert_rows_ladder;

/// Most bytes of values in one statement. MySQL and MariaDB drop the connection of a
/// statement larger than `max_allowed_packet` (16 MiB by default on MariaDB 10.11); an
/// event may take 64 KiB, so a thousand of them would not fit. A few MiB per statement
/// is already past the point where bigger statements load faster.
pub const MAX_STATEMENT_BYTES: usize = 4 << 20;

/// Inserts `values` (row after row, `columns.len()` values per row) into `table`, in
/// statements of at most `chunk_rows` rows and about [`MAX_STATEMENT_BYTES`] of values (a
/// single larger row still goes alone). Below a full chunk, statements take a power of two
/// of rows ([`crate::statement_shapes`]), so that their few texts stay prepared. Table and
/// column names are trusted identifiers from code, quoted with backticks (understood by
/// MySQL/MariaDB and SQLite). Returns the number of rows inserted.
pub async fn insert_rows<C: ConnectionTrait>(
    conn: &C,
    table: &str,
    columns: &[&str],
    values: Vec<Value>,
    chunk_rows: usize,
) -> Result<u64, DbErr> {
    let width = columns.len();
    if width == 0 || values.is_empty() {
        return Ok(0);
    }
    if !values.len().is_multiple_of(width) {
        return Err(DbErr::Custom(format!(
            "{} values do not make whole rows of {width} columns for {table}",
            values.len()
        )));
    }
    let head = statement_head(table, columns);
    let row = row_placeholders(width);
    let backend = conn.get_database_backend();
    let mut inserted = 0;
    let mut values = values;
    if backend == DbBackend::MySql {
        values.iter_mut().for_each(binary_timestamp);
    }
    while !values.is_empty() {
        let fit = rows_that_fit(&values, width, chunk_rows.max(1), MAX_STATEMENT_BYTES);
        let rows = insert_rows_ladder(fit, chunk_rows);
        let rest = values.split_off(rows * width);
        let mut sql = String::with_capacity(head.len() + rows * (row.len() + 1));
        sql.push_str(&head);
        for i in 0..rows {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&row);
        }
        let result = conn
            .execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        inserted += result.rows_affected();
        values = rest;
    }
    Ok(inserted)
}

/// On MySQL, a [`crate::UtcDateTime`] value (a time with an offset) is sent as text and
/// parsed back by the server; the same instant as a UTC time goes as a binary DATETIME.
/// Two per event, on the hottest path.
fn binary_timestamp(value: &mut Value) {
    if let Value::ChronoDateTimeWithTimeZone(t) = value {
        *value = Value::ChronoDateTimeUtc(t.map(|t| t.to_utc()));
    }
}

/// How many of the leading rows of `values` go into the next statement: at most `max_rows`,
/// and no more than fit in `max_bytes`, but at least one.
fn rows_that_fit(values: &[Value], width: usize, max_rows: usize, max_bytes: usize) -> usize {
    let mut bytes = 0;
    let mut rows = 0;
    for row in values.chunks(width).take(max_rows) {
        bytes += row.iter().map(value_bytes).sum::<usize>();
        if rows > 0 && bytes > max_bytes {
            break;
        }
        rows += 1;
    }
    rows
}

/// About how many bytes a value takes on the wire.
fn value_bytes(value: &Value) -> usize {
    let data = match value {
        Value::String(Some(s)) => s.len(),
        Value::Bytes(Some(b)) => b.len(),
        Value::Json(Some(j)) => j.to_string().len(),
        _ => 8,
    };
    data + 9 // length prefix and parameter type
}

fn statement_head(table: &str, columns: &[&str]) -> String {
    let columns: Vec<String> = columns.iter().map(|c| format!("`{c}`")).collect();
    format!("INSERT INTO `{table}` ({}) VALUES ", columns.join(","))
}

fn row_placeholders(width: usize) -> String {
    let mut row = String::with_capacity(2 * width + 1);
    row.push('(');
    for i in 0..width {
        if i > 0 {
            row.push(',');
        }
        row.push('?');
    }
    row.push(')');
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_text_has_one_placeholder_per_value() {
        assert_eq!(
            statement_head("events", &["a", "b"]),
            "INSERT INTO `events` (`a`,`b`) VALUES "
        );
        assert_eq!(row_placeholders(3), "(?,?,?)");
        assert_eq!(row_placeholders(1), "(?)");
    }

    #[test]
    fn statements_are_split_by_rows_and_by_bytes() {
        let row = |text: &str| vec![Value::from(1i64), Value::from(text.to_owned())];
        let small: Vec<Value> = (0..10).flat_map(|_| row("ab")).collect();
        assert_eq!(rows_that_fit(&small, 2, 4, 1 << 20), 4, "row limit");
        assert_eq!(
            rows_that_fit(&small[16..], 2, 4, 1 << 20),
            2,
            "what is left"
        );
        // Each row is 8 + 9 + 100 + 9 = 126 bytes: three fit in 400, four do not.
        let big: Vec<Value> = (0..10).flat_map(|_| row(&"x".repeat(100))).collect();
        assert_eq!(rows_that_fit(&big, 2, 1000, 400), 3, "byte limit");
        assert_eq!(
            rows_that_fit(&big, 2, 1000, 10),
            1,
            "an oversized row goes alone"
        );
    }
}
