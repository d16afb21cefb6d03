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

use loadtest_model::floors::add_bytes;
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
    let (mut whole, mut generating, mut kernel) = (Vec::new(), Vec::new(), Vec::new());
    let started = Instant::now();
    // Two untimed rounds first, so buffers are mapped and caches warm, as in a running server.
    for round in 0..MAX_ITERATIONS + 2 {
        let before = thread_cpu()?;
        let task = Task::generated(kind, shapes);
        generate_encoded(Some(round as u64), &mut a, &mut b, task.encoding());
        let generated = thread_cpu()?;
        black_box(task.kernel.run(&a, &b, &mut out));
        black_box(&out);
        let after = thread_cpu()?;
        if round >= 2 {
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            whole.push(ms(after - before));
            generating.push(ms(generated - before));
            kernel.push(ms(after - generated));
        }
        if whole.len() >= MIN_ITERATIONS && started.elapsed() > BUDGET {
            break;
        }
    }
    Ok(WorkCost {
        work,
        n,
        cpu_ms: median(&whole).expect("at least MIN_ITERATIONS samples"),
        iterations: whole.len() as u32,
        generate_ms: median(&generating),
        kernel_ms: median(&kernel),
    })
}

/// Side of the matrices the bandwidth is measured on: three of 2048 x 2048 `i64`s are 96 MiB,
/// far beyond any cache here, so every byte the add reads or writes crosses to memory.
const BANDWIDTH_N: usize = 2048;
const BANDWIDTH_ROUNDS: u32 = 5;

/// One core's memory bandwidth, GB/s, as the lab's own add streams it: the bytes of two
/// matrices read and one written, over the fastest of `BANDWIDTH_ROUNDS` adds (CPU time:
/// a stall on memory is the thread's own time). The add of a request at side n cannot take
/// less than its 24 n² bytes over this, unless its matrices fit in a cache.
pub fn memory_bandwidth_gb_s() -> anyhow::Result<f64> {
    let kind = Work::new(WorkKind::Add, 0);
    let shapes = Shapes::square(kind, BANDWIDTH_N);
    let task = Task::generated(kind, shapes);
    let (mut a, mut b, mut out) = (
        vec![0i64; shapes.a_len()],
        vec![0i64; shapes.b_len()],
        vec![0i64; shapes.out_len()],
    );
    generate_encoded(Some(1), &mut a, &mut b, task.encoding());
    let mut fastest = Duration::MAX;
    for _ in 0..=BANDWIDTH_ROUNDS {
        let before = thread_cpu()?;
        black_box(task.kernel.run(&a, &b, &mut out));
        black_box(&out);
        fastest = fastest.min(thread_cpu()? - before);
    }
    Ok(add_bytes(BANDWIDTH_N as u32) as f64 / fastest.as_secs_f64() / 1e9)
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
            generate_ms: None,
            kernel_ms: None,
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
        // Generating costs the same for both; the product's kernel is the costlier by far.
        let (sum_kernel, product_kernel) = (large.kernel_ms.unwrap(), product.kernel_ms.unwrap());
        assert!(product_kernel > 10.0 * sum_kernel, "{product:?} {large:?}");
        for cost in [small, large, product] {
            let parts = cost.generate_ms.unwrap() + cost.kernel_ms.unwrap();
            assert!(parts > 0.5 * cost.cpu_ms && parts < 2.0 * cost.cpu_ms, "{cost:?}");
        }
    }

    #[test]
    fn one_core_streams_memory_at_a_plausible_rate() {
        // Between a slow laptop's 1 GB/s and ten times any server core's.
        let gb_s = memory_bandwidth_gb_s().unwrap();
        assert!((1.0..300.0).contains(&gb_s), "{gb_s} GB/s");
        assert_eq!(add_bytes(500), 6_000_000);
    }
}
