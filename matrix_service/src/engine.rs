//! The one thing the two servers do differently: how they run a request's bands in parallel.
//!
//! Everything else (parameters, generation, limits, answers, errors, routes, the kernels
//! themselves) is shared, so a difference the load test measures is a difference between
//! threads and processes, not between two hand-written servers.
//!
//! An engine computes either on a blocking thread (threads, processes: its computation is done
//! by the time [`Engine::compute`] returns, and its future is ready at once) or on the server's
//! event loop ([`RunsOn::EventLoop`]: its bands are futures that await timers and run their rows
//! on the loop, as an asyncio handler would).

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use crate::buffers::BufferPool;
use crate::shapes::Shapes;
use crate::task::Task;
use crate::trace::Trace;
pub use crate::work_error::WorkError;

/// Where the server runs a request's work: generating, computing and serializing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunsOn {
    /// On a thread of actix's blocking pool (`web::block`), so the event loops keep answering
    /// other connections while the engine's threads or processes compute. The engine's
    /// [`compute`](Engine::compute) blocks and returns a future that is already ready.
    BlockingThread,
    /// On the event loop that took the request, in its task: waits are awaited (a timer, not a
    /// thread) and CPU work runs on the loop, holding up the loop's other tasks while it runs.
    EventLoop,
}

/// A parallel strategy. It owns the storage of the matrices it computes on: heap buffers for
/// engines whose workers see the server's memory, memory shared with worker processes for the
/// others.
pub trait Engine: Send + Sync + 'static {
    /// What the engine runs in parallel, plural, for messages: `"threads"` or `"child processes"`.
    const UNITS: &'static str;

    /// Where this engine keeps a request's matrices.
    type Workspace: Workspace;

    /// Where the server runs a request's work with this engine.
    const RUNS_ON: RunsOn = RunsOn::BlockingThread;

    /// Storage for one request's matrices of `shapes`.
    fn workspace(&self, shapes: Shapes) -> Result<Self::Workspace, WorkError>;

    /// Where a posted body's matrices are parsed into: the engine's own spare heap buffers when
    /// its workspaces are on the heap (they then become the workspace with no copy), or `None`
    /// for fresh memory, freed by [`workspace_with`](Self::workspace_with) once copied.
    fn body_buffers(&self) -> Option<&Arc<BufferPool>> {
        None
    }

    /// A workspace holding posted matrices `a` and `b` (of `shapes`, row-major, parsed into
    /// [`body_buffers`](Self::body_buffers)). The default copies them into
    /// [`workspace`](Self::workspace)'s storage one at a time and frees each buffer once copied,
    /// so a request holds at most three matrices' worth of fresh memory at once. Freed, not kept
    /// as spares: such an engine keeps its matrices elsewhere, so a spare heap buffer would sit
    /// idle, charged to no request, beside the copy (measured: 218 MiB at the peak of one
    /// 2000 x 2000 upload when kept, against 157 MiB before). Engines whose workspace is on the
    /// heap take the buffers themselves, with no copy.
    fn workspace_with(&self, a: Vec<i64>, b: Vec<i64>, shapes: Shapes) -> Result<Self::Workspace, WorkError> {
        let mut work = self.workspace(shapes)?;
        work.inputs_mut().0.copy_from_slice(&a);
        drop(a);
        work.inputs_mut().1.copy_from_slice(&b);
        drop(b);
        Ok(work)
    }

    /// Runs `task` on the workspace (its inputs prepared by [`Task::prepare`]) into its result
    /// with `workers` parallel workers, one band of rows each ([`Task::bands`]): each band
    /// waits its share of an `io` request's wait ([`Task::band_wait`]), then runs the task's
    /// kernel. An engine that runs on a [`RunsOn::BlockingThread`] does all of it before
    /// returning (the server calls it there, never on an event loop) and returns a ready
    /// future; one that runs on the [`RunsOn::EventLoop`] returns the bands as a future the
    /// server awaits in the request's task.
    ///
    /// `trace` is the request as a running trace sees it ([`Trace::OFF`] when none runs): the
    /// engine records each band's hand-off, run and way back on it ([`crate::trace::Phase`]).
    fn compute(
        &self,
        work: &mut Self::Workspace,
        workers: usize,
        task: Task,
        trace: Trace<'_>,
    ) -> impl Future<Output = Result<Computed, WorkError>>;

    /// [`compute`](Self::compute) on the calling thread, for an engine that runs on a
    /// [`RunsOn::BlockingThread`]: the server's blocking path, benchmarks and tests.
    ///
    /// # Panics
    /// If the computation awaits something: an [`RunsOn::EventLoop`] engine's must be awaited.
    fn compute_now(
        &self,
        work: &mut Self::Workspace,
        workers: usize,
        task: Task,
        trace: Trace<'_>,
    ) -> Result<Computed, WorkError> {
        futures_util::FutureExt::now_or_never(self.compute(work, workers, task, trace))
            .expect("a blocking engine's computation is done when compute returns")
    }

    /// Gives the engine's spare memory that has been idle since `now - RECLAIM_AFTER` back to
    /// the OS. The server calls it every [`RECLAIM_EVERY`].
    ///
    /// [`RECLAIM_EVERY`]: crate::buffers::RECLAIM_EVERY
    ///
    /// [`RECLAIM_AFTER`]: crate::buffers::RECLAIM_AFTER
    fn reclaim_idle(&self, _now: Instant) {}

    /// Adds the engine's own metrics (threads started, children forked, pool workers) to the
    /// server's `GET /metrics`. The default adds none.
    fn register_metrics(&self, _registry: &mut prometheus_client::registry::Registry) {}
}

/// One request's matrices while it is served: A, B and the result, row-major, of the shapes
/// it was made for.
///
/// The server fills A and B, the engine computes the result, the server reads it for the
/// answer. Dropping the workspace gives its storage back.
pub trait Workspace: Send + 'static {
    /// The shapes of the three matrices.
    fn shapes(&self) -> Shapes;
    /// A and B, to fill; their old contents mean nothing.
    fn inputs_mut(&mut self) -> (&mut [i64], &mut [i64]);
    /// The result; meaningful once [`Engine::compute`] has succeeded.
    fn result(&self) -> &[i64];
}

/// A finished computation: the result is in the workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Computed {
    /// The processes that computed the bands, for engines that use processes.
    pub child_pids: Option<Vec<i32>>,
    /// The result's checksum, when the workers computed it on the way; otherwise the server
    /// computes it from the result.
    pub checksum: Option<i64>,
}
