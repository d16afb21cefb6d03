//! The one thing the two servers do differently: how they add two matrices in parallel.
//!
//! Everything else (parameters, generation, limits, answers, errors, routes) is shared, so a
//! difference the load test measures is a difference between threads and processes, not between
//! two hand-written servers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::buffers::BufferPool;
use crate::matrix::Overflow;
use crate::work::Work;

/// A parallel addition strategy. It owns the storage of the matrices it adds: heap buffers for
/// engines whose workers see the server's memory, memory shared with worker processes for the
/// others.
pub trait AddEngine: Send + Sync + 'static {
    /// What the engine runs in parallel, plural, for messages: `"threads"` or `"child processes"`.
    const UNITS: &'static str;

    /// Where this engine keeps a request's matrices.
    type Workspace: Workspace;

    /// Storage for one `rows` x `cols` addition.
    fn workspace(&self, rows: usize, cols: usize) -> Result<Self::Workspace, AddError>;

    /// Where a posted body's matrices are parsed into: the engine's own spare heap buffers when
    /// its workspaces are on the heap (they then become the workspace with no copy), or `None`
    /// for fresh memory, freed by [`workspace_with`](Self::workspace_with) once copied.
    fn body_buffers(&self) -> Option<&Arc<BufferPool>> {
        None
    }

    /// A workspace holding posted matrices `a` and `b` (`rows * cols` elements each, row-major,
    /// parsed into [`body_buffers`](Self::body_buffers)). The default copies them into
    /// [`workspace`](Self::workspace)'s storage one at a time and frees each buffer once copied,
    /// so a request holds at most three matrices' worth of fresh memory at once. Freed, not kept
    /// as spares: such an engine keeps its matrices elsewhere, so a spare heap buffer would sit
    /// idle, charged to no request, beside the copy (measured: 218 MiB at the peak of one
    /// 2000 x 2000 upload when kept, against 157 MiB before). Engines whose workspace is on the
    /// heap take the buffers themselves, with no copy.
    fn workspace_with(
        &self,
        a: Vec<i64>,
        b: Vec<i64>,
        (rows, cols): (usize, usize),
    ) -> Result<Self::Workspace, AddError> {
        let mut work = self.workspace(rows, cols)?;
        work.inputs_mut().0.copy_from_slice(&a);
        drop(a);
        work.inputs_mut().1.copy_from_slice(&b);
        drop(b);
        Ok(work)
    }

    /// Does `task` on the workspace's A and B into its sum with `workers` parallel workers, one
    /// band of rows each: `add` adds; `io` has each band wait its share of `wait_ms` first
    /// ([`Work::band_wait`]), then add. Blocking: the server calls it on a blocking-pool thread,
    /// never on an async worker.
    fn add(&self, work: &mut Self::Workspace, workers: usize, task: Work) -> Result<Addition, AddError>;

    /// Gives the engine's spare memory that has been idle since `now - RECLAIM_AFTER` back to
    /// the OS. The server calls it every [`RECLAIM_EVERY`].
    ///
    /// [`RECLAIM_EVERY`]: crate::buffers::RECLAIM_EVERY
    ///
    /// [`RECLAIM_AFTER`]: crate::buffers::RECLAIM_AFTER
    fn reclaim_idle(&self, _now: Instant) {}
}

/// One request's matrices while it is served: A, B and their sum, row-major, of one shape.
///
/// The server fills A and B, the engine computes the sum, the server reads it for the answer.
/// Dropping the workspace gives its storage back.
pub trait Workspace: Send + 'static {
    /// Rows and columns of each of the three matrices.
    fn shape(&self) -> (usize, usize);
    /// A and B, to fill; their old contents mean nothing.
    fn inputs_mut(&mut self) -> (&mut [i64], &mut [i64]);
    /// The sum; meaningful once [`AddEngine::add`] has succeeded.
    fn sum(&self) -> &[i64];
}

/// A finished addition: the sum is in the workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addition {
    /// The processes that computed the bands, for engines that use processes.
    pub child_pids: Option<Vec<i32>>,
    /// The sum's checksum, when the workers computed it while adding; otherwise the server
    /// computes it from the sum.
    pub checksum: Option<i64>,
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
