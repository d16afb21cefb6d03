//! Request parameters: the `GET` query (`n`, `workers`, `seed`, `work`, `wait_ms`) and the limits they are checked
//! against. Every rejection names the parameter, what was wrong with the value, and the allowed
//! range, so a person at a browser can fix the URL without reading the source.

use std::fmt;
use std::ops::RangeInclusive;

use crate::work::{DEFAULT_WAIT_MS, MAX_WAIT_MS, UnknownWork, Work};

/// The limits a server enforces on every request, set by its flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest matrix side for `GET`, and largest row or column count for `POST` (`--max-n`).
    pub max_n: usize,
    /// Largest `workers` a request may ask for (`--max-workers`).
    pub max_workers: usize,
    /// `workers` when the request does not say (`--workers`).
    pub default_workers: usize,
}

impl Limits {
    /// Allowed values of `n`, and of a posted matrix's rows and columns.
    pub fn n_range(&self) -> RangeInclusive<u64> {
        1..=self.max_n as u64
    }

    /// Allowed values of `workers`.
    pub fn workers_range(&self) -> RangeInclusive<u64> {
        1..=self.max_workers as u64
    }
}

/// The matrix side when a `GET` does not give `n`, as in the original lab.
pub const DEFAULT_N: usize = 500;

/// Parallel workers per request when neither the request nor `--workers` says, as in the
/// original lab (4 threads, 4 processes).
pub const DEFAULT_WORKERS: usize = 4;

/// A parsed and validated `GET` query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateParams {
    pub n: usize,
    pub workers: usize,
    pub seed: Option<u64>,
    pub work: Work,
}

/// The query parameters a `GET` accepts.
pub const QUERY_KEYS: [&str; 5] = ["n", "workers", "seed", "work", "wait_ms"];

/// A rejected parameter: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// The value is present but not acceptable.
    #[error("{name} must be a whole number from {min} to {max}; got {got:?} ({problem})")]
    Invalid {
        name: String,
        got: String,
        problem: Problem,
        min: u64,
        max: u64,
    },
    /// A query key the endpoint does not know.
    #[error("unknown query parameter {key:?}; allowed: {}", QUERY_KEYS.join(", "), key = .0)]
    Unknown(String),
    /// `work` names no kind of work.
    #[error(transparent)]
    Work(#[from] UnknownWork),
    /// A key given more than once, where the meaning would be ambiguous.
    #[error("query parameter {name:?} is given {times} times; give it once")]
    Repeated { name: String, times: usize },
}

/// What was wrong with a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Empty,
    NotANumber,
    Fractional,
    /// A whole value written with a decimal point or an exponent, such as `5.0` or `1e3`.
    NotWrittenAsWhole,
    Negative,
    Zero,
    TooSmall,
    TooLarge,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty",
            Self::NotANumber => "not a number",
            Self::Fractional => "fractional",
            Self::NotWrittenAsWhole => "write it without a decimal point or exponent",
            Self::Negative => "negative",
            Self::Zero => "zero",
            Self::TooSmall => "too small",
            Self::TooLarge => "too large",
        })
    }
}

/// Parses `raw` as a whole number in `allowed`, or says precisely why not.
pub fn parse_whole(name: &str, raw: &str, allowed: RangeInclusive<u64>) -> Result<u64, ParamError> {
    let invalid = |problem| ParamError::invalid(name, raw, problem, &allowed);
    let value = classify(raw).map_err(invalid)?;
    check_range(value, &allowed).map_err(invalid)
}

/// Checks a number already read as an integer (from JSON, say) against `allowed`.
pub fn check_whole(name: &str, value: i128, allowed: RangeInclusive<u64>) -> Result<u64, ParamError> {
    check_range(value, &allowed).map_err(|problem| ParamError::invalid(name, &value.to_string(), problem, &allowed))
}

impl ParamError {
    /// `name` had the value `got`, which has `problem`; `allowed` is what it may be.
    pub fn invalid(name: &str, got: &str, problem: Problem, allowed: &RangeInclusive<u64>) -> Self {
        Self::Invalid {
            name: name.to_owned(),
            got: got.to_owned(),
            problem,
            min: *allowed.start(),
            max: *allowed.end(),
        }
    }
}

