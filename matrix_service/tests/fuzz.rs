//! Fuzzing the two parsers that read what clients send, the query string and the `POST` body,
//! with proptest: thousands of hostile inputs (random keys and values, encodings, huge numbers,
//! repeated parameters, NUL bytes; random bytes, deep nesting, floats, huge exponents, wrong
//! types). Neither parser may panic; every answer is either a value within the limits or an
//! error that names what was wrong.
//!
//! `PROPTEST_CASES=100000 cargo test -p matrix_service --test fuzz` runs a longer campaign.

use matrix_service::body::parse_body;
use matrix_service::params::{Limits, parse_query};
use proptest::prelude::*;

const LIMITS: Limits = Limits {
    max_n: 300,
    max_workers: 16,
    default_workers: 4,
};

/// A query parameter's key: the real ones, near misses, and junk.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("n".to_owned()),
        Just("workers".to_owned()),
        Just("seed".to_owned()),
        Just("N".to_owned()),
        Just("n%00".to_owned()),
        Just("%6E".to_owned()), // "n", percent-encoded
        Just(String::new()),
        "[a-z%+&=\\x00-\\x1f]{0,8}",
    ]
}

/// A query parameter's value: numbers of every size and sign, encodings, and junk.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..1000).prop_map(|v| v.to_string()),
        any::<u64>().prop_map(|v| v.to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        "[0-9]{19,60}",
        any::<f64>().prop_map(|v| v.to_string()),
        Just("1e3".to_owned()),
        Just("0x10".to_owned()),
        Just("%31%30".to_owned()), // "10", percent-encoded
        Just("%".to_owned()),
        Just("%zz".to_owned()),
        Just("1%00".to_owned()),
        Just("+5".to_owned()),
        Just(" 5".to_owned()),
        ".{0,12}",
    ]
}

fn query() -> impl Strategy<Value = String> {
    let pair = (key(), value(), any::<bool>()).prop_map(
        |(k, v, with_equals)| {
            if with_equals { format!("{k}={v}") } else { k }
        },
    );
    prop_oneof![
        proptest::collection::vec(pair, 0..6).prop_map(|pairs| pairs.join("&")),
        ".{0,64}",
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    ]
}

/// A JSON value of any shape, numbers of any kind included.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        (0i64..200).prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        Just("1e400".to_owned()),
        Just("-0".to_owned()),
        Just("99999999999999999999999".to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("\"7\"".to_owned()),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(|items| format!("[{}]", items.join(","))),
            proptest::collection::vec(
                (prop_oneof![Just("a"), Just("b"), Just("workers"), Just("x")], inner),
                0..4
            )
            .prop_map(|fields| {
                let fields: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

/// Rows of JSON values, ragged or not.
fn matrix() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::collection::vec(json_value(), 0..4), 0..4).prop_map(|rows| {
        let rows: Vec<String> = rows.iter().map(|r| format!("[{}]", r.join(","))).collect();
        format!("[{}]", rows.join(","))
    })
}

/// A body that looks like the real thing, with something wrong (or nothing) in it.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let add = (matrix(), matrix(), proptest::option::of(json_value())).prop_map(|(a, b, workers)| {
        let workers = workers.map(|w| format!(",\"workers\":{w}")).unwrap_or_default();
        format!("{{\"a\":{a},\"b\":{b}{workers}}}").into_bytes()
    });
    prop_oneof![
        add,
        json_value().prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..256),
        (1usize..5000).prop_map(|depth| format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()),
        (1usize..5000).prop_map(|depth| format!("{{\"a\":{}", "[".repeat(depth)).into_bytes()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn any_query_is_parsed_within_the_limits_or_refused_with_a_reason(query in query()) {
        match parse_query(&query, &LIMITS) {
            Ok(params) => {
                prop_assert!((1..=LIMITS.max_n).contains(&params.n), "{query:?} -> {params:?}");
                prop_assert!((1..=LIMITS.max_workers).contains(&params.workers), "{query:?} -> {params:?}");
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }

    #[test]
    fn any_body_is_parsed_within_the_limits_or_refused_with_a_reason(bytes in body()) {
        match parse_body(&bytes, &LIMITS) {
            Ok(body) => {
                prop_assert_eq!(body.a.dim(), body.b.dim());
                let (rows, cols) = body.a.dim();
                prop_assert!((1..=LIMITS.max_n).contains(&rows) && (1..=LIMITS.max_n).contains(&cols));
                prop_assert!(body.workers.is_none_or(|w| (1..=LIMITS.max_workers).contains(&w)));
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }
}

#[test]
fn a_deeply_nested_body_is_refused_without_overflowing_the_stack() {
    // Run on a small stack, as a blocking-pool thread may have: a recursive parser without a
    // depth limit would overflow it (an abort, not an error).
    let deep = format!("{{\"a\":{}", "[".repeat(1_000_000));
    let refused = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || parse_body(deep.as_bytes(), &LIMITS).is_err())
        .unwrap()
        .join()
        .unwrap();
    assert!(refused);
}
