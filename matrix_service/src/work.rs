//! What a request asks its workers to do: a kind of work ([`WorkKind`]: `add`, the original
//! lab's job; `matmul`, the CPU-bound one; or `io`, the waiting one) and, for `io`, `wait_ms`
//! ([`Work`]).
//!
//! `matmul` is C = A·B: O(n³) arithmetic on O(n²) data, so it is bound by the cores, where
//! `add` (one addition per element read) is bound by memory and by the cost of starting
//! workers.
//!
//! `io` stands in for work that waits, as the original lab's simulations do: the request's
//! `wait_ms` is spread evenly over its bands, and each band sleeps its share (blocking the
//! thread, child or pool worker that runs it) before it adds its rows. The answer is `add`'s.
//!
//! [`WorkKind`] is the one list of kinds: the servers parse `work` with it, and the harness
//! (`--work`, `summary.json`, reports) names and describes kinds with it. A new kind is a
//! variant here, its arm in each `match` below (the compiler points to them), and its kernel.

use std::time::Duration;

/// `wait_ms` when a request does not give it.
pub const DEFAULT_WAIT_MS: u64 = 100;

/// The largest `wait_ms`: ten seconds of waiting per request.
pub const MAX_WAIT_MS: u64 = 10_000;

/// A kind of work, as the `work` parameter names it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
#[value(rename_all = "lowercase")]
pub enum WorkKind {
    /// C = A + B, the original lab's job: memory-bound, a fifth of a millisecond at n=500.
    #[default]
    Add,
    /// C = A·B: CPU-bound, O(n³).
    Matmul,
    /// The sum after `wait_ms` of blocking waiting spread over the bands: IO-bound.
    Io,
}

/// What limits a kind of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// Little arithmetic per element read: memory, and the cost of starting workers.
    Memory,
    /// Arithmetic: the cores.
    Cpu,
    /// Waiting: how many waits can be held at once.
    Waiting,
}

impl Bound {
    /// For reports: "memory-bound", "CPU-bound", "IO-bound".
    pub fn describe(self) -> &'static str {
        match self {
            Self::Memory => "memory-bound",
            Self::Cpu => "CPU-bound",
            Self::Waiting => "IO-bound",
        }
    }
}

impl WorkKind {
    /// Every kind, in the order pages, flags and reports list them (`add`, the default, first).
    pub const ALL: [Self; 3] = [Self::Add, Self::Matmul, Self::Io];

    /// The kind's name in `work`, answers, flags and `summary.json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Matmul => "matmul",
            Self::Io => "io",
        }
    }

    /// The kind called `name`.
    pub fn named(name: &str) -> Result<Self, UnknownWork> {
        (Self::ALL.into_iter())
            .find(|kind| kind.name() == name)
            .ok_or_else(|| UnknownWork { got: name.to_owned() })
    }

    /// "add, matmul, io", for messages.
    pub fn names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }

    /// Its shape rule and kernel: a product (C = A·B: A is r x k, B is k x c) rather than a sum
    /// of two matrices of one shape.
    pub fn multiplies(self) -> bool {
        match self {
            Self::Matmul => true,
            Self::Add | Self::Io => false,
        }
    }

    /// Whether its bands wait (given a `wait_ms`) before they compute.
    pub fn waits(self) -> bool {
        match self {
            Self::Io => true,
            Self::Add | Self::Matmul => false,
        }
    }

    /// What limits it.
    pub fn bound(self) -> Bound {
        match self {
            Self::Add => Bound::Memory,
            Self::Matmul => Bound::Cpu,
            Self::Io => Bound::Waiting,
        }
    }
}

impl std::fmt::Display for WorkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A request's work: its kind, and for a kind that waits, how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Work {
    /// C = A + B.
    #[default]
    Add,
    /// C = A·B.
    Matmul,
    /// C = A + B after `wait_ms` of waiting, spread over the bands.
    Io { wait_ms: u64 },
}

/// A `work` that names no kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("work must be one of {}; got {got:?}", WorkKind::names())]
pub struct UnknownWork {
    pub got: String,
}

