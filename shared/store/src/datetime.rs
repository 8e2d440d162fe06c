//! [`UtcDateTime`]: the type of every timestamp column.
//!
//! Why not sea-orm's `DateTimeUtc` (`chrono::DateTime<Utc>`) directly: sqlx sends a
//! `DateTime<Utc>` parameter to MySQL typed as `TIMESTAMP`, and MariaDB converts such a
//! parameter through the session time zone into its 32-bit `TIMESTAMP` range. Anything
//! before 1970 or after 2038-01-19 is silently stored as NULL (in a nullable column) even
//! in strict mode — verified against MariaDB 10.11. `UtcDateTime` binds as
//! `DateTime<FixedOffset>` instead, which sea-query sends to MySQL as a plain
//! `YYYY-MM-DD HH:MM:SS.ffffff` UTC string, stored verbatim in the `DATETIME(6)` columns
//! over the full year 1000-9999 range. On SQLite it is written exactly like a
//! `DateTime<Utc>` (RFC 3339 with `+00:00`), so filters may still use plain
//! `DateTime<Utc>` values there (on MySQL only within 1970-2038).
//!
//! Values are truncated to microseconds on construction, the precision of `DATETIME(6)`,
//! so what is written compares equal to what is read back on both backends.

use std::fmt;
use std::ops::Deref;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{
    ArrayType, ColumnType, DateTimeLikeValue, Nullable, ValueType, ValueTypeErr,
};
use sea_orm::{ColIdx, DbErr, QueryResult, TryFromU64, TryGetError, TryGetable, Value};
use serde::{Deserialize, Serialize};

/// A UTC instant with microsecond precision, as stored in the Caravan store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "DateTime<Utc>", into = "DateTime<Utc>")]
pub struct UtcDateTime(DateTime<Utc>);

impl UtcDateTime {
    /// Wraps `t`, truncated to microseconds.
    pub fn new(t: DateTime<Utc>) -> Self {
        Self(t.trunc_subsecs(6))
    }

    /// The current time, truncated to microseconds.
    pub fn now() -> Self {
        Self::new(Utc::now())
    }

    /// The wrapped `chrono` value.
    pub fn get(self) -> DateTime<Utc> {
        self.0
    }
}

impl From<DateTime<Utc>> for UtcDateTime {
    fn from(t: DateTime<Utc>) -> Self {
        Self::new(t)
    }
}

impl From<UtcDateTime> for DateTime<Utc> {
    fn from(t: UtcDateTime) -> Self {
        t.0
    }
}

impl Deref for UtcDateTime {
    type Target = DateTime<Utc>;
    fn deref(&self) -> &DateTime<Utc> {
        &self.0
    }
}

impl fmt::Display for UtcDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<UtcDateTime> for Value {
    fn from(t: UtcDateTime) -> Value {
        Value::ChronoDateTimeWithTimeZone(Some(t.0.fixed_offset()))
    }
}

impl TryGetable for UtcDateTime {
    fn try_get_by<I: ColIdx>(res: &QueryResult, idx: I) -> Result<Self, TryGetError> {
        // MySQL DATETIME decodes without any time-zone or range conversion; SQLite parses
        // the RFC 3339 text.
        <DateTime<Utc> as TryGetable>::try_get_by(res, idx).map(Self::new)
    }
}

impl ValueType for UtcDateTime {
    fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
        match v {
            Value::ChronoDateTimeWithTimeZone(Some(t)) => Ok(Self::new(t.to_utc())),
            Value::ChronoDateTimeUtc(Some(t)) => Ok(Self::new(t)),
            _ => Err(ValueTypeErr),
        }
    }

    fn type_name() -> String {
        "UtcDateTime".to_owned()
    }

    fn array_type() -> ArrayType {
        ArrayType::ChronoDateTimeWithTimeZone
    }

    fn column_type() -> ColumnType {
        ColumnType::TimestampWithTimeZone
    }
}

impl Nullable for UtcDateTime {
    fn null() -> Value {
        Value::ChronoDateTimeWithTimeZone(None)
    }
}

impl TryFromU64 for UtcDateTime {
    fn try_from_u64(_: u64) -> Result<Self, DbErr> {
        Err(DbErr::ConvertFromU64("UtcDateTime"))
    }
}

impl sea_orm::IntoActiveValue<UtcDateTime> for UtcDateTime {
    fn into_active_value(self) -> sea_orm::ActiveValue<UtcDateTime> {
        sea_orm::ActiveValue::Set(self)
    }
}

impl DateTimeLikeValue for UtcDateTime {}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Timelike};

    #[test]
    fn truncates_to_microseconds_and_binds_as_fixed_offset_utc() {
        let t = Utc
            .with_ymd_and_hms(2100, 1, 2, 3, 4, 5)
            .single()
            .and_then(|t| t.with_nanosecond(123_456_789))
            .expect("valid");
        let u = UtcDateTime::from(t);
        assert_eq!(u.nanosecond(), 123_456_000);
        match Value::from(u) {
            Value::ChronoDateTimeWithTimeZone(Some(v)) => {
                assert_eq!(v.offset().local_minus_utc(), 0);
                assert_eq!(v.to_utc(), u.get());
            }
            other => panic!("unexpected value {other:?}"),
        }
        assert_eq!(
            <UtcDateTime as ValueType>::try_from(Value::from(u)).ok(),
            Some(u)
        );
    }

    #[test]
    fn serde_is_transparent() {
        let u = UtcDateTime::from(Utc.timestamp_opt(0, 1_000).single().expect("valid"));
        let s = serde_json::to_string(&u).expect("serialize");
        assert_eq!(s, "\"1970-01-01T00:00:00.000001Z\"");
        assert_eq!(
            serde_json::from_str::<UtcDateTime>(&s).expect("deserialize"),
            u
        );
    }
}
