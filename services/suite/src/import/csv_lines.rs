//! CSV read one physical line at a time, for files whose fields never span lines (the
//! seller-backend customer list, Online Retail). A general CSV reader lets a quoted field run across line
//! breaks, so one unbalanced quote swallows the rows after it into a single field (another
//! customer's email inside a name); and it stops the whole file at the first invalid UTF-8.
//! Here each line is one record or one reject with its line number and a reason: a line
//! that is too long, not UTF-8, has an odd number of quotes, or has more fields than the
//! header. The rest of the file is read on.

use std::io::{self, BufRead};

/// The longest line read (bytes, without the line break). A longer line is rejected without
/// being held in memory; no field of a customer list comes near it.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Its fields, unquoted.
    Record { line: u64, fields: Vec<String> },
    /// Why it was not read, and its start (for the reject file).
    Bad {
        line: u64,
        reason: String,
        start: String,
    },
}

/// The lines of `reader`, blank ones skipped. The first record is the header; later
/// records with more fields than it are rejected (fewer are read as empty fields).
pub struct Lines<R> {
    reader: R,
    line: u64,
    header_fields: Option<usize>,
    buf: Vec<u8>,
    /// The last line ended with a lone `\r` (old Mac line ends): a `\n` right after it
    /// belongs to that line break.
    after_cr: bool,
    /// Invalid UTF-8 is replaced (U+FFFD) instead of rejecting the line.
    lossy: bool,
}

impl<R: BufRead> Lines<R> {
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            line: 0,
            header_fields: None,
            buf: Vec::new(),
            after_cr: false,
            lossy: false,
        }
    }

    /// Reads invalid UTF-8 as U+FFFD instead of rejecting the line (for files whose text
    /// fields are only shown, never keys).
    pub fn lossy_utf8(mut self) -> Self {
        self.lossy = true;
        self
    }

    /// Reads one line into `buf`, keeping at most [`MAX_LINE_BYTES`]. A line ends at `\n`,
    /// `\r\n` or a lone `\r`. `None` at the end; `Some(true)` if the line was longer (the
    /// rest is skipped).
    fn read_line(&mut self) -> io::Result<Option<bool>> {
        self.buf.clear();
        if std::mem::take(&mut self.after_cr) && self.reader.fill_buf()?.first() == Some(&b'\n') {
            self.reader.consume(1);
        }
        let (mut any, mut too_long) = (false, false);
        loop {
            let available = self.reader.fill_buf()?;
            if available.is_empty() {
                return Ok(any.then_some(too_long));
            }
            any = true;
            let (take, ends) = match available.iter().position(|b| matches!(b, b'\n' | b'\r')) {
                Some(i) if available[i] == b'\r' && available.get(i + 1) == Some(&b'\n') => {
                    (i + 2, true)
                }
                Some(i) => {
                    // A `\r` at the end of what is buffered may be followed by `\n`.
                    self.after_cr = available[i] == b'\r';
                    (i + 1, true)
                }
                None => (available.len(), false),
            };
            let room = (MAX_LINE_BYTES + 2).saturating_sub(self.buf.len());
            if take > room {
                too_long = true;
            }
            self.buf.extend_from_slice(&available[..take.min(room)]);
            self.reader.consume(take);
            if ends {
                return Ok(Some(too_long));
            }
        }
    }

    fn parse(&mut self, too_long: bool) -> Option<Line> {
        let line = self.line;
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        if line == 1 && self.buf.starts_with(b"\xEF\xBB\xBF") {
            self.buf.drain(..3);
        }
        // The first 80 characters (of the valid start, for a line that is not UTF-8).
        let start = || {
            let valid = match std::str::from_utf8(&self.buf) {
                Ok(text) => text,
                Err(e) => std::str::from_utf8(&self.buf[..e.valid_up_to()]).unwrap_or_default(),
            };
            valid.chars().take(80).collect::<String>()
        };
        let bad = |reason: String| Line::Bad {
            line,
            reason,
            start: start(),
        };
        if too_long || self.buf.len() > MAX_LINE_BYTES {
            return Some(bad(format!("line longer than {MAX_LINE_BYTES} bytes")));
        }
        if self.buf.is_empty() {
            return None;
        }
        let text = match std::str::from_utf8(&self.buf) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) if self.lossy => String::from_utf8_lossy(&self.buf),
            Err(e) => {
                return Some(bad(format!(
                    "not UTF-8 (invalid byte at byte {})",
                    e.valid_up_to() + 1
                )));
            }
        };
        let Some(mut fields) = split(&text) else {
            return Some(bad("unbalanced quote".to_owned()));
        };
        match self.header_fields {
            None => self.header_fields = Some(fields.len()),
            // Empty fields past the header's are trailing commas, not data.
            Some(header)
                if fields[header.min(fields.len())..]
                    .iter()
                    .any(|f| !f.is_empty()) =>
            {
                return Some(bad(format!(
                    "{} fields where the header has {header}",
                    fields.len()
                )));
            }
            Some(header) => fields.truncate(header),
        }
        Some(Line::Record { line, fields })
    }
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = io::Result<Line>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let too_long = match self.read_line() {
                Ok(Some(too_long)) => too_long,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            };
            self.line += 1;
            if let Some(line) = self.parse(too_long) {
                return Some(Ok(line));
            }
        }
    }
}

