//! The pre-forked strategy as an engine: a request's matrices live in a slot of the memory the
//! server shares with its pool of worker processes, so generating A and B writes them where the
//! workers read them, and the workers write the sum where the answer is read from. Nothing is
//! copied and nothing is forked per request.

pub mod pool;
pub mod worker;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use matrix_service::trace::{Mark, Phase, Place, Trace};
use matrix_service::{Computed, Engine, Operands, Shapes, Task, WorkError};

use crate::slots::SlotWorkspace;
use pool::{Pool, PoolAddition, PoolError};

/// The pool engine.
pub struct PreforkPool {
    pool: Arc<Pool>,
    /// How long a request's jobs may take, queueing included (`--child-timeout`).
    timeout: Duration,
}

impl PreforkPool {
    pub fn new(pool: Arc<Pool>, timeout: Duration) -> Self {
        Self { pool, timeout }
    }
}

impl Engine for PreforkPool {
    const UNITS: &'static str = "pool jobs";

    type Workspace = SlotWorkspace;

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "pool_workers_alive",
            "Pool worker processes alive now",
            pool::WORKERS_ALIVE.clone(),
        );
        registry.register(
            "pool_workers_replaced",
            "Pool workers started to replace dead ones",
            pool::WORKERS_REPLACED.clone(),
        );
    }

    fn workspace(&self, shapes: Shapes) -> Result<SlotWorkspace, WorkError> {
        self.pool.slots().workspace(shapes).map_err(WorkError::Unavailable)
    }

    fn compute(
        &self,
        work: &mut SlotWorkspace,
        workers: usize,
        task: Task,
        trace: Trace<'_>,
    ) -> impl Future<Output = Result<Computed, WorkError>> {
        std::future::ready(self.compute_here(work, workers, task, trace))
    }

    fn reclaim_idle(&self, now: Instant) {
        self.pool.slots().reclaim_idle(now);
    }
}

impl PreforkPool {
    /// The computation, done on this (blocking) thread.
    fn compute_here(
        &self,
        work: &mut SlotWorkspace,
        workers: usize,
        task: Task,
        trace: Trace<'_>,
    ) -> Result<Computed, WorkError> {
        let deadline = Instant::now() + self.timeout;
        let queued = trace.now();
        let bands = task.bands(workers);
        let wait = task.band_wait(bands.len());
        let starts = work.spans().map(|span| span.start);
        let added = self
            .pool
            .compute(work.slot_mut(), (task.kernel, starts), bands, (wait, deadline));
        match added {
            Ok(added) => {
                if let Some(queued) = queued {
                    record_bands(trace, queued, &added);
                }
                Ok(Computed {
                    child_pids: Some(added.pids),
                    checksum: Some(added.checksum),
                })
            }
            // The worker only says that its band overflowed; find where, for the client.
            Err(PoolError::Overflow { rows }) => {
                let (a, b) = work.inputs();
                Err(Operands::new(a, b, task).overflow_in(rows))
            }
            Err(PoolError::Unavailable(why)) => Err(WorkError::Unavailable(why)),
            Err(PoolError::Lost(why)) => Err(WorkError::WorkerFailed(why)),
            Err(PoolError::TimedOut) => Err(WorkError::TimedOut(self.timeout)),
        }
    }
}

/// Records each band's wait in the queue (from `queued`, when the request's jobs were queued,
/// to the worker reading its job) on this thread, its run on its worker's lane, and the done
/// message's way back from the last band's end.
fn record_bands(trace: Trace<'_>, queued: u64, added: &PoolAddition) {
    for (band, (&pid, ran)) in added.pids.iter().zip(&added.ran).enumerate() {
        trace.record(Mark::new(Phase::Queue, queued, ran.started_us).band(band), Place::Here);
        let worker = Place::Process {
            pid,
            name: worker::PROCESS_NAME,
        };
        let run = Mark::new(Phase::Band, ran.started_us, ran.ended_us).band(band);
        trace.record(run.cpu_us(ran.cpu_us), worker);
    }
    if let Some(last_end) = added.ran.iter().map(|ran| ran.ended_us).max() {
        trace.record(Mark::until_now(Phase::DoneMessage, last_end), Place::Here);
    }
}
