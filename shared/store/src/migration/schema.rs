//! Column and table helpers shared by the migrations.
//!
//! The migrations must produce the same logical schema on MySQL/MariaDB and SQLite. Most
//! column types map well through sea-query, but a few need a backend decision, made here in
//! one place so every table gets the same answer:
//!
//! * **Timestamps** are `DATETIME(6)` on MySQL, holding UTC. sea-query would render
//!   `timestamp_with_time_zone` as MySQL `TIMESTAMP`, which stops in 2038, drops sub-second
//!   precision and is converted through the session time zone. sqlx already pins the MySQL
//!   session to `+00:00` and decodes `DATETIME` into `DateTime<Utc>`, so the entities still
//!   use `DateTimeUtc`. On SQLite the type is `timestamp_with_timezone_text`: RFC 3339 text
//!   with a `+00:00` offset, which sorts chronologically as plain text.
//! * **Large binary** (model parameters) is `LONGBLOB` on MySQL (`BLOB` stops at 64 KiB).
//! * **Tables on MySQL** are InnoDB, `utf8mb4` with the binary collation, so that
//!   uniqueness and ordering of ids are case-sensitive exactly as on SQLite (`BINARY`).
//! * **Indexes** are declared inside `CREATE TABLE` on MySQL (MySQL has no
//!   `CREATE INDEX IF NOT EXISTS`, and one statement keeps a table and its indexes
//!   atomic there); on SQLite they are separate `CREATE INDEX IF NOT EXISTS` statements.
//!   Tables use `IF NOT EXISTS` too, so a migration interrupted half-way (MySQL DDL is not
//!   transactional) can simply be run again.
//!
//! Index names are prefixed with their table: SQLite index names are global to the
//! database.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Length of resource ids (merchant, customer, segment, strategy, ...): AIP-122 ids are at
/// most 63 characters.
pub(crate) const ID_LEN: u32 = 64;
/// Length of caller-supplied keys that are not resource ids (event ids, order ids, SKUs).
pub(crate) const KEY_LEN: u32 = 128;
/// Length of short enum-like codes (kinds, states, sources, channels).
pub(crate) const CODE_LEN: u32 = 32;
/// Length of names and titles.
pub(crate) const NAME_LEN: u32 = 255;

fn col<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
}

/// A resource id: `VARCHAR(64) NOT NULL`.
pub(crate) fn id<T: IntoIden>(name: T) -> ColumnDef {
    col(name).string_len(ID_LEN).not_null().take()
}

/// A nullable resource id.
pub(crate) fn id_null<T: IntoIden>(name: T) -> ColumnDef {
    col(name).string_len(ID_LEN).null().take()
}

/// A caller key (event id, order id, SKU): `VARCHAR(128) NOT NULL`.
pub(crate) fn key<T: IntoIden>(name: T) -> ColumnDef {
    col(name).string_len(KEY_LEN).not_null().take()
}

/// A short code such as a kind or a state: `VARCHAR(32) NOT NULL`.
pub(crate) fn code<T: IntoIden>(name: T) -> ColumnDef {
    col(name).string_len(CODE_LEN).not_null().take()
}

/// A nullable short code.
pub(crate) fn code_null<T: IntoIden>(name: T) -> ColumnDef {
    col(name).string_len(CODE_LEN).null().take()
}

/// A `VARCHAR(len) NOT NULL`.
pub(crate) fn varchar<T: IntoIden>(name: T, len: u32) -> ColumnDef {
    col(name).string_len(len).not_null().take()
}

/// A nullable `VARCHAR(len)`.
pub(crate) fn varchar_null<T: IntoIden>(name: T, len: u32) -> ColumnDef {
    col(name).string_len(len).null().take()
}

/// An ISO 4217 currency code: `CHAR(3) NOT NULL`.
pub(crate) fn currency<T: IntoIden>(name: T) -> ColumnDef {
    col(name).char_len(3).not_null().take()
}

/// A nullable ISO 4217 currency code.
pub(crate) fn currency_null<T: IntoIden>(name: T) -> ColumnDef {
    col(name).char_len(3).null().take()
}

