//! An AIP-160 filter subset, evaluated in memory over any record that can look up a field
//! path: comparisons (`=`, `!=`, `<`, `<=`, `>`, `>=`, `:` for "has"/membership),
//! `AND`, `OR`, `NOT` (or `-`) and parentheses. As in AIP-160, `OR` binds tighter than
//! `AND`: `a AND b OR c` is `a AND (b OR c)`. Values are numbers, `true`/`false`, quoted
//! strings (also RFC 3339 timestamps) or bare words (enum value names, with or without
//! their prefix). String equality accepts a trailing `*` wildcard.
//!
//! The syntax, and its limits on length, depth and size, belong to
//! [`caravan_core::filter`]; this module types a parsed filter against the caller's schema
//! (so an unknown field or a value of the wrong type is an error naming it, not an empty
//! result) and evaluates it.

use caravan_core::filter::{Expr, Op};
pub use caravan_core::order_by::{OrderKey, parse_order_by};
use chrono::{DateTime, Utc};

/// The type of a filterable field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Number,
    Text,
    Bool,
    Time,
    /// Enum value names; `prefix` (e.g. `RFM_SEGMENT_`) may be omitted in filters.
    Enum(&'static str),
    /// A list of strings; `:` tests membership.
    TextList,
}

/// A field's value on one record.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Number(f64),
    Text(String),
    Bool(bool),
    Time(DateTime<Utc>),
    /// The full enum value name, e.g. `RFM_SEGMENT_AT_RISK`.
    Enum(String),
    TextList(Vec<String>),
    /// The field is not set on this record (never equal to anything).
    Missing,
}

/// A checked literal.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Number(f64),
    Text(String),
    Bool(bool),
    Time(DateTime<Utc>),
    /// Normalised to the full value name.
    Enum(String),
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    All,
    Cmp {
        field: String,
        op: Op,
        value: LiteralBox,
    },
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

/// Opaque literal holder (keeps [`Literal`] private).
#[derive(Debug, Clone, PartialEq)]
pub struct LiteralBox(Literal);

fn literal(field: &str, ty: FieldType, op: Op, raw: &str, quoted: bool) -> Result<Literal, String> {
    let ordered = op.is_ordering();
    match ty {
        FieldType::Number => raw
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Literal::Number)
            .ok_or_else(|| format!("'{field}' is a number; '{raw}' is not")),
        FieldType::Bool if !ordered => match raw {
            "true" => Ok(Literal::Bool(true)),
            "false" => Ok(Literal::Bool(false)),
            _ => Err(format!("'{field}' is true or false; '{raw}' is neither")),
        },
        FieldType::Time => DateTime::parse_from_rfc3339(raw)
            .map(|t| Literal::Time(t.to_utc()))
            .map_err(|_| format!("'{field}' is a time; '{raw}' is not an RFC 3339 timestamp")),
        FieldType::Enum(prefix) if !ordered && !quoted => {
            let full = if raw.starts_with(prefix) {
                raw.to_owned()
            } else {
                format!("{prefix}{raw}")
            };
            Ok(Literal::Enum(full))
        }
        FieldType::Enum(_) => Err(format!(
            "'{field}' is an enum: compare with = or != and a bare value name"
        )),
        FieldType::Text | FieldType::TextList => Ok(Literal::Text(raw.to_owned())),
        FieldType::Bool => Err(format!("'{field}' is true or false: compare with = or !=")),
    }
}

/// Parses `input` against `schema` (field path -> type). An empty filter matches all.
pub fn parse<S: Fn(&str) -> Option<FieldType>>(input: &str, schema: &S) -> Result<Filter, String> {
    match caravan_core::filter::parse(input)? {
        None => Ok(Filter::All),
        Some(expr) => typed(expr, schema),
    }
}

/// Checks every comparison of `expr` against the schema. The recursion is as deep as the
/// parser allowed (`caravan_core::filter::MAX_DEPTH`).
fn typed<S: Fn(&str) -> Option<FieldType>>(expr: Expr, schema: &S) -> Result<Filter, String> {
    let all = |parts: Vec<Expr>| -> Result<Vec<Filter>, String> {
        parts.into_iter().map(|p| typed(p, schema)).collect()
    };
    Ok(match expr {
        Expr::Cmp(c) => {
            let ty = schema(&c.field).ok_or_else(|| format!("unknown field '{}'", c.field))?;
            let value = literal(&c.field, ty, c.op, &c.value.text, c.value.quoted)?;
            Filter::Cmp {
                field: c.field,
                op: c.op,
                value: LiteralBox(value),
            }
        }
        Expr::And(parts) => Filter::And(all(parts)?),
        Expr::Or(parts) => Filter::Or(all(parts)?),
        Expr::Not(inner) => Filter::Not(Box::new(typed(*inner, schema)?)),
    })
}

fn ordering<T: PartialOrd>(op: Op, a: &T, b: &T) -> bool {
    match op {
        Op::Eq | Op::Has => a == b,
        Op::Ne => a != b,
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
    }
}

fn text_matches(value: &str, pattern: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => value == pattern,
    }
}

fn compare(value: &FieldValue, op: Op, lit: &Literal) -> bool {
    match (value, lit) {
        (FieldValue::Missing, _) => op == Op::Ne,
        (FieldValue::Number(a), Literal::Number(b)) => ordering(op, a, b),
        (FieldValue::Bool(a), Literal::Bool(b)) => ordering(op, a, b),
        (FieldValue::Time(a), Literal::Time(b)) => ordering(op, a, b),
        (FieldValue::Enum(a), Literal::Enum(b)) => ordering(op, a, b),
        (FieldValue::Text(a), Literal::Text(b)) => match op {
            Op::Eq | Op::Has => text_matches(a, b),
            Op::Ne => !text_matches(a, b),
            _ => ordering(op, &a.as_str(), &b.as_str()),
        },
        (FieldValue::TextList(items), Literal::Text(b)) => {
            let any = items.iter().any(|i| text_matches(i, b));
            if op == Op::Ne { !any } else { any }
        }
        _ => false,
    }
}

