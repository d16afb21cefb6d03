//! The cost model the load-test report explains its results with: each piece of one request's
//! work, at n = 100, 500 and 2000.
//!
//! - `generate`: two n x n matrices of values in 0..100 (reused buffers, as the servers do);
//! - `add/one_thread`: the addition kernel on the calling thread;
//! - `add/scoped_threads/K`: the threads server's addition with K scoped threads;
//! - `add/forked_children/K`: the processes server's addition with K children forked by the
//!   calling thread (`--fork-from server`), pipes and reaping included;
//! - `add/fork_server_children/K`: the same with the children forked by a fork server (the
//!   processes server's default);
//! - `add/prefork_pool/K`: the pool's addition in K bands: jobs to 8 workers started once, the
//!   matrices already in shared memory, as the prefork server has them.
//!
//! Run with `cargo bench -p app_multiprocessing --bench kernels`; compare rows measured in the
//! same run (this machine is shared and noisy). Lives here because it needs both engines.

use std::hint::black_box;
use std::time::Duration;

use std::sync::Arc;

use app_multiprocessing::{
    ChildFault, ForkPerRequest, ForkServer, Pool, PoolConfig, PreforkPool, SlotPool, SlotWorkspace,
};
use app_threading::compute_scoped;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use matrix_service::matrix::{add_into, elements, generate_into, generate_pair};
use matrix_service::trace::Trace;
use matrix_service::{Engine, Operands, Shapes, Task, Work, Workspace};

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
    // Started first, while this process has one thread, as the server starts them: the fork
    // server (over its own shared memory) before the pool, whose supervisor is a thread.
    let largest = 3 * SIZES[SIZES.len() - 1].pow(2);
    let fork_server_slots = Arc::new(SlotPool::new(1, largest, 0).expect("shared memory"));
    let fork_server =
        ForkServer::start(fork_server_slots.memory_handle(), ChildFault::None).expect("the fork server starts first");
    let pool = Pool::start(PoolConfig {
        workers: WORKERS[WORKERS.len() - 1],
        slots: 1,
        slot_elements: largest,
        resident_elements: 0,
        resident_slots: 1,
        fault: ChildFault::None,
    })
    .expect("the pool starts before any other thread");
    let forked = |fork_server: Option<Arc<ForkServer>>, slots: &Arc<SlotPool>| ForkPerRequest {
        child_timeout: CHILD_TIMEOUT,
        fault: ChildFault::None,
        slots: Arc::clone(slots),
        fork_server,
    };
    let engines = [
        ("forked_children", forked(None, &fork_server_slots)),
        (
            "fork_server_children",
            forked(Some(Arc::new(fork_server)), &fork_server_slots),
        ),
    ];
    let prefork = PreforkPool::new(Arc::clone(&pool), CHILD_TIMEOUT);
    let mut group = c.benchmark_group("add");
    for n in SIZES {
        let (a, b) = generate_pair(n, Some(2));
        let (a, b) = (elements(&a), elements(&b));
        let task = Task::prepare(Work::Add, Shapes::sum(n, n), &mut a.to_vec(), &mut b.to_vec());
        let inputs = Operands::new(a, b, task);
        group.throughput(Throughput::Elements((n * n) as u64));
        let mut out = vec![0i64; n * n];
        group.bench_with_input(BenchmarkId::new("one_thread", n), &n, |bench, _| {
            bench.iter(|| black_box(add_into(a, b, &mut out)));
        });
        for workers in WORKERS {
            let id = format!("{n}/{workers}");
            group.bench_function(BenchmarkId::new("scoped_threads", &id), |bench| {
                bench.iter(|| compute_scoped(inputs, black_box(&mut out), workers, Trace::OFF).expect("no overflow"));
            });
            // Both process engines keep the matrices in shared memory, as the server does.
            for (name, engine) in &engines {
                let mut work = holding(&fork_server_slots, inputs);
                group.bench_function(BenchmarkId::new(*name, &id), |bench| {
                    bench.iter(|| {
                        black_box(
                            engine
                                .compute_now(&mut work, workers, task, Trace::OFF)
                                .expect("children add"),
                        )
                    });
                });
            }
            let mut work = holding(pool.slots(), inputs);
            group.bench_function(BenchmarkId::new("prefork_pool", &id), |bench| {
                bench.iter(|| {
                    black_box(
                        prefork
                            .compute_now(&mut work, workers, task, Trace::OFF)
                            .expect("the pool adds"),
                    )
                });
            });
        }
    }
    group.finish();
    pool.shutdown(Duration::from_secs(5));
}

/// A workspace of `slots` holding `inputs`, as a request's would after generation.
fn holding(slots: &Arc<SlotPool>, inputs: Operands<'_>) -> SlotWorkspace {
    let mut work = slots.workspace(inputs.task.shapes).expect("one request at a time");
    let (a, b) = work.inputs_mut();
    a.copy_from_slice(inputs.a);
    b.copy_from_slice(inputs.b);
    work
}

criterion_group! {
    name = kernels;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    targets = generate, add
}
criterion_main!(kernels);
