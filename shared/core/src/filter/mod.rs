//! The one AIP-160 filter language of every List RPC: comparisons (`=`, `!=`, `<`, `<=`,
//! `>`, `>=`, `:` for "has"), `AND`, `OR`, `NOT` (or `-`) and parentheses. As in AIP-160,
//! `OR` binds tighter than `AND` (`a AND b OR c` is `a AND (b OR c)`) and juxtaposition is
//! a conjunction. Values are bare words or quoted strings (`"..."` or `'...'`, with `\`
//! escapes); what a value means is decided by the RPC that owns the field.
//!
//! Filters come from callers, so the parser is bounded: at most [`MAX_FILTER_BYTES`] bytes,
//! [`MAX_DEPTH`] levels of parentheses and `NOT`, and [`MAX_COMPARISONS`] comparisons. Past
//! any of them the filter is refused with a message, never parsed into a tree deep enough to
//! overflow a stack here or in a SQL builder later.
//!
//! RPCs whose filter runs as SQL over a few columns take [`parse_conjunction`]: comparisons
//! joined by `AND`, with `OR` and `NOT` refused by name instead of silently returning nothing.

mod lexer;

use lexer::Token;
use std::fmt;

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 8 * 1024;
/// Deepest nesting of parentheses and `NOT` accepted.
pub const MAX_DEPTH: usize = 32;
/// Most comparisons in one filter.
pub const MAX_COMPARISONS: usize = 200;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `:`, "has": membership for lists, prefix or containment where an RPC says so.
    Has,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Has => ":",
        }
    }

    /// `<`, `<=`, `>` or `>=`.
    pub fn is_ordering(self) -> bool {
        matches!(self, Op::Lt | Op::Le | Op::Gt | Op::Ge)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The right-hand side of a comparison, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// The text, quotes removed and escapes resolved.
    pub text: String,
    /// Whether it was a quoted string (a bare word may be an enum value name).
    pub quoted: bool,
}

/// `field op value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// A field path such as `kind` or `person.country_code`.
    pub field: String,
    pub op: Op,
    pub value: Value,
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.field, self.op)?;
        if self.value.quoted {
            write!(
                f,
                "\"{}\"",
                self.value.text.replace('\\', "\\\\").replace('"', "\\\"")
            )
        } else {
            f.write_str(&self.value.text)
        }
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Cmp(Comparison),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
}

impl Expr {
    /// Every comparison in the expression, left to right.
    pub fn comparisons(&self) -> Vec<&Comparison> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            match e {
                Expr::Cmp(c) => out.push(c),
                Expr::And(parts) | Expr::Or(parts) => stack.extend(parts.iter().rev()),
                Expr::Not(inner) => stack.push(inner),
            }
        }
        out
    }
}

/// Parses `input`; `Ok(None)` for an empty (all-matching) filter.
pub fn parse(input: &str) -> Result<Option<Expr>, String> {
    if input.len() > MAX_FILTER_BYTES {
        return Err(format!(
            "is {} bytes; a filter may be at most {MAX_FILTER_BYTES} bytes",
            input.len()
        ));
    }
    let tokens = lexer::tokenize(input)?;
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut parser = Parser {
        tokens,
        pos: 0,
        depth: 0,
        comparisons: 0,
    };
    let expr = parser.and_expr()?;
    match parser.tokens.get(parser.pos) {
        None => Ok(Some(expr)),
        Some(Token::RParen) => Err("unbalanced ')': no '(' opens it".to_owned()),
        Some(t) => Err(format!("unexpected {}", t.describe())),
    }
}

/// Parses a filter that must be comparisons joined by `AND` (parentheses around them are
/// allowed); `OR` and `NOT` are refused naming what is supported. Empty for an empty filter.
pub fn parse_conjunction(input: &str) -> Result<Vec<Comparison>, String> {
    let Some(expr) = parse(input)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut stack = vec![expr];
    while let Some(e) = stack.pop() {
        match e {
            Expr::Cmp(c) => out.push(c),
            Expr::And(parts) => stack.extend(parts.into_iter().rev()),
            Expr::Or(_) => {
                return Err(
                    "OR is not supported here: give comparisons joined by AND (list once per alternative)"
                        .to_owned(),
                );
            }
            Expr::Not(_) => {
                return Err(
                    "NOT is not supported here: give comparisons joined by AND (use != where the field allows it)"
                        .to_owned(),
                );
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Current nesting of parentheses and NOT.
    depth: usize,
    comparisons: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w == kw)
    }

    /// Enters one level of nesting, refusing past [`MAX_DEPTH`].
    fn descend(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "is nested deeper than {MAX_DEPTH} levels of parentheses and NOT"
            ));
        }
        Ok(())
    }

    fn and_expr(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.or_expr()?];
        loop {
            if self.keyword("AND") {
                self.pos += 1;
                if matches!(self.peek(), None | Some(Token::RParen)) {
                    return Err("AND must be followed by a comparison".to_owned());
                }
            } else if matches!(self.peek(), None | Some(Token::RParen)) {
                break;
            }
            // AIP-160: juxtaposition is also a conjunction.
            parts.push(self.or_expr()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn or_expr(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.unary()?];
        while self.keyword("OR") {
            self.pos += 1;
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.keyword("NOT") || matches!(self.peek(), Some(Token::Minus)) {
            self.pos += 1;
            self.descend()?;
            let inner = self.primary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.tokens.get(self.pos).cloned() {
            Some(Token::LParen) => {
                self.pos += 1;
                self.descend()?;
                let inner = self.and_expr()?;
                if self.peek() != Some(&Token::RParen) {
                    return Err("missing ')'".to_owned());
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(inner)
            }
            Some(Token::Word(field)) if field == "AND" || field == "OR" => {
                Err(format!("{field} must stand between two comparisons"))
            }
            Some(Token::Word(field)) => {
                self.pos += 1;
                self.comparison(field)
            }
            Some(t) => Err(format!("unexpected {}", t.describe())),
            None => Err("unexpected end of filter".to_owned()),
        }
    }

    fn comparison(&mut self, field: String) -> Result<Expr, String> {
        let Some(Token::Op(op)) = self.peek().cloned() else {
            return Err(format!(
                "expected a comparison (=, !=, <, <=, >, >=, :) after '{field}'"
            ));
        };
        self.pos += 1;
        let value = match self.tokens.get(self.pos).cloned() {
            Some(Token::Word(w)) if w != "AND" && w != "OR" => Value {
                text: w,
                quoted: false,
            },
            Some(Token::Quoted(q)) => Value {
                text: q,
                quoted: true,
            },
            Some(Token::Minus) => match self.tokens.get(self.pos + 1).cloned() {
                Some(Token::Word(w)) => {
                    self.pos += 1;
                    Value {
                        text: format!("-{w}"),
                        quoted: false,
                    }
                }
                _ => return Err(format!("expected a value after '{field} {op}'")),
            },
            _ => return Err(format!("expected a value after '{field} {op}'")),
        };
        self.pos += 1;
        self.comparisons += 1;
        if self.comparisons > MAX_COMPARISONS {
            return Err(format!(
                "has more than {MAX_COMPARISONS} comparisons; split the query"
            ));
        }
        Ok(Expr::Cmp(Comparison { field, op, value }))
    }
}

#[cfg(test)]
mod tests;