impl Work {
    /// `kind`'s work, with `wait_ms` (checked by the caller, within `0..=MAX_WAIT_MS`) for a
    /// kind that waits.
    pub fn new(kind: WorkKind, wait_ms: u64) -> Self {
        match kind {
            WorkKind::Add => Self::Add,
            WorkKind::Matmul => Self::Matmul,
            WorkKind::Io => Self::Io { wait_ms },
        }
    }

    /// The work named `work` (default `add`), with `wait_ms` for `io`.
    pub fn of(work: Option<&str>, wait_ms: u64) -> Result<Self, UnknownWork> {
        let kind = work.map_or(Ok(WorkKind::default()), WorkKind::named)?;
        Ok(Self::new(kind, wait_ms))
    }

    pub fn kind(self) -> WorkKind {
        match self {
            Self::Add => WorkKind::Add,
            Self::Matmul => WorkKind::Matmul,
            Self::Io { .. } => WorkKind::Io,
        }
    }

    /// The answer's `work`.
    pub fn name(self) -> &'static str {
        self.kind().name()
    }

    /// Whether the work is a product (C = A·B) rather than a sum.
    pub fn multiplies(self) -> bool {
        self.kind().multiplies()
    }

    /// The answer's `wait_ms`: for a kind that waits only.
    pub fn wait_ms(self) -> Option<u64> {
        match self {
            Self::Add | Self::Matmul => None,
            Self::Io { wait_ms } => Some(wait_ms),
        }
    }

    /// How long each of `bands` bands waits before adding: an even share of `wait_ms`.
    pub fn band_wait(self, bands: usize) -> Duration {
        let wait_ms = self.wait_ms().unwrap_or(0);
        Duration::from_micros(wait_ms * 1000 / bands.max(1) as u64)
    }

    /// Whether the work waits: such a request holds no CPU while it does.
    pub fn waits(self) -> bool {
        !self.band_wait(1).is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_is_the_default_and_wait_ms_is_io_s_alone() {
        assert_eq!(Work::of(None, 100), Ok(Work::Add));
        assert_eq!(Work::of(Some("io"), 100), Ok(Work::Io { wait_ms: 100 }));
        assert_eq!(Work::of(Some("add"), 250), Ok(Work::Add));
        assert_eq!(Work::of(Some("matmul"), 250), Ok(Work::Matmul));
        assert!(Work::Matmul.multiplies() && !Work::Add.multiplies());
        assert_eq!((Work::Matmul.name(), Work::Matmul.wait_ms()), ("matmul", None));
        assert_eq!((Work::Add.name(), Work::Add.wait_ms()), ("add", None));
        assert_eq!(Work::Io { wait_ms: 7 }.wait_ms(), Some(7));
    }

    #[test]
    fn an_unknown_kind_is_named_with_the_kinds_allowed() {
        for bad in ["", "ADD", "matmul2", "sleep", " matmul"] {
            assert_eq!(
                Work::of(Some(bad), 100).unwrap_err().to_string(),
                format!("work must be one of add, matmul, io; got {bad:?}")
            );
        }
    }

    #[test]
    fn the_wait_is_shared_evenly_by_the_bands() {
        let io = Work::Io { wait_ms: 100 };
        assert_eq!(io.band_wait(4), Duration::from_millis(25));
        assert_eq!(io.band_wait(3), Duration::from_micros(33_333));
        assert_eq!(Work::Add.band_wait(4), Duration::ZERO);
        assert!(io.waits() && !Work::Io { wait_ms: 0 }.waits() && !Work::Add.waits());
    }

    #[test]
    fn each_kind_is_named_once_and_the_same_everywhere() {
        use clap::ValueEnum;
        for kind in WorkKind::ALL {
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("{:?}", kind.name()));
            assert_eq!(WorkKind::from_str(kind.name(), false), Ok(kind), "the flag's spelling");
            assert_eq!(WorkKind::named(kind.name()), Ok(kind));
            assert_eq!(Work::new(kind, 5).kind(), kind);
            assert_eq!(Work::new(kind, 5).waits(), kind.waits());
        }
        assert_eq!(WorkKind::names(), "add, matmul, io");
        assert_eq!(
            WorkKind::ALL.len(),
            WorkKind::value_variants().len(),
            "ALL lists every kind"
        );
        assert_eq!(WorkKind::Matmul.bound().describe(), "CPU-bound");
        assert!(WorkKind::Matmul.multiplies() && !WorkKind::Io.multiplies());
    }
}
