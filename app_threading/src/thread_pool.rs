//! Threads started once (`--strategy pool`): a request's bands become jobs on a rayon pool of
//! `--pool-threads` threads, so a request starts no thread. A pool thread that waits (`io`)
//! is blocked, and the pool's jobs queue behind it: with P threads and waits of W ms a band, at
//! most P x 1000 / W bands a second get through, the effect of gunicorn's `gthread` workers;
//! `--pool-threads` is its knob.

use std::panic::AssertUnwindSafe;

use matrix_service::trace::{Mark, Phase, Place, Trace};
use matrix_service::{Operands, WorkError};

use crate::band_jobs::{BandDone, band_jobs, finish};

/// The task of `inputs` into `out` (the result's length) as one job per band of `workers` on
/// `pool`. The calling thread only waits. Returns the result's checksum.
///
/// The bands are spawned from the calling thread, which is not one of the pool's, so they join
/// the pool's shared queue in the order requests send them, and a pool thread runs one band at
/// a time, start to end.
///
/// Traced, each band's run is recorded on the pool thread that ran it; the calling thread
/// records, once they are all done, each band's wait in the queue (from the first band queued
/// to its start: one start for all, so the events nest) and the join after the last band. (`pool.install` with a parallel iterator, which this replaced, ran
/// each request's splitting on a pool thread; a pool thread that waited for its request's
/// bands took up other requests' work meanwhile, nesting them on its stack, so a request could
/// finish only after every request nested above it. Under 64 waiting `io` requests answers came
/// in bursts: 2 to 38 answers in a 2 s trial where 2 threads can give 40.)
pub fn compute_pooled(
    pool: &rayon::ThreadPool,
    inputs: Operands<'_>,
    out: &mut [i64],
    workers: usize,
    trace: Trace<'_>,
) -> Result<i64, WorkError> {
    let jobs = band_jobs(inputs, out, workers);
    let mut results: Vec<Option<BandDone>> = Vec::with_capacity(jobs.len());
    results.resize_with(jobs.len(), || None);
    let queued = trace.now();
    let run = AssertUnwindSafe(|| {
        pool.in_place_scope_fifo(|scope| {
            for (job, result) in jobs.into_iter().zip(results.iter_mut()) {
                scope.spawn_fifo(move |_| *result = Some(job.run(trace)));
            }
        });
    });
    // A panicking job is the request's failure, not the server's: the scope waits for every
    // job, then passes the panic on.
    std::panic::catch_unwind(run).map_err(|_| WorkError::WorkerFailed("a band's job panicked".into()))?;
    let done: Vec<BandDone> = (results.into_iter())
        .map(|result| result.expect("every job ran to its end"))
        .collect();
    if let Some(queued) = queued {
        record_queue_and_join(trace, queued, &done);
    }
    finish(inputs, &done)
}

/// Records, on the calling thread, each band's wait in the queue from `queued` and the join
/// from the last band's end.
fn record_queue_and_join(trace: Trace<'_>, queued: u64, done: &[BandDone]) {
    for (band, ran) in done.iter().enumerate() {
        if let Some((started, _)) = ran.ran_us {
            trace.record(Mark::new(Phase::Queue, queued, started).band(band), Place::Here);
        }
    }
    if let Some(last_end) = done.iter().filter_map(|band| band.ran_us.map(|(_, end)| end)).max() {
        trace.record(Mark::until_now(Phase::Join, last_end), Place::Here);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::band_jobs::waits_at_once;
    use matrix_service::Work;
    use matrix_service::matrix::{generate_pair, reference_add, reference_product};
    use matrix_service::testing::{check_strategy, run_strategy};

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
    }

    #[test]
    fn every_kind_of_work_equals_the_reference_on_any_pool_size() {
        for threads in [1, 3] {
            let pool = pool(threads);
            check_strategy(32, |inputs, out, workers| {
                compute_pooled(&pool, inputs, out, workers, Trace::OFF).map(Some)
            });
        }
    }

    #[test]
    fn n_2000_and_a_product_match_the_reference_with_more_bands_than_threads() {
        let pool = pool(2);
        let pooled = |inputs: Operands<'_>, out: &mut [i64], workers| {
            compute_pooled(&pool, inputs, out, workers, Trace::OFF).map(Some)
        };
        let (a, b) = generate_pair(2000, Some(3));
        let expected = reference_add(&a, &b).unwrap();
        for workers in [1, 4, 64] {
            assert!(
                run_strategy(&pooled, &a, &b, Work::Add, workers).unwrap() == expected,
                "workers={workers}"
            );
        }
        let (a, b) = generate_pair(300, Some(4));
        let expected = reference_product(&a, &b).unwrap();
        for workers in [1, 5, 64] {
            assert!(
                run_strategy(&pooled, &a, &b, Work::Matmul, workers).unwrap() == expected,
                "workers={workers}"
            );
        }
    }

    #[test]
    fn io_bands_queue_behind_a_pool_s_blocked_threads() {
        // 4 bands of a request, each waiting its share: on 2 threads two wait at once, in two
        // rounds; on 4 threads all four at once. Each pool size gets a wait of its own, so the
        // counts of bands waiting at once are its alone.
        let (a, b) = generate_pair(8, Some(1));
        let waited_at_once = |threads: usize, wait_ms: u64| {
            let pool = pool(threads);
            let started = std::time::Instant::now();
            let sum = run_strategy(
                &|inputs, out: &mut [i64], workers| compute_pooled(&pool, inputs, out, workers, Trace::OFF).map(Some),
                &a,
                &b,
                Work::Io { wait_ms },
                4,
            );
            assert_eq!(sum.unwrap(), reference_add(&a, &b).unwrap());
            let band = std::time::Duration::from_millis(wait_ms / 4);
            (waits_at_once::peak(band), started.elapsed(), band)
        };
        let (at_once, took, band) = waited_at_once(2, 804);
        assert_eq!(at_once, 2, "2 threads wait 2 bands at once");
        assert!(took >= 2 * band, "two rounds of waits: {took:?}");
        let (at_once, _, _) = waited_at_once(4, 812);
        assert_eq!(at_once, 4, "4 threads wait all 4 bands at once");
    }

    #[test]
    fn concurrent_requests_are_served_in_turn_not_all_at_the_end() {
        // 8 requests at once, each of 2 bands waiting 40 ms, on 2 threads: served in turn, the
        // first is done after one round of waits and the last after eight. Nested on the pool's
        // threads (as with `install`), they all finished together near the end.
        let (a, b) = generate_pair(8, Some(2));
        let pool = pool(2);
        let started = std::time::Instant::now();
        let mut ends: Vec<std::time::Duration> = std::thread::scope(|scope| {
            let requests: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        let pooled = |inputs: Operands<'_>, out: &mut [i64], workers| {
                            compute_pooled(&pool, inputs, out, workers, Trace::OFF).map(Some)
                        };
                        run_strategy(&pooled, &a, &b, Work::Io { wait_ms: 80 }, 2).unwrap();
                        started.elapsed()
                    })
                })
                .collect();
            requests.into_iter().map(|request| request.join().unwrap()).collect()
        });
        ends.sort();
        let (first, last) = (ends[0], ends[7]);
        assert!(
            first * 3 < last,
            "the first request done at {first:?}, the last at {last:?}: not in turn"
        );
    }
}