fn check_range(value: i128, allowed: &RangeInclusive<u64>) -> Result<u64, Problem> {
    let (min, max) = (i128::from(*allowed.start()), i128::from(*allowed.end()));
    match value {
        v if v < 0 => Err(Problem::Negative),
        0 if min > 0 => Err(Problem::Zero),
        v if v < min => Err(Problem::TooSmall),
        v if v > max => Err(Problem::TooLarge),
        v => Ok(v as u64),
    }
}

/// Reads a decimal integer of any size (saturating far outside `u64`), or classifies the text.
fn classify(raw: &str) -> Result<i128, Problem> {
    if raw.is_empty() {
        return Err(Problem::Empty);
    }
    let digits = raw.strip_prefix(['-', '+']).unwrap_or(raw);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        // Any run of digits is a whole number; beyond i128 it is simply "too large" (or negative).
        let magnitude = digits.parse::<i128>().unwrap_or(i128::MAX);
        return Ok(if raw.starts_with('-') { -magnitude } else { magnitude });
    }
    match raw.parse::<f64>() {
        Ok(x) if x.is_finite() && x.fract() != 0.0 => Err(Problem::Fractional),
        Ok(x) if x.is_finite() && x < 0.0 => Err(Problem::Negative),
        Ok(x) if x.is_finite() => Err(Problem::NotWrittenAsWhole),
        _ => Err(Problem::NotANumber),
    }
}

/// Parses a `GET` query string (`n=500&workers=4&seed=1`, percent-encoded) against `limits`.
pub fn parse_query(query: &str, limits: &Limits) -> Result<GenerateParams, ParamError> {
    let mut values: [Vec<String>; QUERY_KEYS.len()] = Default::default();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let slot = QUERY_KEYS
            .iter()
            .position(|k| *k == key)
            .ok_or_else(|| ParamError::Unknown(key.into_owned()))?;
        values[slot].push(value.into_owned());
    }
    let mut single = |slot: usize| -> Result<Option<String>, ParamError> {
        let given = std::mem::take(&mut values[slot]);
        match given.len() {
            0 | 1 => Ok(given.into_iter().next()),
            times => Err(ParamError::Repeated {
                name: QUERY_KEYS[slot].to_owned(),
                times,
            }),
        }
    };
    let (n, workers, seed, work, wait_ms) = (single(0)?, single(1)?, single(2)?, single(3)?, single(4)?);
    Ok(GenerateParams {
        work: parse_work(work.as_deref(), wait_ms.as_deref())?,
        n: match n {
            Some(raw) => parse_whole("n", &raw, limits.n_range())? as usize,
            None => DEFAULT_N.min(limits.max_n),
        },
        workers: match workers {
            Some(raw) => parse_whole("workers", &raw, limits.workers_range())? as usize,
            None => limits.default_workers,
        },
        seed: seed.map(|raw| parse_whole("seed", &raw, 0..=u64::MAX)).transpose()?,
    })
}

