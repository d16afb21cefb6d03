//! Tasks on the event loop (`--strategy async`): a request is a task on the actix worker (one
//! single-threaded event loop each) that took its connection, and its bands are futures joined
//! in that task, as an asyncio handler would run them.
//!
//! - **Waits** (`io`) await a timer: a thousand waiting requests hold a thousand timers, not a
//!   thousand threads.
//! - **CPU work** (`add`, `matmul`) runs on the loop's thread, one band at a time, and the
//!   loop's other tasks wait meanwhile: the model's cost, shown in the trace as their time
//!   "queued on the loop", not hidden behind a thread pool.
//!
//! The matrices live on the heap in buffers reused across requests, as the threads engine's do.

use std::sync::Arc;
use std::time::Instant;

use futures_util::future::join_all;
use matrix_service::engine::RunsOn;
use matrix_service::params::DEFAULT_N;
use matrix_service::trace::Trace;
use matrix_service::trace::event_loop::record_lane;
use matrix_service::{BufferPool, Computed, Engine, HeapWorkspace, Operands, Shapes, Task, WorkError};

use crate::band_jobs::{BandDone, band_jobs, finish};

/// `--max-waiting-requests` by default with `--strategy async`: a waiting task is a timer and
/// its matrices, so the bound is the memory budget's (1,024 waiting requests of n=100 hold
/// 240 MiB of the default 512), not the threads'.
pub const DEFAULT_WAITING_TASKS: usize = 4096;

/// The bound on bands in flight by default with `--strategy async` (`--max-threads`): four
/// bands for each of [`DEFAULT_WAITING_TASKS`].
pub const DEFAULT_BANDS_IN_FLIGHT: usize = 4 * DEFAULT_WAITING_TASKS;

/// The event-loop engine.
#[derive(Debug)]
pub struct EventLoop {
    buffers: Arc<BufferPool>,
}

impl EventLoop {
    /// An engine keeping spare buffers for `active_requests` requests at a time (and, once idle,
    /// the default n's worth of them).
    pub fn new(active_requests: usize) -> Self {
        Self {
            buffers: Arc::new(BufferPool::for_requests(active_requests, DEFAULT_N)),
        }
    }
}

impl Engine for EventLoop {
    const UNITS: &'static str = "bands";

    type Workspace = HeapWorkspace;

    const RUNS_ON: RunsOn = RunsOn::EventLoop;

    fn workspace(&self, shapes: Shapes) -> Result<HeapWorkspace, WorkError> {
        Ok(HeapWorkspace::new(shapes, &self.buffers))
    }

    fn body_buffers(&self) -> Option<&Arc<BufferPool>> {
        Some(&self.buffers)
    }

    fn workspace_with(&self, a: Vec<i64>, b: Vec<i64>, shapes: Shapes) -> Result<HeapWorkspace, WorkError> {
        Ok(HeapWorkspace::with_inputs(a, b, shapes, &self.buffers))
    }

    async fn compute(
        &self,
        work: &mut HeapWorkspace,
        workers: usize,
        task: Task,
        trace: Trace<'_>,
    ) -> Result<Computed, WorkError> {
        let (a, b, out) = work.split();
        let checksum = compute_on_loop(Operands::new(a, b, task), out, workers, trace).await?;
        Ok(Computed {
            child_pids: None,
            checksum: Some(checksum),
        })
    }

    fn reclaim_idle(&self, now: Instant) {
        self.buffers.reclaim_idle(now);
    }
}

