use super::*;
use proptest::prelude::*;

fn cmp(field: &str, op: Op, text: &str, quoted: bool) -> Expr {
    Expr::Cmp(Comparison {
        field: field.to_owned(),
        op,
        value: Value {
            text: text.to_owned(),
            quoted,
        },
    })
}

fn parsed(input: &str) -> Expr {
    parse(input).expect(input).expect("not empty")
}

#[test]
fn precedence_and_forms() {
    assert_eq!(parse("  "), Ok(None));
    assert_eq!(
        parsed("a = 1 AND b = x OR c != \"y\""),
        Expr::And(vec![
            cmp("a", Op::Eq, "1", false),
            Expr::Or(vec![
                cmp("b", Op::Eq, "x", false),
                cmp("c", Op::Ne, "y", true)
            ]),
        ])
    );
    assert_eq!(
        parsed("NOT a < -3 b:'q\\'s'"),
        Expr::And(vec![
            Expr::Not(Box::new(cmp("a", Op::Lt, "-3", false))),
            cmp("b", Op::Has, "q's", true),
        ])
    );
    assert_eq!(
        parsed("-a >= 2"),
        Expr::Not(Box::new(cmp("a", Op::Ge, "2", false)))
    );
    assert_eq!(
        parsed("person.country_code = \"DE\""),
        cmp("person.country_code", Op::Eq, "DE", true)
    );
}

#[test]
fn malformed_filters_say_what_is_wrong() {
    let err = |f: &str| parse(f).expect_err(f);
    assert!(
        err("kind =").contains("expected a value"),
        "{}",
        err("kind =")
    );
    assert!(err("kind = PERSON)").contains("unbalanced ')'"));
    assert!(err("(kind = PERSON").contains("missing ')'"));
    assert!(err("kind").contains("expected a comparison"));
    assert!(err("kind = \"x").contains("unterminated"));
    assert!(err("kind = PERSON AND").contains("AND must be followed"));
    assert!(err("AND kind = PERSON").contains("between two comparisons"));
    assert!(
        err("kind = PERSON OR").contains("expected a value")
            || err("kind = PERSON OR").contains("end of filter")
    );
    assert!(err("kind = OR").contains("expected a value"));
    assert!(err("!kind = 1").contains("unexpected character '!'"));
}

#[test]
fn limits_are_refused_before_any_deep_work() {
    let deep = format!("{}a = 1{}", "(".repeat(5_000), ")".repeat(5_000));
    assert!(
        parse(&deep)
            .expect_err("10 KB")
            .contains("at most 8192 bytes")
    );
    let deep = format!(
        "{}a = 1{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    assert!(
        parse(&deep)
            .expect_err("33 levels")
            .contains("nested deeper than 32")
    );
    let ok = format!("{}a = 1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert_eq!(parsed(&ok), cmp("a", Op::Eq, "1", false));
    let nots = format!("{}a = 1", "NOT (".repeat(40));
    assert!(parse(&nots).expect_err("NOTs").contains("nested deeper"));
    let many = vec!["a = 1"; MAX_COMPARISONS + 1].join(" AND ");
    assert!(
        parse(&many)
            .expect_err("201")
            .contains("more than 200 comparisons")
    );
    let enough = vec!["a = 1"; MAX_COMPARISONS].join(" AND ");
    assert_eq!(parsed(&enough).comparisons().len(), MAX_COMPARISONS);
    let huge = format!("a = \"{}\"", "x".repeat(1 << 20));
    assert!(parse(&huge).expect_err("1 MB").contains("at most"));
}

#[test]
fn conjunctions_flatten_and_refuse_or_and_not() {
    let got = parse_conjunction("(kind = ORDER AND (source = web)) session_id = \"s 1\"")
        .expect("conjunction");
    let fields: Vec<_> = got.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["kind", "source", "session_id"]);
    assert_eq!(got[2].value.text, "s 1");
    assert!(
        parse_conjunction("kind = PERSON OR kind = ENTERPRISE")
            .expect_err("or")
            .starts_with("OR is not supported")
    );
    assert!(
        parse_conjunction("NOT kind = PERSON")
            .expect_err("not")
            .starts_with("NOT is not supported")
    );
    assert_eq!(parse_conjunction(""), Ok(vec![]));
}

/// Prints an expression fully parenthesised, so parsing it gives it back.
fn print(e: &Expr) -> String {
    match e {
        Expr::Cmp(c) => c.to_string(),
        Expr::And(parts) => format!(
            "({})",
            parts.iter().map(print).collect::<Vec<_>>().join(" AND ")
        ),
        Expr::Or(parts) => format!(
            "({})",
            parts.iter().map(print).collect::<Vec<_>>().join(" OR ")
        ),
        Expr::Not(inner) => format!("NOT ({})", print(inner)),
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Eq),
        Just(Op::Ne),
        Just(Op::Lt),
        Just(Op::Le),
        Just(Op::Gt),
        Just(Op::Ge),
        Just(Op::Has)
    ]
}

fn comparison() -> impl Strategy<Value = Expr> {
    let bare = "-?[A-Za-z0-9_.*]{1,10}"
        .prop_filter("keywords are not values", |w| w != "AND" && w != "OR")
        .prop_map(|text| Value {
            text,
            quoted: false,
        });
    let quoted = any::<String>().prop_map(|text| Value { text, quoted: true });
    (
        "[a-z][a-z_]{0,8}(\\.[a-z]{1,5})?",
        op(),
        prop_oneof![bare, quoted],
    )
        .prop_map(|(field, op, value)| Expr::Cmp(Comparison { field, op, value }))
}

fn expr() -> impl Strategy<Value = Expr> {
    comparison().prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever a caller sends, parsing answers (never panics) and an accepted filter
    /// stays within the limits.
    #[test]
    fn any_input_is_answered_within_limits(input in any::<String>()) {
        if let Ok(Some(e)) = parse(&input) {
            prop_assert!(e.comparisons().len() <= MAX_COMPARISONS);
        }
        let _ = parse_conjunction(&input);
    }

    /// Inputs built from the language's own characters reach deeper into the parser.
    #[test]
    fn filter_shaped_input_is_answered(input in "[a-z ()=!<>:\"'\\\\-]{0,300}|((AND|OR|NOT|\\(|\\)|x|=|1| ){0,200})") {
        let _ = parse(&input);
        let _ = parse_conjunction(&input);
    }

    /// Printing a filter and parsing it gives the same filter back.
    #[test]
    fn printed_filters_parse_back(e in expr()) {
        let text = print(&e);
        prop_assume!(text.len() <= MAX_FILTER_BYTES);
        prop_assert_eq!(parse(&text), Ok(Some(e)));
    }
}
