//! The threads engine: a request's matrices on the heap, in buffers reused across requests, and
//! its bands run by threads started for the request ([`scoped_threads`](crate::scoped_threads))
//! or by a pool of threads started once ([`thread_pool`](crate::thread_pool)).

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use matrix_service::params::DEFAULT_N;
use matrix_service::trace::Trace;
use matrix_service::{BufferPool, Computed, Engine, HeapWorkspace, Operands, Shapes, Task, WorkError};

use crate::scoped_threads::compute_scoped;
use crate::thread_pool::compute_pooled;

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

impl Engine for Threads {
    const UNITS: &'static str = "threads";

    type Workspace = HeapWorkspace;

    fn workspace(&self, shapes: Shapes) -> Result<HeapWorkspace, WorkError> {
        Ok(HeapWorkspace::new(shapes, &self.buffers))
    }

    fn body_buffers(&self) -> Option<&Arc<BufferPool>> {
        Some(&self.buffers)
    }

    fn workspace_with(&self, a: Vec<i64>, b: Vec<i64>, shapes: Shapes) -> Result<HeapWorkspace, WorkError> {
        Ok(HeapWorkspace::with_inputs(a, b, shapes, &self.buffers))
    }

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        match &self.runner {
            Runner::Scoped => registry.register(
                "threads_started",
                "Threads started for bands of requests (scoped threads: all but one band a request)",
                crate::scoped_threads::THREADS_STARTED.clone(),
            ),
            Runner::Pool(pool) => {
                let threads = prometheus_client::metrics::gauge::Gauge::<i64>::default();
                threads.set(pool.current_num_threads() as i64);
                registry.register("pool_threads", "Threads in the pool, started once", threads);
            }
        }
    }

    fn compute(
        &self,
        work: &mut HeapWorkspace,
        workers: usize,
        task: Task,
        trace: Trace<'_>,
    ) -> impl Future<Output = Result<Computed, WorkError>> {
        std::future::ready(self.compute_here(work, workers, task, trace))
    }

    fn reclaim_idle(&self, now: Instant) {
        self.buffers.reclaim_idle(now);
    }
}

impl Threads {
    /// The computation, done on this (blocking) thread.
    fn compute_here(
        &self,
        work: &mut HeapWorkspace,
        workers: usize,
        task: Task,
        trace: Trace<'_>,
    ) -> Result<Computed, WorkError> {
        let (a, b, out) = work.split();
        let inputs = Operands::new(a, b, task);
        let checksum = match &self.runner {
            Runner::Scoped => compute_scoped(inputs, out, workers, trace)?,
            Runner::Pool(pool) => compute_pooled(pool, inputs, out, workers, trace)?,
        };
        Ok(Computed {
            child_pids: None,
            checksum: Some(checksum),
        })
    }
}