/// The task of `inputs` into `out` (the result's length) as one future per band of `workers`
/// (fewer if there are fewer rows), joined in the calling task: each awaits its share of an
/// `io` wait, then computes its rows on this thread. Returns the result's checksum.
///
/// Traced, each band's run is an event of the loop's thread, and the task's awaiting and its
/// time queued on the loop are events of its lane.
pub async fn compute_on_loop(
    inputs: Operands<'_>,
    out: &mut [i64],
    workers: usize,
    trace: Trace<'_>,
) -> Result<i64, WorkError> {
    let bands = band_jobs(inputs, out, workers)
        .into_iter()
        .map(|job| job.on_loop(trace));
    let (done, on_loop): (Vec<BandDone>, Vec<_>) = join_all(bands).await.into_iter().unzip();
    let on_loop: Vec<_> = on_loop.into_iter().flatten().collect();
    record_lane(trace, &on_loop);
    finish(inputs, &done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::band_jobs::waits_at_once;
    use matrix_service::Work;
    use matrix_service::matrix::{generate_pair, reference_add, reference_product};
    use matrix_service::testing::{check_strategy, run_strategy};

    /// The bands on an event loop of their own, as a strategy the shared checks can run.
    fn on_loop(inputs: Operands<'_>, out: &mut [i64], workers: usize) -> Result<Option<i64>, WorkError> {
        actix_web::rt::System::new()
            .block_on(compute_on_loop(inputs, out, workers, Trace::OFF))
            .map(Some)
    }

    #[test]
    fn every_kind_of_work_equals_the_reference() {
        check_strategy(48, on_loop);
    }

    #[test]
    fn sums_and_products_match_the_reference_on_any_worker_count() {
        let (a, b) = generate_pair(300, Some(4));
        let (sum, product) = (reference_add(&a, &b).unwrap(), reference_product(&a, &b).unwrap());
        for workers in [1, 3, 64] {
            assert!(run_strategy(&on_loop, &a, &b, Work::Add, workers).unwrap() == sum);
            assert!(run_strategy(&on_loop, &a, &b, Work::Matmul, workers).unwrap() == product);
        }
    }

    #[test]
    fn a_request_s_io_bands_await_at_once_on_one_thread() {
        // Four bands of a request, each waiting its share, on the loop's one thread: awaited
        // together (a timer each), so the request takes one band's wait, not four.
        let (a, b) = generate_pair(8, Some(5));
        let wait_ms = 412;
        let sum = run_strategy(&on_loop, &a, &b, Work::Io { wait_ms }, 4).unwrap();
        assert_eq!(sum, reference_add(&a, &b).unwrap());
        let band = std::time::Duration::from_millis(wait_ms / 4);
        assert_eq!(waits_at_once::peak(band), 4, "all four bands awaited at once");
    }

    /// The names of the events a traced `work` on the loop records, with their counts.
    fn traced(work: Work, workers: usize) -> std::collections::BTreeMap<String, usize> {
        use matrix_service::trace::Tracer;
        let (a, b) = generate_pair(16, Some(6));
        let tracer = Tracer::new(1000);
        tracer.start().unwrap();
        let id = tracer.begin();
        let strategy = |inputs: Operands<'_>, out: &mut [i64], workers: usize| {
            actix_web::rt::System::new()
                .block_on(compute_on_loop(inputs, out, workers, tracer.request(id)))
                .map(Some)
        };
        run_strategy(&strategy, &a, &b, work, workers).unwrap();
        let trace = serde_json::to_value(tracer.finish("threading", 10)).unwrap();
        let mut names = std::collections::BTreeMap::new();
        for event in trace["traceEvents"].as_array().unwrap() {
            if event["ph"] == "X" {
                *names.entry(event["name"].as_str().unwrap().to_owned()).or_insert(0) += 1;
            }
        }
        names
    }

    #[test]
    fn bands_with_no_wait_neither_await_nor_queue_and_bands_that_wait_await_once() {
        let sum = traced(Work::Add, 4);
        assert_eq!(sum.into_iter().collect::<Vec<_>>(), [("band".to_owned(), 4)]);
        let waited = traced(Work::Io { wait_ms: 40 }, 4);
        assert_eq!((waited["band"], waited["awaiting"]), (4, 1), "{waited:?}");
    }
}
