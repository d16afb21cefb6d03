//! The pre-forked strategy as an engine: a request's matrices live in a slot of the memory the
//! server shares with its pool of worker processes, so generating A and B writes them where the
//! workers read them, and the workers write the sum where the answer is read from. Nothing is
//! copied and nothing is forked per request.

pub mod pool;
pub mod worker;

use std::sync::Arc;
use std::time::{Duration, Instant};

use matrix_service::bands::bands;
use matrix_service::{AddEngine, AddError, Addition, BufferPool, Workspace};

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
    const METHOD: &'static str = "Multiprocessing";
    const ENDPOINT: &'static str = "multiprocessing";
    const UNITS: &'static str = "pool jobs";
    const TITLE: &'static str = "Matrix addition with a pool of processes";
    const DESCRIPTION: &'static str = "Each request generates two random n x n integer matrices straight into memory \
        this server shares with a pool of worker processes started once, at start-up. Its <code>workers</code> bands \
        of rows become jobs; each idle worker process takes the next one, adds its band in the shared memory and \
        says it is done through a pipe. The answer lists the pid that computed each band.";

    type Workspace = SlotWorkspace;

    fn workspace(&self, rows: usize, cols: usize, _heap: &Arc<BufferPool>) -> Result<SlotWorkspace, AddError> {
        self.pool.slots().workspace(rows, cols).map_err(AddError::Unavailable)
    }

    fn add(&self, work: &mut SlotWorkspace, workers: usize) -> Result<Addition, AddError> {
        let deadline = Instant::now() + self.timeout;
        let ((rows, cols), len) = (work.shape(), work.len());
        let added = self
            .pool
            .add(work.slot_mut(), len, cols, bands(rows, workers), deadline);
        match added {
            Ok(added) => Ok(Addition {
                child_pids: Some(added.pids),
                checksum: Some(added.checksum),
            }),
            Err(PoolError::Overflow { band }) => {
                let rows = bands(rows, workers).nth(band).expect("the pool names one of the bands");
                let overflow = work.inputs().first_overflow_in(rows.start * cols..rows.end * cols);
                Err(AddError::Overflow(
                    overflow.expect("the worker saw an overflow in its band"),
                ))
            }
            Err(e) => Err(self.error(e)),
        }
    }

    fn reclaim_idle(&self, now: Instant) {
        self.pool.slots().reclaim_idle(now);
    }
}

impl PreforkPool {
    fn error(&self, error: PoolError) -> AddError {
        match error {
            PoolError::Unavailable(why) => AddError::Unavailable(why),
            PoolError::Lost(why) => AddError::WorkerFailed(why),
            PoolError::TimedOut => AddError::TimedOut(self.timeout),
            // Handled in `add`, where the inputs are at hand.
            PoolError::Overflow { band } => AddError::WorkerFailed(format!("band {band} overflowed")),
        }
    }
}
