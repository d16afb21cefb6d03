//! What a request asks its workers to do: `work` (`add`, the original lab's job; `matmul`, the
//! CPU-bound one; or `io`, the waiting one) and, for `io`, `wait_ms`.
//!
//! `matmul` is C = A·B: O(n³) arithmetic on O(n²) data, so it is bound by the cores, where
//! `add` (one addition per element read) is bound by memory and by the cost of starting
//! workers.
//!
//! `io` stands in for work that waits, as the original lab's simulations do: the request's
//! `wait_ms` is spread evenly over its bands, and each band sleeps its share (blocking the
//! thread, child or pool worker that runs it) before it adds its rows. The answer is `add`'s.

use std::time::Duration;

/// The kinds `work` may name, for messages.
pub const WORK_KINDS: [&str; 3] = ["add", "matmul", "io"];

/// `wait_ms` when a request does not give it.
pub const DEFAULT_WAIT_MS: u64 = 100;

/// The largest `wait_ms`: ten seconds of waiting per request.
pub const MAX_WAIT_MS: u64 = 10_000;

/// A request's work.
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
#[error("work must be one of {}; got {got:?}", WORK_KINDS.join(", "))]
pub struct UnknownWork {
    pub got: String,
}

impl Work {
    /// The work named `work` (default `add`), with `wait_ms` (checked by the caller, within
    /// `0..=MAX_WAIT_MS`) for `io`.
    pub fn of(work: Option<&str>, wait_ms: u64) -> Result<Self, UnknownWork> {
        match work {
            None | Some("add") => Ok(Self::Add),
            Some("matmul") => Ok(Self::Matmul),
            Some("io") => Ok(Self::Io { wait_ms }),
            Some(other) => Err(UnknownWork { got: other.to_owned() }),
        }
    }

    /// The answer's `work`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Matmul => "matmul",
            Self::Io { .. } => "io",
        }
    }

    /// Whether the work is a product (C = A·B) rather than a sum.
    pub fn multiplies(self) -> bool {
        self == Self::Matmul
    }

    /// The answer's `wait_ms`: for `io` only.
    pub fn wait_ms(self) -> Option<u64> {
        match self {
            Self::Add | Self::Matmul => None,
            Self::Io { wait_ms } => Some(wait_ms),
        }
    }

    /// How long each of `bands` bands waits before adding: an even share of `wait_ms`.
    pub fn band_wait(self, bands: usize) -> Duration {
        match self {
            Self::Add | Self::Matmul => Duration::ZERO,
            Self::Io { wait_ms } => Duration::from_micros(wait_ms * 1000 / bands.max(1) as u64),
        }
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
}
