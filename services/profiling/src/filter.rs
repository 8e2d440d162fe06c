//! An AIP-160 filter subset, evaluated in memory over any record that can look up a field
//! path: comparisons (`=`, `!=`, `<`, `<=`, `>`, `>=`, `:` for "has"/membership),
//! `AND`, `OR`, `NOT` (or `-`) and parentheses. As in AIP-160, `OR` binds tighter than
//! `AND`: `a AND b OR c` is `a AND (b OR c)`. Values are numbers, `true`/`false`, quoted
//! strings (also RFC 3339 timestamps) or bare words (enum value names, with or without
//! their prefix). String equality accepts a trailing `*` wildcard.
//!
//! Parsing checks field names against the caller's schema, so an unknown field or a value
//! of the wrong type is an error naming it, not an empty result.

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Has,
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

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Op(Op),
    LParen,
    RParen,
    Minus,
}

fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::LParen);
                i += 1;
            }
            ')' => {
                tokens.push(Token::RParen);
                i += 1;
            }
            '"' | '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string".to_owned()),
                        Some('\\') => {
                            if let Some(n) = chars.get(i + 1) {
                                s.push(*n);
                            }
                            i += 2;
                        }
                        Some(q) if *q == c => {
                            i += 1;
                            break;
                        }
                        Some(other) => {
                            s.push(*other);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Quoted(s));
            }
            '=' => {
                tokens.push(Token::Op(Op::Eq));
                i += 1;
            }
            ':' => {
                tokens.push(Token::Op(Op::Has));
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                tokens.push(Token::Op(Op::Ne));
                i += 2;
            }
            '<' | '>' => {
                let eq = chars.get(i + 1) == Some(&'=');
                tokens.push(Token::Op(match (c, eq) {
                    ('<', true) => Op::Le,
                    ('<', false) => Op::Lt,
                    (_, true) => Op::Ge,
                    _ => Op::Gt,
                }));
                i += if eq { 2 } else { 1 };
            }
            '-' if tokens.last().is_none_or(|t| !matches!(t, Token::Op(_))) => {
                tokens.push(Token::Minus);
                i += 1;
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(
                        chars[i],
                        '(' | ')' | '=' | ':' | '<' | '>' | '!' | '"' | '\''
                    )
                {
                    i += 1;
                }
                if start == i {
                    return Err(format!("unexpected character '{c}'"));
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(tokens)
}

struct Parser<'a, S: Fn(&str) -> Option<FieldType>> {
    tokens: Vec<Token>,
    pos: usize,
    schema: &'a S,
}

impl<S: Fn(&str) -> Option<FieldType>> Parser<'_, S> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w == kw)
    }

    fn and_expr(&mut self) -> Result<Filter, String> {
        let mut parts = vec![self.or_expr()?];
        loop {
            if self.keyword("AND") {
                self.pos += 1;
            } else if matches!(self.peek(), None | Some(Token::RParen)) {
                break;
            }
            // AIP-160: juxtaposition is also a conjunction.
            parts.push(self.or_expr()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::And(parts)
        })
    }

    fn or_expr(&mut self) -> Result<Filter, String> {
        let mut parts = vec![self.unary()?];
        while self.keyword("OR") {
            self.pos += 1;
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::Or(parts)
        })
    }

    fn unary(&mut self) -> Result<Filter, String> {
        if self.keyword("NOT") || matches!(self.peek(), Some(Token::Minus)) {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.primary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Filter, String> {
        match self.tokens.get(self.pos).cloned() {
            Some(Token::LParen) => {
                self.pos += 1;
                let inner = self.and_expr()?;
                if self.peek() != Some(&Token::RParen) {
                    return Err("missing ')'".to_owned());
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Token::Word(field)) => {
                self.pos += 1;
                let ty = (self.schema)(&field).ok_or_else(|| format!("unknown field '{field}'"))?;
                let Some(Token::Op(op)) = self.peek().cloned() else {
                    return Err(format!("expected a comparison after '{field}'"));
                };
                self.pos += 1;
                let raw = match self.tokens.get(self.pos).cloned() {
                    Some(Token::Word(w)) => (w, false),
                    Some(Token::Quoted(q)) => (q, true),
                    Some(Token::Minus) => match self.tokens.get(self.pos + 1).cloned() {
                        Some(Token::Word(w)) => {
                            self.pos += 1;
                            (format!("-{w}"), false)
                        }
                        _ => return Err(format!("expected a value for '{field}'")),
                    },
                    _ => return Err(format!("expected a value for '{field}'")),
                };
                self.pos += 1;
                let value = literal(&field, ty, op, &raw.0, raw.1)?;
                Ok(Filter::Cmp {
                    field,
                    op,
                    value: LiteralBox(value),
                })
            }
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("unexpected end of filter".to_owned()),
        }
    }
}

fn literal(field: &str, ty: FieldType, op: Op, raw: &str, quoted: bool) -> Result<Literal, String> {
    let ordered = matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge);
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
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Ok(Filter::All);
    }
    let mut p = Parser {
        tokens,
        pos: 0,
        schema,
    };
    let f = p.and_expr()?;
    if p.pos != p.tokens.len() {
        return Err(format!("unexpected {:?}", p.tokens[p.pos]));
    }
    Ok(f)
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

/// One `order_by` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderKey {
    pub field: String,
    pub descending: bool,
}

/// Parses an AIP-132 `order_by` (`field [desc], ...`), checking fields with `allowed`.
pub fn parse_order_by(
    input: &str,
    allowed: &dyn Fn(&str) -> bool,
) -> Result<Vec<OrderKey>, String> {
    let mut keys = Vec::new();
    for part in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut words = part.split_whitespace();
        let field = words.next().unwrap_or_default().to_owned();
        let descending = match words.next() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => return Err(format!("'{other}' is neither asc nor desc")),
        };
        if words.next().is_some() {
            return Err(format!("cannot order by '{part}'"));
        }
        if !allowed(&field) {
            return Err(format!("cannot order by '{field}'"));
        }
        keys.push(OrderKey { field, descending });
    }
    Ok(keys)
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
    fn order_by_keys() {
        let ok = |f: &str| f == "a" || f == "b";
        assert_eq!(
            parse_order_by("a desc, b", &ok).expect("ok"),
            vec![
                OrderKey {
                    field: "a".to_owned(),
                    descending: true
                },
                OrderKey {
                    field: "b".to_owned(),
                    descending: false
                },
            ]
        );
        assert!(parse_order_by("c", &ok).is_err());
        assert!(parse_order_by("a sideways", &ok).is_err());
        assert!(cmp_values(&FieldValue::Missing, &FieldValue::Number(1.0)).is_gt());
    }
}
