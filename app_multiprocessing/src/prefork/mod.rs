//! The pre-forked strategy as an engine: a request's matrices live in a slot of the memory the
//! server shares with its pool of worker processes, so generating A and B writes them where the
//! workers read them, and the workers write the sum where the answer is read from. Nothing is
//! copied and nothing is forked per request.

pub mod pool;
pub mod worker;

use std::sync::Arc;
use std::time::{Duration, Instant};

use matrix_service::{Computed, Engine, Operands, Shapes, Task, WorkError};

use crate::slots::SlotWorkspace;
use pool::{Pool, PoolError};

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

    fn compute(&self, work: &mut SlotWorkspace, workers: usize, task: Task) -> Result<Computed, WorkError> {
        let deadline = Instant::now() + self.timeout;
        let bands = task.bands(workers);
        let wait = task.band_wait(bands.len());
        let starts = work.spans().map(|span| span.start);
        let added = self
            .pool
            .compute(work.slot_mut(), (task.kernel, starts), bands, (wait, deadline));
        match added {
            Ok(added) => Ok(Computed {
                child_pids: Some(added.pids),
                checksum: Some(added.checksum),
            }),
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

    fn reclaim_idle(&self, now: Instant) {
        self.pool.slots().reclaim_idle(now);
    }
}
