//! The in-process cost of one request's work, measured in the same run as the load: generating
//! two n x n matrices of values in 0..100 and adding (or, for `matmul`, multiplying) them, on
//! one thread, with the servers' own code (`matrix_service`), reusing buffers as the servers do.
//! An `io` request's CPU is an `add`'s: its wait holds none. It is the floor a server's CPU per
//! request is compared against: `CPU ms per request / work ms` says how much a server spends
//! beyond the work itself (HTTP, JSON, threads or processes, copies).
//!
//! Measured as this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), not wall time, so it is the same
//! kind of figure as the servers' CPU, and waiting for a busy CPU does not count.

use std::hint::black_box;
use std::time::{Duration, Instant};

use loadtest_model::stats::median;
use loadtest_model::summary::WorkCost;
use matrix_service::WorkKind;
use matrix_service::matrix::generate_encoded;
use matrix_service::{Shapes, Task, Work};
use nix::time::{ClockId, clock_gettime};

/// Fewest and most timed iterations, and roughly how long to spend.
const MIN_ITERATIONS: usize = 10;
const MAX_ITERATIONS: usize = 200;
const BUDGET: Duration = Duration::from_millis(1500);

/// Measures `work` at side `n`.
pub fn measure(work: WorkKind, n: u32) -> anyhow::Result<WorkCost> {
    let side = n as usize;
    // The work without its wait: waiting costs no CPU.
    let kind = Work::new(work, 0);
    let shapes = Shapes::square(kind, side);
    let (mut a, mut b, mut out) = (
        vec![0i64; shapes.a_len()],
        vec![0i64; shapes.b_len()],
        vec![0i64; shapes.out_len()],
    );
    let mut samples = Vec::new();
    let started = Instant::now();
    // Two untimed rounds first, so buffers are mapped and caches warm, as in a running server.
    for round in 0..MAX_ITERATIONS + 2 {
        let before = thread_cpu()?;
        let task = Task::generated(kind, shapes);
        generate_encoded(Some(round as u64), &mut a, &mut b, task.encoding());
        black_box(task.kernel.run(&a, &b, &mut out));
        black_box(&out);
        let after = thread_cpu()?;
        if round >= 2 {
            samples.push((after - before).as_secs_f64() * 1000.0);
        }
        if samples.len() >= MIN_ITERATIONS && started.elapsed() > BUDGET {
            break;
        }
    }
    let cpu_ms = median(&samples).expect("at least MIN_ITERATIONS samples");
    Ok(WorkCost {
        work,
        n,
        cpu_ms,
        iterations: samples.len() as u32,
    })
}

fn thread_cpu() -> anyhow::Result<Duration> {
    cpu_time(ClockId::CLOCK_THREAD_CPUTIME_ID)
}

/// The CPU time `clock` (a thread's or the process's) has counted.
pub fn cpu_time(clock: ClockId) -> anyhow::Result<Duration> {
    let time = clock_gettime(clock)?;
    Ok(Duration::new(time.tv_sec() as u64, time.tv_nsec() as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lower_of_two_measurements_is_kept() {
        let cost = |cpu_ms| WorkCost {
            work: WorkKind::Add,
            n: 500,
            cpu_ms,
            iterations: 10,
        };
        assert_eq!(cost(0.9).lower(cost(0.6)), cost(0.6));
        assert_eq!(cost(0.6).lower(cost(0.9)), cost(0.6));
    }

    #[test]
    fn the_work_costs_more_for_a_bigger_matrix() {
        let small = measure(WorkKind::Add, 20).unwrap();
        let large = measure(WorkKind::Add, 400).unwrap();
        assert!(small.iterations >= MIN_ITERATIONS as u32 && large.iterations >= MIN_ITERATIONS as u32);
        assert!(small.cpu_ms > 0.0 && large.cpu_ms > small.cpu_ms, "{small:?} {large:?}");
        // A product does n times the arithmetic of a sum on the same data.
        let product = measure(WorkKind::Matmul, 400).unwrap();
        assert!(product.cpu_ms > large.cpu_ms, "{product:?} {large:?}");
    }
}