/// The fields of one CSV line (RFC 4180 quoting: a quoted field may hold commas and `""`
/// for a quote), or `None` if a quote is unbalanced or stray (a quote inside an unquoted
/// field, or text after a closing quote).
pub fn split(text: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => break,
                    c => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Some(fields);
                }
                Some(',') => {}
                Some(_) => return None,
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Some(fields);
                    }
                    Some(',') => break,
                    Some('"') => return None,
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn lines(input: &[u8]) -> Vec<Line> {
        Lines::new(input)
            .collect::<io::Result<Vec<_>>>()
            .expect("reads")
    }

    fn record(line: u64, fields: &[&str]) -> Line {
        Line::Record {
            line,
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    fn reason(l: &Line) -> Option<(u64, &str)> {
        match l {
            Line::Bad { line, reason, .. } => Some((*line, reason.as_str())),
            Line::Record { .. } => None,
        }
    }

    #[test]
    fn splits_quoted_fields_with_commas_and_quotes() {
        assert_eq!(
            split(r#"a,"b, c","say ""hi""",,"""#),
            Some(vec![
                "a".to_owned(),
                "b, c".to_owned(),
                r#"say "hi""#.to_owned(),
                String::new(),
                String::new()
            ])
        );
        assert_eq!(split(""), Some(vec![String::new()]));
        assert_eq!(split(r#""open, never closed"#), None);
        assert_eq!(split(r#"in"side"#), None);
        assert_eq!(split(r#""closed"after"#), None);
    }

    #[test]
    fn an_unbalanced_quote_spoils_its_line_only() {
        let input = b"id,name,email\n1,\"Ann,ann@example.com\n2,Bob,bob@example.com\n";
        let got = lines(input);
        assert_eq!(got[0], record(1, &["id", "name", "email"]));
        assert_eq!(reason(&got[1]), Some((2, "unbalanced quote")));
        assert_eq!(got[2], record(3, &["2", "Bob", "bob@example.com"]));
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn invalid_utf8_long_lines_and_extra_fields_are_rejected_and_reading_goes_on() {
        let mut input = b"id,name\r\n1,Ann\r\n\r\n2,B\xffb\n".to_vec();
        input.extend_from_slice(b"3,");
        input.extend(std::iter::repeat_n(b'x', 20 * 1024 * 1024));
        input.extend_from_slice(b"\n4,Dan,extra\n5,Eve\n6");
        let got = lines(&input);
        let reasons: Vec<_> = got.iter().filter_map(reason).collect();
        assert_eq!(
            reasons,
            [
                (4, "not UTF-8 (invalid byte at byte 4)"),
                (5, "line longer than 65536 bytes"),
                (6, "3 fields where the header has 2"),
            ]
        );
        assert_eq!(got[1], record(2, &["1", "Ann"]));
        assert_eq!(got[5], record(7, &["5", "Eve"]));
        assert_eq!(got[6], record(8, &["6"]), "a last line without a break");
        match &got[3] {
            Line::Bad { start, .. } => assert_eq!(start.len(), 80),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bom_old_mac_line_ends_and_trailing_commas_read_as_expected() {
        let got = lines(b"\xEF\xBB\xBF\"id\",\"name\"\r1,Ann\r\n2,Bob,\r3,\xc3\xa9,,\n");
        assert_eq!(
            got,
            [
                record(1, &["id", "name"]),
                record(2, &["1", "Ann"]),
                record(3, &["2", "Bob"]),
                record(4, &["3", "\u{e9}"]),
            ]
        );
        let lossy: Vec<Line> = Lines::new(&b"a,b\n1,x\xffy\n"[..])
            .lossy_utf8()
            .collect::<io::Result<_>>()
            .expect("reads");
        assert_eq!(lossy[1], record(2, &["1", "x\u{fffd}y"]));
    }

    /// Joins fields as a CSV writer would: quoted when they hold a comma or a quote.
    fn join(fields: &[String]) -> String {
        fields
            .iter()
            .map(|f| {
                if f.contains([',', '"']) || f.is_empty() {
                    format!("\"{}\"", f.replace('"', "\"\""))
                } else {
                    f.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    proptest! {
        /// Whatever fields (without line breaks) are written, the same fields are read.
        #[test]
        fn what_is_written_is_read_back(fields in prop::collection::vec("[^\r\n]{0,12}", 1..8)) {
            prop_assert_eq!(split(&join(&fields)), Some(fields));
        }

        /// Any bytes: every line is a record or a reject, numbered in order, and reading
        /// never fails or panics.
        #[test]
        fn any_input_gives_one_outcome_per_line(input in prop::collection::vec(any::<u8>(), 0..400)) {
            let got = lines(&input);
            let numbers: Vec<u64> = got
                .iter()
                .map(|l| match l {
                    Line::Record { line, .. } | Line::Bad { line, .. } => *line,
                })
                .collect();
            prop_assert!(numbers.windows(2).all(|w| w[0] < w[1]));
            // Lines end at `\n`, `\r\n` or a lone `\r`.
            let breaks = input
                .iter()
                .enumerate()
                .filter(|(i, b)| **b == b'\n' && (*i == 0 || input[i - 1] != b'\r') || **b == b'\r')
                .count();
            let physical = breaks as u64 + 1;
            prop_assert!(numbers.last().is_none_or(|n| *n <= physical));
        }
    }
}
