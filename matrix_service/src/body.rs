//! The `POST` body: `{"a": [[i64, ...], ...], "b": [[...]], "workers": k, "work": "add", "wait_ms": ms}`.
//!
//! The body is read by a streaming serde visitor rather than into a `serde_json::Value`, for two
//! reasons: memory (a 64 MiB body of small integers would take several times that as `Value`s),
//! and messages (the visitor knows which matrix, row and column it is on, so an error says
//! `a[3][7]` rather than only a byte offset; serde_json adds the line and column).

use std::fmt;
use std::io::Read;
use std::ops::RangeInclusive;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::buffers::BufferPool;
use crate::matrix::Matrix;
use crate::params::{Limits, ParamError, Problem, check_whole};
use crate::shapes::Shapes;
use crate::work::{DEFAULT_WAIT_MS, MAX_WAIT_MS, Work, WorkKind};

/// A parsed, validated `POST` body: two non-empty matrices whose shapes fit its work (one shape
/// for a sum; a's columns as many as b's rows for a product).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkBody {
    pub a: Matrix,
    pub b: Matrix,
    /// The shapes of A, B and the result.
    pub shapes: Shapes,
    /// `workers` if the body gives it.
    pub workers: Option<usize>,
    /// `work` and `wait_ms`, or their defaults.
    pub work: Work,
}

/// Why a body was rejected; the message says what was wrong and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BodyError(pub String);

/// What a body should look like, for error messages.
pub const BODY_SHAPE: &str = r#"a JSON object {"a": [[integers]], "b": [[integers]], "workers": k, "work": "add", "matmul" or "io", "wait_ms": ms} with two matrices of one shape (for matmul, b with as many rows as a has columns)"#;

/// Parses and validates a `POST` body held whole in memory against `limits`.
pub fn parse_body(bytes: &[u8], limits: &Limits) -> Result<WorkBody, BodyError> {
    parse_with(serde_json::Deserializer::from_slice(bytes), limits, None)
}

/// Parses and validates a `POST` body as it is read from `reader`, so the body is never held
/// whole: only the matrices it holds grow, in spare buffers taken from `pool` if given and it
/// has any. serde_json reads a byte at a time; give it a buffered reader.
pub fn parse_body_from(reader: impl Read, limits: &Limits, pool: Option<&BufferPool>) -> Result<WorkBody, BodyError> {
    parse_with(serde_json::Deserializer::from_reader(reader), limits, pool)
}

fn parse_with<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
    limits: &Limits,
    pool: Option<&BufferPool>,
) -> Result<WorkBody, BodyError> {
    let body = BodySeed { limits, pool }
        .deserialize(&mut de)
        .and_then(|body| de.end().map(|()| body));
    let body = body.map_err(|e| BodyError(format!("invalid body: {e}")))?;
    let a = body
        .a
        .ok_or_else(|| BodyError(format!("the body has no \"a\"; send {BODY_SHAPE}")))?;
    let b = body
        .b
        .ok_or_else(|| BodyError(format!("the body has no \"b\"; send {BODY_SHAPE}")))?;
    for (name, m) in [("a", &a), ("b", &b)] {
        if m.is_empty() {
            return Err(BodyError(format!(
                "{name} is empty; a matrix needs at least one row of at least one value"
            )));
        }
    }
    let work = Work::of(body.work.as_deref(), body.wait_ms.unwrap_or(DEFAULT_WAIT_MS))
        .map_err(|e| BodyError(e.to_string()))?;
    let shapes = Shapes::of(work, a.dim(), b.dim()).map_err(|e| BodyError(e.to_string()))?;
    Ok(WorkBody {
        a,
        b,
        shapes,
        workers: body.workers,
        work,
    })
}

/// The body's fields as read, before the checks that need both matrices.
struct RawBody {
    a: Option<Matrix>,
    b: Option<Matrix>,
    workers: Option<usize>,
    work: Option<String>,
    wait_ms: Option<u64>,
}

struct BodySeed<'l> {
    limits: &'l Limits,
    pool: Option<&'l BufferPool>,
}

