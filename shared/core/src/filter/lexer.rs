//! Splits a filter into tokens. Input length is bounded by the caller, so one pass over its
//! characters is all the work there is.

use super::Op;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    Word(String),
    Quoted(String),
    Op(Op),
    LParen,
    RParen,
    Minus,
}

impl Token {
    /// How an error message names the token.
    pub(super) fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("'{w}'"),
            Token::Quoted(q) => format!("string \"{q}\""),
            Token::Op(op) => format!("'{op}'"),
            Token::LParen => "'('".to_owned(),
            Token::RParen => "')'".to_owned(),
            Token::Minus => "'-'".to_owned(),
        }
    }
}

/// Characters that end a bare word.
fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '=' | ':' | '<' | '>' | '!' | '"' | '\'')
}

pub(super) fn tokenize(input: &str) -> Result<Vec<Token>, String> {
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
                let (text, next) = quoted(&chars, i)?;
                tokens.push(Token::Quoted(text));
                i = next;
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
            // A leading '-' negates, except right after an operator, where it starts a
            // negative number.
            '-' if tokens.last().is_none_or(|t| !matches!(t, Token::Op(_))) => {
                tokens.push(Token::Minus);
                i += 1;
            }
            _ => {
                let start = i;
                while i < chars.len() && !ends_word(chars[i]) {
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

/// The string opened by the quote at `open`, and the index after its closing quote.
fn quoted(chars: &[char], open: usize) -> Result<(String, usize), String> {
    let quote = chars[open];
    let mut text = String::new();
    let mut i = open + 1;
    loop {
        match chars.get(i) {
            None => return Err("unterminated string".to_owned()),
            Some('\\') => match chars.get(i + 1) {
                Some(escaped) => {
                    text.push(*escaped);
                    i += 2;
                }
                None => return Err("unterminated string (it ends in '\\')".to_owned()),
            },
            Some(q) if *q == quote => return Ok((text, i + 1)),
            Some(other) => {
                text.push(*other);
                i += 1;
            }
        }
    }
}
