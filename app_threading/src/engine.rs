//! The threads engine: a request's matrices on the heap, in buffers reused across requests, and
//! its bands run by threads started for the request ([`scoped_threads`](crate::scoped_threads))
//! or by a pool of threads started once ([`thread_pool`](crate::thread_pool)).

use std::sync::Arc;
use std::time::Instant;

use matrix_service::params::DEFAULT_N;
use matrix_service::{AddEngine, AddError, Addition, BufferPool, HeapWorkspace, Work};

use crate::scoped_threads::add_scoped;
use crate::thread_pool::add_pooled;

/// Who runs a request's bands.
#[derive(Debug)]
pub enum Runner {
    /// Threads started for each request (`--strategy scoped`).
    Scoped,
    /// A pool of threads started once (`--strategy pool`).
    Pool(rayon::ThreadPool),
}

/// The threads engine.
#[derive(Debug)]
pub struct Threads {
    buffers: Arc<BufferPool>,
    runner: Runner,
}

impl Threads {
    /// An engine whose bands `runner` runs, keeping spare buffers for `active_requests`
    /// requests at a time (and, once idle, the default n's worth of them).
    pub fn new(runner: Runner, active_requests: usize) -> Self {
        Self {
            buffers: Arc::new(BufferPool::for_requests(active_requests, DEFAULT_N)),
            runner,
        }
    }

    /// Threads started per request, as the original lab did.
    pub fn scoped(active_requests: usize) -> Self {
        Self::new(Runner::Scoped, active_requests)
    }

    /// A pool of `threads` threads, named `pool-N`, started now.
    pub fn pool(threads: usize, active_requests: usize) -> Result<Self, rayon::ThreadPoolBuildError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("pool-{i}"))
            .build()?;
        Ok(Self::new(Runner::Pool(pool), active_requests))
    }
}

impl AddEngine for Threads {
    const UNITS: &'static str = "threads";

    type Workspace = HeapWorkspace;

    fn workspace(&self, rows: usize, cols: usize) -> Result<HeapWorkspace, AddError> {
        Ok(HeapWorkspace::new(rows, cols, &self.buffers))
    }

    fn body_buffers(&self) -> Option<&Arc<BufferPool>> {
        Some(&self.buffers)
    }

    fn workspace_with(
        &self,
        a: Vec<i64>,
        b: Vec<i64>,
        (rows, cols): (usize, usize),
    ) -> Result<HeapWorkspace, AddError> {
        Ok(HeapWorkspace::with_inputs(a, b, rows, cols, &self.buffers))
    }

    fn add(&self, work: &mut HeapWorkspace, workers: usize, task: Work) -> Result<Addition, AddError> {
        let (inputs, sum) = work.split();
        let checksum = match &self.runner {
            Runner::Scoped => add_scoped(inputs, sum, workers, task)?,
            Runner::Pool(pool) => add_pooled(pool, inputs, sum, workers, task)?,
        };
        Ok(Addition {
            child_pids: None,
            checksum: Some(checksum),
        })
    }

    fn reclaim_idle(&self, now: Instant) {
        self.buffers.reclaim_idle(now);
    }
}