impl<'de> DeserializeSeed<'de> for BodySeed<'_> {
    type Value = RawBody;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawBody, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BodySeed<'_> {
    type Value = RawBody;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(BODY_SHAPE)
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<RawBody, M::Error> {
        let mut body = RawBody {
            a: None,
            b: None,
            workers: None,
            work: None,
            wait_ms: None,
        };
        while let Some(key) = map.next_key::<String>()? {
            let max = self.limits.max_n;
            let matrix = |name| MatrixSeed {
                name,
                max,
                buffer: self.pool.map(BufferPool::take_empty).unwrap_or_default(),
            };
            match key.as_str() {
                "a" if body.a.is_none() => body.a = Some(map.next_value_seed(matrix("a"))?),
                "b" if body.b.is_none() => body.b = Some(map.next_value_seed(matrix("b"))?),
                "workers" if body.workers.is_none() => {
                    let range = self.limits.workers_range();
                    body.workers = Some(map.next_value_seed(WholeSeed { name: "workers", range })? as usize);
                }
                "work" if body.work.is_none() => body.work = Some(map.next_value_seed(WorkSeed)?),
                "wait_ms" if body.wait_ms.is_none() => {
                    let range = 0..=MAX_WAIT_MS;
                    body.wait_ms = Some(map.next_value_seed(WholeSeed { name: "wait_ms", range })?);
                }
                "a" | "b" | "workers" | "work" | "wait_ms" => {
                    return Err(de::Error::custom(format!("{key:?} is given twice")));
                }
                _ => {
                    return Err(de::Error::custom(format!(
                        "unknown field {key:?}; allowed: a, b, workers, work, wait_ms"
                    )));
                }
            }
        }
        Ok(body)
    }
}

/// Reads one matrix, row by row, into a flat row-major buffer.
struct MatrixSeed {
    name: &'static str,
    max: usize,
    /// Where the elements go: empty, perhaps with room already.
    buffer: Vec<i64>,
}

impl<'de> DeserializeSeed<'de> for MatrixSeed {
    type Value = Matrix;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Matrix, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for MatrixSeed {
    type Value = Matrix;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} as an array of rows, each an array of integers", self.name)
    }

    fn visit_seq<S: SeqAccess<'de>>(mut self, mut rows: S) -> Result<Matrix, S::Error> {
        let mut elements = std::mem::take(&mut self.buffer);
        let mut cols = None;
        let mut row = 0;
        loop {
            let seed = RowSeed {
                matrix: &self,
                row,
                cols: &mut cols,
                elements: &mut elements,
            };
            if rows.next_element_seed(seed)?.is_none() {
                break;
            }
            row += 1;
        }
        Matrix::from_shape_vec((row, cols.unwrap_or(0)), elements).map_err(de::Error::custom)
    }
}

/// Reads row `row` of a matrix, appending to `elements` and checking its length against `cols`.
struct RowSeed<'m> {
    matrix: &'m MatrixSeed,
    row: usize,
    cols: &'m mut Option<usize>,
    elements: &'m mut Vec<i64>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let MatrixSeed { name, max, .. } = *self.matrix;
        if self.row >= max {
            return Err(de::Error::custom(format!(
                "{name} has more than {max} rows; the limit (--max-n) is {max}"
            )));
        }
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}[{}] as an array of integers", self.matrix.name, self.row)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut values: S) -> Result<(), S::Error> {
        let MatrixSeed { name, max, .. } = *self.matrix;
        let row = self.row;
        let mut col = 0;
        while let Some(value) = values.next_element_seed(ElementSeed { name, row, col })? {
            if col >= max {
                return Err(de::Error::custom(format!(
                    "{name}[{row}] has more than {max} values; the limit (--max-n) is {max}"
                )));
            }
            self.elements.push(value);
            col += 1;
        }
        match *self.cols {
            None => *self.cols = Some(col),
            Some(expected) if expected != col => {
                return Err(de::Error::custom(format!(
                    "{name}[{row}] has {col} values but {name}[0] has {expected}; every row must have the same length"
                )));
            }
            Some(_) => {}
        }
        Ok(())
    }
}

/// Reads one element, accepting exactly the JSON integers that fit an `i64`.
struct ElementSeed {
    name: &'static str,
    row: usize,
    col: usize,
}

