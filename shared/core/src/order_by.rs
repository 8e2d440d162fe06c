//! AIP-132 `order_by`: `field [asc|desc], ...`, fields checked by the RPC that owns them.
//! Bounded like every parser of caller input: at most [`MAX_ORDER_BY_BYTES`] bytes and
//! [`MAX_ORDER_KEYS`] keys, each field at most once.

/// Longest `order_by` accepted, in bytes.
pub const MAX_ORDER_BY_BYTES: usize = 1024;
/// Most keys in one `order_by`.
pub const MAX_ORDER_KEYS: usize = 8;

/// One `order_by` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderKey {
    pub field: String,
    pub descending: bool,
}

/// Parses `input`, checking each field with `allowed`; empty for an empty `order_by`.
pub fn parse_order_by(
    input: &str,
    allowed: &dyn Fn(&str) -> bool,
) -> Result<Vec<OrderKey>, String> {
    if input.len() > MAX_ORDER_BY_BYTES {
        return Err(format!(
            "is {} bytes; order_by may be at most {MAX_ORDER_BY_BYTES} bytes",
            input.len()
        ));
    }
    let mut keys: Vec<OrderKey> = Vec::new();
    for part in input.split(',').map(str::trim) {
        if part.is_empty() {
            if input.trim().is_empty() {
                continue;
            }
            return Err(format!("empty key in {input:?}"));
        }
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
        if keys.iter().any(|k| k.field == field) {
            return Err(format!("'{field}' appears twice"));
        }
        keys.push(OrderKey { field, descending });
        if keys.len() > MAX_ORDER_KEYS {
            return Err(format!("at most {MAX_ORDER_KEYS} keys"));
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ab(f: &str) -> bool {
        f == "a" || f == "b"
    }

    #[test]
    fn keys_and_directions() {
        assert_eq!(
            parse_order_by("a desc, b", &ab).expect("ok"),
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
        assert_eq!(parse_order_by("  ", &ab), Ok(vec![]));
        for bad in ["c", "a sideways", "a desc extra", "a, a desc", "a,,b", "a,"] {
            assert!(parse_order_by(bad, &ab).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits() {
        let any = |_: &str| true;
        let nine: Vec<String> = (0..9).map(|i| format!("f{i}")).collect();
        assert!(
            parse_order_by(&nine.join(","), &any)
                .expect_err("nine keys")
                .contains("at most 8 keys")
        );
        assert_eq!(
            parse_order_by(&nine[..8].join(","), &any).map(|k| k.len()),
            Ok(8)
        );
        let long = "a".repeat(MAX_ORDER_BY_BYTES + 1);
        assert!(
            parse_order_by(&long, &any)
                .expect_err("long")
                .contains("at most 1024 bytes")
        );
    }

    proptest! {
        #[test]
        fn any_input_is_answered_within_limits(input in any::<String>()) {
            if let Ok(keys) = parse_order_by(&input, &|_| true) {
                prop_assert!(keys.len() <= MAX_ORDER_KEYS);
            }
        }

        #[test]
        fn written_keys_parse_back(keys in prop::collection::vec(("[a-z_.]{1,12}", any::<bool>()), 0..8)) {
            let mut seen = std::collections::HashSet::new();
            let keys: Vec<OrderKey> = keys
                .into_iter()
                .filter(|(f, _)| seen.insert(f.clone()))
                .map(|(field, descending)| OrderKey { field, descending })
                .collect();
            let text = keys
                .iter()
                .map(|k| format!("{}{}", k.field, if k.descending { " desc" } else { "" }))
                .collect::<Vec<_>>()
                .join(", ");
            prop_assert_eq!(parse_order_by(&text, &|_| true), Ok(keys));
        }
    }
}