/// An ISO 3166-1 alpha-2 country code: `CHAR(2) NOT NULL`.
pub(crate) fn country<T: IntoIden>(name: T) -> ColumnDef {
    col(name).char_len(2).not_null().take()
}

/// A nullable ISO 3166-1 alpha-2 country code.
pub(crate) fn country_null<T: IntoIden>(name: T) -> ColumnDef {
    col(name).char_len(2).null().take()
}

/// Free text up to 64 KiB on MySQL.
pub(crate) fn text<T: IntoIden>(name: T) -> ColumnDef {
    col(name).text().not_null().take()
}

/// Nullable free text.
pub(crate) fn text_null<T: IntoIden>(name: T) -> ColumnDef {
    col(name).text().null().take()
}

/// A JSON document: MariaDB `JSON` (LONGTEXT with a validity check), SQLite `json_text`.
pub(crate) fn json<T: IntoIden>(name: T) -> ColumnDef {
    col(name).json().not_null().take()
}

/// A nullable JSON document.
pub(crate) fn json_null<T: IntoIden>(name: T) -> ColumnDef {
    col(name).json().null().take()
}

/// A nullable `i16` (small scores, tiers, ratings).
pub(crate) fn small_null<T: IntoIden>(name: T) -> ColumnDef {
    col(name).small_integer().null().take()
}

/// An `i32`.
pub(crate) fn int<T: IntoIden>(name: T) -> ColumnDef {
    col(name).integer().not_null().take()
}

/// A nullable `i32`.
pub(crate) fn int_null<T: IntoIden>(name: T) -> ColumnDef {
    col(name).integer().null().take()
}

/// An `i64`: money in minor units, counters, sequence numbers.
pub(crate) fn big<T: IntoIden>(name: T) -> ColumnDef {
    col(name).big_integer().not_null().take()
}

/// A nullable `i64`.
pub(crate) fn big_null<T: IntoIden>(name: T) -> ColumnDef {
    col(name).big_integer().null().take()
}

/// An `f64`.
pub(crate) fn double<T: IntoIden>(name: T) -> ColumnDef {
    col(name).double().not_null().take()
}

/// A nullable `f64`.
pub(crate) fn double_null<T: IntoIden>(name: T) -> ColumnDef {
    col(name).double().null().take()
}

/// A boolean.
pub(crate) fn boolean<T: IntoIden>(name: T) -> ColumnDef {
    col(name).boolean().not_null().take()
}

/// A nullable boolean.
pub(crate) fn boolean_null<T: IntoIden>(name: T) -> ColumnDef {
    col(name).boolean().null().take()
}

/// A calendar date (`DATE` / `date_text`).
pub(crate) fn date<T: IntoIden>(name: T) -> ColumnDef {
    col(name).date().not_null().take()
}

/// A nullable calendar date.
pub(crate) fn date_null<T: IntoIden>(name: T) -> ColumnDef {
    col(name).date().null().take()
}

/// A `BIGINT` auto-increment primary key. On SQLite this is `INTEGER PRIMARY KEY
/// AUTOINCREMENT`, so values are never reused even after deletes (outbox consumers rely
/// on sequence numbers only growing).
pub(crate) fn seq_pk<T: IntoIden>(name: T) -> ColumnDef {
    col(name)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .take()
}

/// Backend-aware column types; see the module documentation.
#[derive(Clone, Copy)]
pub(crate) struct Types(pub(crate) DbBackend);

impl Types {
    pub(crate) fn of(manager: &SchemaManager<'_>) -> Self {
        Self(manager.get_database_backend())
    }

    fn is_mysql(self) -> bool {
        self.0 == DbBackend::MySql
    }

    /// A UTC instant, microsecond precision.
    pub(crate) fn ts<T: IntoIden>(self, name: T) -> ColumnDef {
        self.ts_base(name).not_null().take()
    }

    /// A nullable UTC instant.
    pub(crate) fn ts_null<T: IntoIden>(self, name: T) -> ColumnDef {
        self.ts_base(name).null().take()
    }

    fn ts_base<T: IntoIden>(self, name: T) -> ColumnDef {
        if self.is_mysql() {
            col(name).custom("DATETIME(6)").take()
        } else {
            col(name).timestamp_with_time_zone().take()
        }
    }

