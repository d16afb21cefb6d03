//! Why a request's work did not produce a result: the engines' one error type, which the HTTP
//! layer maps to a status (`ApiError`).

use std::time::Duration;

use crate::matmul::ProductOverflow;
use crate::matrix::Overflow;

/// Why a request's work did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkError {
    /// The inputs' sum does not fit an `i64`: the client's fault (400).
    #[error("{0}")]
    Overflow(Overflow),
    /// An element of the inputs' product does not fit an `i64`: the client's fault (400).
    #[error("{0}")]
    ProductOverflow(ProductOverflow),
    /// The OS refused a thread or process for now (EAGAIN, ENOMEM): try again later (503).
    #[error("could not start a worker: {0}; try again shortly")]
    Unavailable(String),
    /// A worker crashed, was killed or broke the protocol (500).
    #[error("a worker failed: {0}")]
    WorkerFailed(String),
    /// A worker did not finish in time and was killed (504).
    #[error("the workers did not finish within {0:?} (--child-timeout); they were killed")]
    TimedOut(Duration),
}
