//! A valid `POST` body of an exact size: two n x n matrices whose elements have as many digits
//! as it takes to fill the size, so the server really parses (and can add) every byte of it.

use std::fmt::Write;

/// Digits an element may have at most, so that any two add up within an `i64`.
const MAX_DIGITS: usize = 18;

/// `{"a": [[...]], "b": [[...]]}` of exactly `bytes` bytes with `n` x `n` matrices, or `None` if
/// `bytes` cannot hold two such matrices of one-digit elements, or would need more than 18 digits
/// an element. Fewer than 2n² trailing bytes may be spaces (JSON allows them after the object).
pub fn matrix_body(bytes: usize, n: usize) -> Option<Vec<u8>> {
    let elements = 2 * n * n;
    // Every element but a row's last is followed by a comma; each row adds `[` and `]` and, but
    // the last, a comma; each matrix adds its own brackets.
    let structure =
        |digits: usize| elements * digits + 2 * (n * (n - 1) + 2 * n + (n - 1) + 2) + r#"{"a":,"b":}"#.len();
    if n == 0 || structure(1) > bytes || structure(MAX_DIGITS) + elements <= bytes {
        return None;
    }
    let digits = (1..=MAX_DIGITS).take_while(|&d| structure(d) <= bytes).last()?;
    // Elements given one digit more, to come as close to `bytes` as whole digits allow.
    let mut longer = (bytes - structure(digits)).min(if digits < MAX_DIGITS { elements } else { 0 });
    let mut body = String::with_capacity(bytes);
    body.push('{');
    for (m, name) in ["a", "b"].into_iter().enumerate() {
        if m > 0 {
            body.push(',');
        }
        write!(body, "\"{name}\":[").unwrap();
        for row in 0..n {
            body.push_str(if row == 0 { "[" } else { ",[" });
            for col in 0..n {
                if col > 0 {
                    body.push(',');
                }
                let width = if longer > 0 {
                    longer -= 1;
                    digits + 1
                } else {
                    digits
                };
                // A leading 1 keeps the width; the rest varies from element to element.
                body.push('1');
                if width > 1 {
                    let rest = (row * n + col) as u64 % 10u64.pow(width as u32 - 1);
                    write!(body, "{rest:0w$}", w = width - 1).unwrap();
                }
            }
            body.push(']');
        }
        body.push(']');
    }
    body.push('}');
    let mut body = body.into_bytes();
    debug_assert!(body.len() <= bytes, "{} > {bytes}", body.len());
    body.resize(bytes, b' ');
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use matrix_service::body::parse_body;
    use matrix_service::testing::TEST_LIMITS as LIMITS;

    #[test]
    fn the_body_has_the_exact_size_and_parses_to_n_by_n_matrices() {
        for (bytes, n) in [(60, 2), (1000, 10), (100_000, 50), (1_000_003, 200)] {
            let body = matrix_body(bytes, n).unwrap();
            assert_eq!(body.len(), bytes);
            let parsed = parse_body(&body, &LIMITS).unwrap_or_else(|e| panic!("{bytes}, {n}: {e}"));
            assert_eq!((parsed.a.dim(), parsed.b.dim()), ((n, n), (n, n)));
            let padding = body.iter().rev().take_while(|&&b| b == b' ').count();
            assert!(padding < 2 * n * n, "{bytes}, {n}: {padding} spaces");
        }
    }

    #[test]
    fn a_size_too_small_for_the_matrices_is_refused() {
        assert!(matrix_body(10, 2).is_none());
        assert!(matrix_body(100, 0).is_none());
    }

    #[test]
    fn a_size_too_large_for_the_matrices_is_refused() {
        // 18 elements of at most 18 digits cannot fill a kilobyte.
        assert!(matrix_body(1000, 3).is_none());
        assert!(matrix_body(60_000_000, 2000).is_some());
    }
}