impl ElementSeed {
    fn reject<E: de::Error>(&self, what: fmt::Arguments) -> E {
        let Self { name, row, col } = self;
        E::custom(format!(
            "{name}[{row}][{col}] is {what}; elements must be integers from {} to {}",
            i64::MIN,
            i64::MAX
        ))
    }
}

impl<'de> DeserializeSeed<'de> for ElementSeed {
    type Value = i64;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<i64, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ElementSeed {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}[{}][{}] as an integer", self.name, self.row, self.col)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| self.reject(format_args!("{v}, too large")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        Err(self.reject(format_args!("{v:?}, not an integer")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        Err(self.reject(format_args!("the string {v:?}")))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<i64, E> {
        Err(self.reject(format_args!("{v}")))
    }

    fn visit_unit<E: de::Error>(self) -> Result<i64, E> {
        Err(self.reject(format_args!("null")))
    }

    fn visit_seq<S: SeqAccess<'de>>(self, _: S) -> Result<i64, S::Error> {
        Err(self.reject(format_args!("an array (a matrix has exactly two levels of nesting)")))
    }

    fn visit_map<M: MapAccess<'de>>(self, _: M) -> Result<i64, M::Error> {
        Err(self.reject(format_args!("an object")))
    }
}

/// Reads `workers`, with the same rules and messages as the query parameter.
/// Reads a whole number within `range`: `workers`, `wait_ms`.
struct WholeSeed {
    name: &'static str,
    range: RangeInclusive<u64>,
}

impl<'de> DeserializeSeed<'de> for WholeSeed {
    type Value = u64;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl WholeSeed {
    fn reject<E: de::Error>(&self, got: &str, problem: Problem) -> E {
        E::custom(ParamError::invalid(self.name, got, problem, &self.range))
    }
}

impl<'de> Visitor<'de> for WholeSeed {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{} as a whole number from {} to {}",
            self.name,
            self.range.start(),
            self.range.end()
        )
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        check_whole(self.name, v.into(), self.range).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        check_whole(self.name, v.into(), self.range).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        let problem = if v.fract() != 0.0 {
            Problem::Fractional
        } else {
            Problem::NotWrittenAsWhole
        };
        Err(self.reject(&format!("{v:?}"), problem))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        Err(self.reject(v, Problem::NotANumber))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<u64, E> {
        Err(self.reject(&v.to_string(), Problem::NotANumber))
    }

    fn visit_unit<E: de::Error>(self) -> Result<u64, E> {
        Err(self.reject("null", Problem::NotANumber))
    }
}

/// Reads `work`: a JSON string (which kind it names is checked once the body is read).
struct WorkSeed;

impl<'de> DeserializeSeed<'de> for WorkSeed {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for WorkSeed {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "work as a string, one of {}", WorkKind::names())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    const LIMITS: Limits = Limits {
        max_n: 4,
        max_workers: 8,
        default_workers: 2,
    };

    fn error(body: &str) -> String {
        parse_body(body.as_bytes(), &LIMITS).expect_err(body).0
    }

