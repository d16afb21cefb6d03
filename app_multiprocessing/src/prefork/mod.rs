//! The pre-forked strategy as an engine: a request's matrices live in a slot of the memory the
//! server shares with its pool of worker processes, so generating A and B writes them where the
//! workers read them, and the workers write the sum where the answer is read from. Nothing is
//! copied and nothing is forked per request.

pub mod pool;
pub mod worker;

use std::sync::Arc;
use std::time::{Duration, Instant};

use matrix_service::bands::{band_count, bands};
use matrix_service::{AddEngine, AddError, Addition, Work, Workspace};

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

impl AddEngine for PreforkPool {
    const UNITS: &'static str = "pool jobs";

    type Workspace = SlotWorkspace;

    fn workspace(&self, rows: usize, cols: usize) -> Result<SlotWorkspace, AddError> {
        self.pool.slots().workspace(rows, cols).map_err(AddError::Unavailable)
    }

    fn add(&self, work: &mut SlotWorkspace, workers: usize, task: Work) -> Result<Addition, AddError> {
        let deadline = Instant::now() + self.timeout;
        let ((rows, cols), len) = (work.shape(), work.len());
        let wait = task.band_wait(band_count(rows, workers));
        let added = self
            .pool
            .add(work.slot_mut(), len, cols, bands(rows, workers), (wait, deadline));
        match added {
            Ok(added) => Ok(Addition {
                child_pids: Some(added.pids),
                checksum: Some(added.checksum),
            }),
            // The worker only says that its band overflowed; find where, for the client.
            Err(PoolError::Overflow { rows }) => {
                let overflow = work.inputs().first_overflow_in(rows.start * cols..rows.end * cols);
                Err(AddError::Overflow(
                    overflow.expect("the worker saw an overflow in its band"),
                ))
            }
            Err(PoolError::Unavailable(why)) => Err(AddError::Unavailable(why)),
            Err(PoolError::Lost(why)) => Err(AddError::WorkerFailed(why)),
            Err(PoolError::TimedOut) => Err(AddError::TimedOut(self.timeout)),
        }
    }

    fn reclaim_idle(&self, now: Instant) {
        self.pool.slots().reclaim_idle(now);
    }
}
