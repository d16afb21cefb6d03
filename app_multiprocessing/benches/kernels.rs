//! The cost model the load-test report explains its results with: each piece of one request's
//! work, at n = 100, 500 and 2000.
//!
//! - `generate`: two n x n matrices of values in 0..100 (reused buffers, as the servers do);
//! - `add/one_thread`: the addition kernel on the calling thread;
//! - `add/scoped_threads/K`: the threads server's addition with K scoped threads;
//! - `add/forked_children/K`: the processes server's addition with K forked children, pipes and
//!   reaping included.
//!
//! Run with `cargo bench -p app_multiprocessing --bench kernels`; compare rows measured in the
//! same run (this machine is shared and noisy). Lives here because it needs both engines.

use std::hint::black_box;
use std::time::Duration;

use app_multiprocessing::{ChildFault, add_forked};
use app_threading::add_scoped;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use matrix_service::Operands;
use matrix_service::matrix::{add_into, generate_into, generate_pair};

const SIZES: [usize; 3] = [100, 500, 2000];
const WORKERS: [usize; 4] = [1, 2, 4, 8];
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);

fn generate(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    for n in SIZES {
        group.throughput(Throughput::Elements(2 * (n * n) as u64));
        let (mut a, mut b) = (vec![0; n * n], vec![0; n * n]);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |bench, _| {
            bench.iter(|| {
                generate_into(Some(1), &mut a, &mut b);
                black_box((&a, &b));
            });
        });
    }
    group.finish();
}

fn add(c: &mut Criterion) {
    let mut group = c.benchmark_group("add");
    for n in SIZES {
        let (a, b) = generate_pair(n, Some(2));
        group.throughput(Throughput::Elements((n * n) as u64));
        let inputs = Operands::of(&a, &b);
        let mut out = vec![0i64; n * n];
        group.bench_with_input(BenchmarkId::new("one_thread", n), &n, |bench, _| {
            bench.iter(|| black_box(add_into(inputs.a, inputs.b, &mut out)));
        });
        for workers in WORKERS {
            let id = format!("{n}/{workers}");
            group.bench_function(BenchmarkId::new("scoped_threads", &id), |bench| {
                bench.iter(|| add_scoped(inputs, black_box(&mut out), workers).expect("no overflow"));
            });
            group.bench_function(BenchmarkId::new("forked_children", &id), |bench| {
                bench.iter(|| {
                    add_forked(inputs, black_box(&mut out), workers, CHILD_TIMEOUT, ChildFault::None)
                        .expect("children add")
                });
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = kernels;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    targets = generate, add
}
criterion_main!(kernels);