impl Filter {
    /// Whether a record matches; `lookup` gives the value of a field path.
    pub fn matches(&self, lookup: &dyn Fn(&str) -> FieldValue) -> bool {
        match self {
            Filter::All => true,
            Filter::Cmp { field, op, value } => compare(&lookup(field), *op, &value.0),
            Filter::And(parts) => parts.iter().all(|p| p.matches(lookup)),
            Filter::Or(parts) => parts.iter().any(|p| p.matches(lookup)),
            Filter::Not(inner) => !inner.matches(lookup),
        }
    }
}

/// Total order of two values of one field: missing values sort last either way.
pub fn cmp_values(a: &FieldValue, b: &FieldValue) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (FieldValue::Missing, FieldValue::Missing) => Ordering::Equal,
        (FieldValue::Missing, _) => Ordering::Greater,
        (_, FieldValue::Missing) => Ordering::Less,
        (FieldValue::Number(x), FieldValue::Number(y)) => x.total_cmp(y),
        (FieldValue::Time(x), FieldValue::Time(y)) => x.cmp(y),
        (FieldValue::Text(x), FieldValue::Text(y)) | (FieldValue::Enum(x), FieldValue::Enum(y)) => {
            x.cmp(y)
        }
        (FieldValue::Bool(x), FieldValue::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(f: &str) -> Option<FieldType> {
        Some(match f {
            "n" => FieldType::Number,
            "s" => FieldType::Text,
            "b" => FieldType::Bool,
            "t" => FieldType::Time,
            "seg" => FieldType::Enum("RFM_SEGMENT_"),
            "tags" => FieldType::TextList,
            _ => return None,
        })
    }

    fn record(f: &str) -> FieldValue {
        match f {
            "n" => FieldValue::Number(5.0),
            "s" => FieldValue::Text("DE".to_owned()),
            "b" => FieldValue::Bool(true),
            "t" => FieldValue::Time(
                DateTime::parse_from_rfc3339("2024-05-01T00:00:00Z")
                    .expect("t")
                    .to_utc(),
            ),
            "seg" => FieldValue::Enum("RFM_SEGMENT_AT_RISK".to_owned()),
            "tags" => FieldValue::TextList(vec!["vip".to_owned(), "beauty".to_owned()]),
            _ => FieldValue::Missing,
        }
    }

    fn eval(f: &str) -> bool {
        parse(f, &schema).expect(f).matches(&record)
    }

    #[test]
    fn comparisons_of_every_type() {
        assert!(eval("n = 5"));
        assert!(eval("n >= 5 AND n < 5.5"));
        assert!(!eval("n > 5"));
        assert!(eval("n != -3"));
        assert!(eval("s = \"DE\""));
        assert!(eval("s = 'D*'"));
        assert!(!eval("s = \"FR\""));
        assert!(eval("b = true"));
        assert!(eval("t > \"2024-04-30T23:00:00Z\""));
        assert!(eval("seg = AT_RISK"));
        assert!(eval("seg = RFM_SEGMENT_AT_RISK"));
        assert!(!eval("seg = CHAMPIONS"));
        assert!(eval("tags:vip"));
        assert!(!eval("tags:toys"));
    }

    #[test]
    fn or_binds_tighter_than_and() {
        // a AND (b OR c): false AND (...) is false; with AND-first grouping it would be true.
        assert!(!eval("n > 9 AND s = \"DE\" OR b = true"));
        assert!(eval("(n > 9 AND s = \"DE\") OR b = true"));
        assert!(eval("NOT n > 9"));
        assert!(eval("-n > 9"));
        assert!(eval("n = 5 s = \"DE\""), "juxtaposition is AND");
        assert!(parse("", &schema).expect("empty").matches(&record));
    }

    #[test]
    fn errors_name_the_problem() {
        let err = |f: &str| parse(f, &schema).expect_err(f);
        assert!(err("nope = 1").contains("unknown field 'nope'"));
        assert!(err("n = abc").contains("number"));
        assert!(err("t > \"yesterday\"").contains("RFC 3339"));
        assert!(err("seg > AT_RISK").contains("enum"));
        assert!(err("(n = 1").contains("')'"));
        assert!(err("n").contains("comparison"));
        assert!(err("s = \"x").contains("unterminated"));
    }

    #[test]
    fn missing_fields_match_only_not_equal() {
        let f = |s: &str| {
            parse(s, &schema)
                .expect(s)
                .matches(&|_| FieldValue::Missing)
        };
        assert!(!f("n = 5"));
        assert!(!f("n < 5"));
        assert!(f("n != 5"));
    }

    #[test]
    fn hostile_filters_are_refused_not_evaluated() {
        let deep = format!("{}n = 1{}", "(".repeat(5_000), ")".repeat(5_000));
        assert!(parse(&deep, &schema).expect_err("deep").contains("bytes"));
        let deep = format!("{}n = 1{}", "NOT (".repeat(100), ")".repeat(100));
        assert!(
            parse(&deep, &schema)
                .expect_err("deep")
                .contains("nested deeper")
        );
        let wide = vec!["n > 1"; 20_000].join(" AND ");
        assert!(parse(&wide, &schema).is_err());
    }

    #[test]
    fn cmp_values_puts_missing_last() {
        assert!(cmp_values(&FieldValue::Missing, &FieldValue::Number(1.0)).is_gt());
    }
}
