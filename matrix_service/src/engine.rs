//! The one thing the two servers do differently: how they add two matrices in parallel.
//!
//! Everything else (parameters, generation, limits, answers, errors, routes) is shared, so a
//! difference the load test measures is a difference between threads and processes, not between
//! two hand-written servers.

use std::time::Duration;

use crate::matrix::{Matrix, Overflow};

/// A parallel addition strategy.
pub trait AddEngine: Send + Sync + 'static {
    /// The answer's `method` field, such as `"Multithreading"`.
    const METHOD: &'static str;
    /// The endpoint's path segment, such as `"threading"` for `/threading`.
    const ENDPOINT: &'static str;
    /// What the engine runs in parallel, plural, for messages: `"threads"` or `"child processes"`.
    const UNITS: &'static str;
    /// The index page's title.
    const TITLE: &'static str;
    /// One paragraph for the index page: what this server does and how.
    const DESCRIPTION: &'static str;

    /// Computes `a + b` (same shape, standard layout) into `out` (a reused buffer: resize it to
    /// the shape; its old contents mean nothing) with `workers` parallel workers, one band of rows
    /// each. Blocking: the server calls it on a blocking-pool thread, never on an async worker.
    fn add(&self, a: &Matrix, b: &Matrix, out: Vec<i64>, workers: usize) -> Result<Addition, AddError>;
}

/// A finished addition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addition {
    pub sum: Matrix,
    /// The processes that computed the bands, for engines that use processes.
    pub child_pids: Option<Vec<i32>>,
}

/// Why an addition did not produce a sum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddError {
    /// The inputs' sum does not fit an `i64`: the client's fault (400).
    #[error("{0}")]
    Overflow(Overflow),
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
