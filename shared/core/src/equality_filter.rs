//! The small AIP-160 subset the List RPCs over stored columns accept: `field = value`
//! clauses joined by `AND`, values bare or double-quoted. Anything else is refused with a
//! message naming what is supported, never silently ignored. Parsed by the shared
//! [`crate::filter`] parser, so its limits hold here too.

use crate::filter::Op;

/// The `(field, value)` clauses of `filter`, in order; empty for an empty filter.
/// `fields` are the names allowed on the left-hand side.
pub fn parse(filter: &str, fields: &[&str]) -> Result<Vec<(String, String)>, String> {
    let supported = || {
        format!(
            "supported: `field = value` clauses joined by AND, on {}",
            fields.join(", ")
        )
    };
    let comparisons = crate::filter::parse_conjunction(filter)
        .map_err(|why| format!("{why}; {}", supported()))?;
    let mut out: Vec<(String, String)> = Vec::with_capacity(comparisons.len());
    for c in comparisons {
        if !fields.contains(&c.field.as_str()) {
            return Err(format!("unknown field {:?}; {}", c.field, supported()));
        }
        if c.op != Op::Eq {
            return Err(format!("{c}: only `=` is supported; {}", supported()));
        }
        if out.iter().any(|(f, _)| *f == c.field) {
            return Err(format!("{:?} appears twice; give it once", c.field));
        }
        out.push((c.field, c.value.text));
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
            "state = A OR state = B",
            "NOT state = A",
            "(state = A",
        ] {
            let err = parse(bad, &fields).expect_err(bad);
            assert!(!err.is_empty(), "{bad}");
        }
        let unknown = parse("colour = red", &fields).expect_err("unknown field");
        assert!(unknown.contains("on state"), "{unknown}");
    }
}