    #[test]
    fn a_good_body_is_read_with_its_workers() {
        let got = parse_body(
            br#"{"a": [[1, -2], [3, 4]], "b": [[10, 20], [30, 9223372036854775807]], "workers": 3}"#,
            &LIMITS,
        );
        let want = WorkBody {
            a: array![[1, -2], [3, 4]],
            b: array![[10, 20], [30, i64::MAX]],
            shapes: Shapes::sum(2, 2),
            workers: Some(3),
            work: Work::Add,
        };
        assert_eq!(got, Ok(want));
        let got = parse_body(br#"{"b": [[1]], "a": [[-9223372036854775808]]}"#, &LIMITS).unwrap();
        assert_eq!((got.a[[0, 0]], got.workers, got.work), (i64::MIN, None, Work::Add));
        let got = parse_body(br#"{"a": [[1]], "b": [[2]], "work": "io", "wait_ms": 7}"#, &LIMITS).unwrap();
        assert_eq!(got.work, Work::Io { wait_ms: 7 });
        let got = parse_body(br#"{"a": [[1]], "b": [[2]], "work": "io"}"#, &LIMITS).unwrap();
        assert_eq!(got.work, Work::Io { wait_ms: 100 });
        let got = parse_body(br#"{"a": [[1]], "b": [[2]], "wait_ms": 0, "work": "add"}"#, &LIMITS).unwrap();
        assert_eq!(got.work, Work::Add, "wait_ms is accepted with every kind");
        let got = parse_body(
            br#"{"a": [[1, 2, 3]], "b": [[1], [2], [3]], "work": "matmul"}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!((got.work, got.shapes), (Work::Matmul, Shapes::product(1, 3, 1)));
    }

    #[test]
    fn each_bad_body_gets_a_message_naming_the_fault() {
        let cases = [
            (
                r#"{"a": [[1, 2], [3]], "b": [[1, 2], [3, 4]]}"#,
                "a[1] has 1 values but a[0] has 2",
            ),
            (
                r#"{"a": [[1, 2]], "b": [[1], [2]]}"#,
                "a is 1x2 but b is 2x1; work=add needs two matrices of the same shape",
            ),
            (
                r#"{"a": [[1, 2]], "b": [[1, 2]], "work": "matmul"}"#,
                "a is 1x2 but b is 1x2; work=matmul needs b to have as many rows as a has columns (2)",
            ),
            (
                r#"{"a": [[1]], "b": [[1]], "work": ""}"#,
                "work must be one of add, matmul, io",
            ),
            (r#"{"a": [], "b": []}"#, "a is empty"),
            (r#"{"a": [[]], "b": [[]]}"#, "a is empty"),
            (r#"{"a": [[1]]}"#, "the body has no \"b\""),
            (r#"{"a": [[1.5]], "b": [[1]]}"#, "a[0][0] is 1.5, not an integer"),
            (r#"{"a": [[1]], "b": [[1, "2"]]}"#, "b[0][1] is the string \"2\""),
            (
                r#"{"a": [[1]], "b": [[9223372036854775808]]}"#,
                "b[0][0] is 9223372036854775808, too large",
            ),
            (r#"{"a": [[1]], "b": [[1e400]]}"#, "number out of range"),
            (r#"{"a": [[null]], "b": [[1]]}"#, "a[0][0] is null"),
            (r#"{"a": [[[1]]], "b": [[1]]}"#, "a[0][0] is an array"),
            (r#"{"a": [1], "b": [[1]]}"#, "expected a[0] as an array of integers"),
            (r#"{"a": 5, "b": [[1]]}"#, "expected a as an array of rows"),
            (r#"{"a": [[1,2,3,4,5]], "b": [[1]]}"#, "a[0] has more than 4 values"),
            (r#"{"a": [[1],[2],[3],[4],[5]], "b": [[1]]}"#, "a has more than 4 rows"),
            (
                r#"{"a": [[1]], "b": [[1]], "workers": 0}"#,
                "workers must be a whole number from 1 to 8; got \"0\" (zero)",
            ),
            (r#"{"a": [[1]], "b": [[1]], "workers": 9}"#, "(too large)"),
            (r#"{"a": [[1]], "b": [[1]], "workers": -1}"#, "(negative)"),
            (r#"{"a": [[1]], "b": [[1]], "workers": 2.5}"#, "(fractional)"),
            (r#"{"a": [[1]], "b": [[1]], "workers": "2"}"#, "(not a number)"),
            (
                r#"{"a": [[1]], "b": [[1]], "c": 1}"#,
                "unknown field \"c\"; allowed: a, b, workers",
            ),
            (r#"{"a": [[1]], "a": [[1]]}"#, "\"a\" is given twice"),
            (r#"[[1]]"#, "expected a JSON object"),
            (r#"{"a": [[1]], "b": [[1]]} trailing"#, "trailing characters"),
            (r#""#, "EOF while parsing"),
            ("\u{0}\u{1}\u{2}", "expected value"),
        ];
        for (body, expected) in cases {
            let message = error(body);
            assert!(
                message.contains(expected),
                "{body}: {message:?} should contain {expected:?}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_at_the_third_level_without_recursing() {
        let body = format!(r#"{{"a": {}1{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
        assert!(error(&body).contains("a[0][0] is an array"), "{}", error(&body));
        let body = format!(r#"{{"workers": {}1{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
        assert!(
            error(&body).contains("invalid type: sequence, expected workers"),
            "{}",
            error(&body)
        );
    }
}
