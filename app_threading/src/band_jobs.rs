//! A request's bands as jobs for threads: each band's inputs (its rows of A, and its rows of B
//! or all of B for a product) with the only `&mut` to its rows of the result, so any thread may
//! run any band with no lock and no copy. Both threads engines (scoped threads, the pool) split
//! a request this way and check its result the same way.

use std::ops::Range;
use std::time::Duration;

use matrix_service::matrix::BandSum;
use matrix_service::trace::Trace;
use matrix_service::trace::event_loop::BandOnLoop;
use matrix_service::{Kernel, Operands};

/// One band: its inputs, its slice of the result, its kernel, and how long it waits first (`io`).
pub struct BandJob<'a> {
    a: &'a [i64],
    b: &'a [i64],
    out: &'a mut [i64],
    kernel: Kernel,
    wait: Duration,
    rows: Range<usize>,
    /// The band's place in its request, 0-based, in row order.
    index: usize,
}

/// A band run: its rows and their checksum, and, when traced, when it started and ended.
pub struct BandDone {
    pub rows: Range<usize>,
    pub sum: BandSum,
    pub ran_us: Option<(u64, u64)>,
}

impl BandJob<'_> {
    /// The band's place in its request, 0-based.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Waits the band's share (`io`), then computes its rows; records the run on this thread
    /// with its CPU time when `trace` is on. The thread sleeps through the wait.
    pub fn run(self, trace: Trace<'_>) -> BandDone {
        let started = trace.start();
        if !self.wait.is_zero() {
            #[cfg(test)]
            let _waiting = waits_at_once::Waiting::enter(self.wait);
            std::thread::sleep(self.wait);
        }
        let sum = self.kernel.run(self.a, self.b, self.out);
        trace.band_here(self.index, started);
        BandDone {
            rows: self.rows,
            sum,
            ran_us: started.map(|since| (since.wall_us, matrix_service::trace::now_us())),
        }
    }
}

impl BandJob<'_> {
    /// The band as a future on the event loop: awaits its share (`io`) on a timer, holding no
    /// thread, then computes its rows on the loop's thread, holding up the loop's other tasks
    /// while it does. Records the run on the loop's thread with its CPU time when `trace` is on,
    /// and answers its times on the loop for the task's lane.
    pub async fn on_loop(self, trace: Trace<'_>) -> (BandDone, Option<BandOnLoop>) {
        // A band with no wait neither awaits nor queues: it runs as soon as its task polls it,
        // so its life on the loop begins with its run (a clock read before would show the
        // microsecond between the two reads as time queued).
        let awaited_us = (!self.wait.is_zero()).then(|| trace.now()).flatten();
        if !self.wait.is_zero() {
            #[cfg(test)]
            let _waiting = waits_at_once::Waiting::enter(self.wait);
            tokio::time::sleep(self.wait).await;
        }
        let started = trace.start();
        let sum = self.kernel.run(self.a, self.b, self.out);
        trace.band_here(self.index, started);
        let ran_us = started.map(|since| (since.wall_us, matrix_service::trace::now_us()));
        let on_loop = ran_us.map(|ran_us| match awaited_us {
            Some(awaited_us) => BandOnLoop {
                awaited_us,
                ready_us: awaited_us + u64::try_from(self.wait.as_micros()).unwrap_or(u64::MAX),
                ran_us,
            },
            None => BandOnLoop {
                awaited_us: ran_us.0,
                ready_us: ran_us.0,
                ran_us,
            },
        });
        let done = BandDone {
            rows: self.rows,
            sum,
            ran_us,
        };
        (done, on_loop)
    }
}

/// The request's checksum from its bands' results, or the overflow one of them met.
pub fn finish<'a>(
    inputs: Operands<'_>,
    done: impl IntoIterator<Item = &'a BandDone>,
) -> Result<i64, matrix_service::WorkError> {
    inputs.finish(done.into_iter().map(|band| (band.rows.clone(), band.sum)))
}

/// The task of `inputs` into `out` (the result's length), as one job per band of `workers`
/// (fewer if there are fewer rows), in order.
pub fn band_jobs<'a>(inputs: Operands<'a>, out: &'a mut [i64], workers: usize) -> Vec<BandJob<'a>> {
    let task = inputs.task;
    assert_eq!(out.len(), task.shapes.out_len(), "the result has the task's shape");
    let bands = task.bands(workers);
    let wait = task.band_wait(bands.len());
    let mut jobs = Vec::with_capacity(bands.len());
    let mut rest = out;
    for (index, band) in bands.enumerate() {
        let (mine, tail) = rest.split_at_mut(band.out.len());
        rest = tail;
        let (a, b) = inputs.of(&band);
        jobs.push(BandJob {
            a,
            b,
            out: mine,
            kernel: task.kernel,
            wait,
            rows: band.rows,
            index,
        });
    }
    jobs
}

/// Test-only: how many `io` bands of one wait were waiting at once, at most, so a test can tell
/// an engine that waits a request's bands together from one that waits them in turn without
/// timing anything. Counted by the band's wait, which each test picks its own, so tests running
/// side by side in one process do not mix their counts.
#[cfg(test)]
pub(crate) mod waits_at_once {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use std::time::Duration;

    /// Per wait: bands waiting now, and the most at once.
    static COUNTS: Mutex<BTreeMap<Duration, (usize, usize)>> = Mutex::new(BTreeMap::new());

    /// A band waiting, from `enter` until it is dropped.
    pub struct Waiting(Duration);

    impl Waiting {
        pub fn enter(wait: Duration) -> Self {
            let mut counts = COUNTS.lock().unwrap();
            let (now, peak) = counts.entry(wait).or_default();
            *now += 1;
            *peak = (*peak).max(*now);
            Self(wait)
        }
    }

    impl Drop for Waiting {
        fn drop(&mut self) {
            if let Some((now, _)) = COUNTS.lock().unwrap().get_mut(&self.0) {
                *now -= 1;
            }
        }
    }

    /// The most bands of `wait` that waited at once.
    pub fn peak(wait: Duration) -> usize {
        COUNTS.lock().unwrap().get(&wait).map_or(0, |&(_, peak)| peak)
    }
}