    /// A binary blob with no practical size limit (`LONGBLOB` on MySQL, `BLOB` on SQLite).
    pub(crate) fn long_blob<T: IntoIden>(self, name: T) -> ColumnDef {
        self.long_blob_base(name).not_null().take()
    }

    /// A nullable [`Self::long_blob`].
    pub(crate) fn long_blob_null<T: IntoIden>(self, name: T) -> ColumnDef {
        self.long_blob_base(name).null().take()
    }

    fn long_blob_base<T: IntoIden>(self, name: T) -> ColumnDef {
        if self.is_mysql() {
            col(name).custom("LONGBLOB").take()
        } else {
            col(name).blob().take()
        }
    }
}

/// A non-unique index named `name` on `table (cols...)`.
pub(crate) fn index<T, C, I>(name: &str, table: T, cols: I) -> IndexCreateStatement
where
    T: IntoIden,
    C: IntoIndexColumn,
    I: IntoIterator<Item = C>,
{
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for c in cols {
        stmt.col(c);
    }
    stmt.take()
}

/// A unique index named `name` on `table (cols...)`.
pub(crate) fn unique<T, C, I>(name: &str, table: T, cols: I) -> IndexCreateStatement
where
    T: IntoIden,
    C: IntoIndexColumn,
    I: IntoIterator<Item = C>,
{
    index(name, table, cols).unique().take()
}

/// A (possibly composite) primary key over `cols`.
pub(crate) fn pk<C, I>(cols: I) -> IndexCreateStatement
where
    C: IntoIndexColumn,
    I: IntoIterator<Item = C>,
{
    let mut stmt = Index::create();
    for c in cols {
        stmt.col(c);
    }
    stmt.primary().take()
}

/// Creates `table` (if missing) with its `indexes` (if missing), see module docs.
pub(crate) async fn create_table(
    manager: &SchemaManager<'_>,
    mut table: TableCreateStatement,
    indexes: Vec<IndexCreateStatement>,
) -> Result<(), DbErr> {
    table.if_not_exists();
    if manager.get_database_backend() == DbBackend::MySql {
        table
            .engine("InnoDB")
            .character_set("utf8mb4")
            .collate("utf8mb4_bin");
        for mut idx in indexes {
            table.index(&mut idx);
        }
        manager.create_table(table).await
    } else {
        manager.create_table(table).await?;
        for mut idx in indexes {
            manager.create_index(idx.if_not_exists().take()).await?;
        }
        Ok(())
    }
}

/// Drops `tables` in the given order, if they exist. List children before parents.
pub(crate) async fn drop_tables<T, I>(manager: &SchemaManager<'_>, tables: I) -> Result<(), DbErr>
where
    T: IntoIden,
    I: IntoIterator<Item = T>,
{
    for t in tables {
        manager
            .drop_table(Table::drop().table(t).if_exists().take())
            .await?;
    }
    Ok(())
}

/// Adds one column (SQLite's ALTER TABLE adds one at a time).
pub(crate) async fn add_column<T: IntoIden + 'static>(
    manager: &SchemaManager<'_>,
    table: T,
    mut column: ColumnDef,
) -> Result<(), DbErr> {
    let table = table.into_iden();
    // MySQL DDL is not transactional: a migration that failed half-way left its first
    // columns behind, and the re-run must not fail on them.
    if manager
        .has_column(&table.to_string(), &column.get_column_name())
        .await?
    {
        return Ok(());
    }
    manager
        .alter_table(Table::alter().table(table).add_column(&mut column).take())
        .await
}

/// Drops one column (nothing to do if it is already gone).
pub(crate) async fn drop_column<T: IntoIden + 'static, C: IntoIden + 'static>(
    manager: &SchemaManager<'_>,
    table: T,
    column: C,
) -> Result<(), DbErr> {
    let (table, column) = (table.into_iden(), column.into_iden());
    if !manager
        .has_column(&table.to_string(), &column.to_string())
        .await?
    {
        return Ok(());
    }
    manager
        .alter_table(Table::alter().table(table).drop_column(column).take())
        .await
}
