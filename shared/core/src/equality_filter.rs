//! The small AIP-160 subset the List RPCs over stored columns accept: `field = value`
//! clauses joined by `AND`, values bare or double-quoted. Anything else is refused with a
//! message naming what is supported, never silently ignored.

/// `filter` split at each ` AND ` outside double quotes (a quoted value may contain it).
fn clauses(filter: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    let mut i = 0;
    while i < filter.len() {
        if filter.as_bytes()[i] == b'"' {
            quoted = !quoted;
        } else if !quoted && filter.as_bytes()[i..].starts_with(b" AND ") {
            out.push(&filter[start..i]);
            i += " AND ".len();
            start = i;
            continue;
        }
        i += 1;
    }
    out.push(&filter[start..]);
    out
}

/// The `(field, value)` clauses of `filter`, in order; empty for an empty filter.
/// `fields` are the names allowed on the left-hand side.
pub fn parse(filter: &str, fields: &[&str]) -> Result<Vec<(String, String)>, String> {
    let supported = || {
        format!(
            "supported: `field = value` clauses joined by AND, on {}",
            fields.join(", ")
        )
    };
    let mut out = Vec::new();
    for clause in clauses(filter).iter().map(|c| c.trim()) {
        if clause.is_empty() {
            if filter.trim().is_empty() {
                continue;
            }
            return Err(format!("empty clause in {filter:?}; {}", supported()));
        }
        let Some((field, value)) = clause.split_once('=') else {
            return Err(format!(
                "{clause:?} is not `field = value`; {}",
                supported()
            ));
        };
        let (field, value) = (field.trim(), value.trim());
        if !fields.contains(&field) {
            return Err(format!("unknown field {field:?}; {}", supported()));
        }
        if out.iter().any(|(f, _): &(String, String)| f == field) {
            return Err(format!("{field:?} appears twice; give it once"));
        }
        // A quoted value may be empty (`segment = ""`: the rows without a segment).
        let (value, quoted) = match value.strip_prefix('"') {
            Some(rest) => (
                rest.strip_suffix('"')
                    .ok_or_else(|| format!("unterminated string in {clause:?}"))?,
                true,
            ),
            None => (value, false),
        };
        if (value.is_empty() && !quoted)
            || value.contains(['"', '=', '<', '>', '!'])
            || (!quoted && value.contains(char::is_whitespace))
        {
            return Err(format!(
                "{clause:?}: the value must be one plain word or string"
            ));
        }
        out.push((field.to_owned(), value.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_with_bare_and_quoted_values() {
        assert_eq!(parse("", &["kind"]), Ok(vec![]));
        assert_eq!(
            parse("segment = \"\"", &["segment"]),
            Ok(vec![("segment".to_owned(), String::new())])
        );
        assert_eq!(
            parse(
                r#"kind = EASE AND country_code = "DE""#,
                &["kind", "country_code"]
            ),
            Ok(vec![
                ("kind".to_owned(), "EASE".to_owned()),
                ("country_code".to_owned(), "DE".to_owned())
            ])
        );
    }

    #[test]
    fn and_inside_quotes_is_part_of_the_value() {
        assert_eq!(
            parse(
                r#"variant = "A AND B" AND channel = EMAIL"#,
                &["variant", "channel"]
            ),
            Ok(vec![
                ("variant".to_owned(), "A AND B".to_owned()),
                ("channel".to_owned(), "EMAIL".to_owned())
            ])
        );
        // Byte-wise scanning must not split a multi-byte character.
        assert_eq!(
            parse(r#"variant = "春季 AND 夏季""#, &["variant"]),
            Ok(vec![("variant".to_owned(), "春季 AND 夏季".to_owned())])
        );
    }

    #[test]
    fn anything_else_is_refused_with_what_is_supported() {
        let fields = ["state"];
        for bad in [
            "colour = red",
            "state != RUNNING",
            "state > 1",
            "state = ",
            r#"state = "open"#,
            "state = A AND ",
            "state",
            "state = A AND state = B",
            "state = two words",
        ] {
            let err = parse(bad, &fields).expect_err(bad);
            assert!(!err.is_empty(), "{bad}");
        }
        let unknown = parse("colour = red", &fields).expect_err("unknown field");
        assert!(unknown.contains("on state"), "{unknown}");
    }
}
