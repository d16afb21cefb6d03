//! What tracing costs a request when no trace runs: the whole request path (routing, parsing,
//! admission, the blocking pool, generation, the bands, serialising) of the threads server, in
//! process through actix's test service, for a small request, where a fixed cost would show
//! most.
//!
//! `scripts/bench_trace_off.sh` runs it twice, as built (tracing compiled in, no trace running)
//! and with `--cfg lab_trace_off` (the recording compiled out), and lets criterion compare the
//! two: `cargo bench -p app_threading --bench request_path` alone measures the first.

use std::hint::black_box;
use std::time::{Duration, Instant};

use actix_web::App;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use app_threading::Threads;
use app_threading::endpoint::SCOPED_THREADS;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use matrix_service::http::routes;
use matrix_service::testing::test_service;
use matrix_service::trace::{DEFAULT_MAX_EVENTS, Phase, Tracer};

/// (n, workers): the smallest request with one band, and one with four threads.
const REQUESTS: [(usize, usize); 2] = [(8, 1), (64, 4)];

fn request_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("request_path");
    group.measurement_time(Duration::from_secs(5));
    let system = actix_web::rt::System::new();
    let service = test_service(Threads::scoped(4), SCOPED_THREADS);
    let app = system.block_on(init_service(App::new().configure(routes(service))));
    for (n, workers) in REQUESTS {
        let uri = format!("/threading?n={n}&workers={workers}&seed=1");
        group.bench_with_input(
            BenchmarkId::new("get", format!("n{n}_w{workers}")),
            &uri,
            |bench, uri| {
                bench.iter_custom(|iterations| {
                    system.block_on(async {
                        let started = Instant::now();
                        for _ in 0..iterations {
                            let response = call_service(&app, TestRequest::get().uri(uri).to_request()).await;
                            assert!(response.status().is_success());
                            black_box(read_body(response).await);
                        }
                        started.elapsed()
                    })
                });
            },
        );
    }
    group.finish();
}

/// The checks themselves, with no trace running: what a request of 4 bands on scoped threads
/// asks of the tracer, or a little more (a request begun and ended, its handle made 7 times, 15
/// clock reads and 4 CPU-clock reads skipped, 9 events not recorded), with nothing else around
/// them. The whole path above is too noisy (a few % between runs of one build) to show a cost
/// this small; this bounds it.
fn checks_when_off(c: &mut Criterion) {
    let tracer = Tracer::new(DEFAULT_MAX_EVENTS);
    c.bench_function("trace_checks_when_off/request_of_4_bands", |bench| {
        bench.iter(|| {
            let tracer = black_box(&tracer);
            let id = tracer.begin();
            for _ in 0..6 {
                let trace = black_box(tracer.request(black_box(id)));
                black_box(trace.now());
            }
            let trace = tracer.request(id);
            for band in 0..4 {
                trace.band_here(band, black_box(trace.start()));
            }
            for phase in [Phase::Admission, Phase::BlockingPool] {
                trace.on_lane(phase, black_box(trace.now()));
            }
            for phase in [Phase::Generate, Phase::Compute, Phase::Join] {
                trace.here(phase, black_box(trace.start()));
            }
            tracer.end(id);
        });
    });
}

criterion_group!(benches, request_path, checks_when_off);
criterion_main!(benches);