/// Reads `work` and `wait_ms` as given: `wait_ms` is checked whatever the kind (so a typo is
/// caught before it matters), and used only by `io`.
pub fn parse_work(work: Option<&str>, wait_ms: Option<&str>) -> Result<Work, ParamError> {
    let wait_ms = wait_ms
        .map(|raw| parse_whole("wait_ms", raw, 0..=MAX_WAIT_MS))
        .transpose()?
        .unwrap_or(DEFAULT_WAIT_MS);
    Ok(Work::of(work, wait_ms)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_n: 2000,
        max_workers: 64,
        default_workers: DEFAULT_WORKERS,
    };

    fn problem(query: &str) -> (String, Problem) {
        match parse_query(query, &LIMITS) {
            Err(ParamError::Invalid { name, problem, .. }) => (name, problem),
            other => panic!("{query}: expected an invalid value, got {other:?}"),
        }
    }

    #[test]
    fn defaults_apply_when_the_query_is_empty() {
        assert_eq!(
            parse_query("", &LIMITS),
            Ok(GenerateParams {
                n: 500,
                workers: 4,
                seed: None,
                work: Work::Add,
            })
        );
    }

    #[test]
    fn every_parameter_is_read() {
        let got = parse_query("n=100&workers=8&seed=18446744073709551615&work=io&wait_ms=250", &LIMITS);
        assert_eq!(
            got,
            Ok(GenerateParams {
                n: 100,
                workers: 8,
                seed: Some(u64::MAX),
                work: Work::Io { wait_ms: 250 },
            })
        );
        assert_eq!(
            parse_query("work=io", &LIMITS).map(|p| p.work),
            Ok(Work::Io { wait_ms: 100 })
        );
        assert_eq!(
            parse_query("work=add&wait_ms=0", &LIMITS).map(|p| p.work),
            Ok(Work::Add),
            "wait_ms is accepted with every kind, used by io alone"
        );
        assert_eq!(
            parse_query("work=matmul&wait_ms=7", &LIMITS).map(|p| p.work),
            Ok(Work::Matmul)
        );
        assert_eq!(
            parse_query("seed=0&n=%32", &LIMITS).map(|p| (p.n, p.seed)),
            Ok((2, Some(0)))
        );
    }

    #[test]
    fn each_kind_of_bad_number_is_named() {
        let cases = [
            ("n=abc", "n", Problem::NotANumber),
            ("n=", "n", Problem::Empty),
            ("n=0", "n", Problem::Zero),
            ("n=-5", "n", Problem::Negative),
            ("n=-0.5", "n", Problem::Fractional),
            ("n=2001", "n", Problem::TooLarge),
            ("n=99999999999999999999999999999999999999999999", "n", Problem::TooLarge),
            ("n=2.5", "n", Problem::Fractional),
            ("n=5.0", "n", Problem::NotWrittenAsWhole),
            ("n=1e3", "n", Problem::NotWrittenAsWhole),
            ("n=NaN", "n", Problem::NotANumber),
            ("n=inf", "n", Problem::NotANumber),
            ("n=%00", "n", Problem::NotANumber),
            ("workers=65", "workers", Problem::TooLarge),
            ("workers=0", "workers", Problem::Zero),
            ("seed=-1", "seed", Problem::Negative),
            ("seed=18446744073709551616", "seed", Problem::TooLarge),
            ("seed=x", "seed", Problem::NotANumber),
            ("work=add&wait_ms=10001", "wait_ms", Problem::TooLarge),
            ("work=io&wait_ms=-1", "wait_ms", Problem::Negative),
            ("wait_ms=", "wait_ms", Problem::Empty),
            ("wait_ms=0.5", "wait_ms", Problem::Fractional),
        ];
        for (query, name, expected) in cases {
            assert_eq!(problem(query), (name.to_owned(), expected), "{query}");
        }
    }

    #[test]
    fn messages_name_the_parameter_the_value_and_the_range() {
        let message = parse_query("workers=100", &LIMITS).unwrap_err().to_string();
        assert_eq!(
            message,
            r#"workers must be a whole number from 1 to 64; got "100" (too large)"#
        );
        let message = parse_query("n=0", &LIMITS).unwrap_err().to_string();
        assert_eq!(message, r#"n must be a whole number from 1 to 2000; got "0" (zero)"#);
    }

    #[test]
    fn an_unknown_or_empty_work_names_the_kinds_allowed() {
        for query in ["work=", "work=matrix", "work=IO"] {
            let message = parse_query(query, &LIMITS).unwrap_err().to_string();
            assert!(
                message.starts_with("work must be one of add, matmul, io; got "),
                "{query}: {message}"
            );
        }
        let message = parse_query("size=3", &LIMITS).unwrap_err().to_string();
        assert_eq!(
            message,
            r#"unknown query parameter "size"; allowed: n, workers, seed, work, wait_ms"#
        );
    }

    #[test]
    fn unknown_and_repeated_keys_are_rejected() {
        assert_eq!(parse_query("size=3", &LIMITS), Err(ParamError::Unknown("size".into())));
        assert_eq!(
            parse_query("n=3&n=4", &LIMITS),
            Err(ParamError::Repeated {
                name: "n".into(),
                times: 2
            })
        );
    }

    #[test]
    fn check_whole_applies_the_same_rules_to_json_numbers() {
        assert_eq!(check_whole("workers", 3, LIMITS.workers_range()), Ok(3));
        let err = check_whole("workers", -2, LIMITS.workers_range()).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"workers must be a whole number from 1 to 64; got "-2" (negative)"#
        );
    }
}
