//! The matmul kernel on one thread, beside a reference: `cargo bench -p matrix_service --bench
//! matmul`. `band_f64` is the lab's kernel (exact for the seeded matrices, allocation-free so
//! forked children may run it); `ndarray_f64_dot` is ndarray's `f64` product (matrixmultiply's
//! `dgemm`, which allocates its packing buffers); `band_i128` is the exact fallback for values
//! too large for `f64`. numpy's and OpenBLAS's products on the same machine:
//! `scripts/matmul_reference.py`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use matrix_service::matmul::{band_f64, band_i128};
use matrix_service::matrix::{elements, generate_pair};

const SIZES: [usize; 3] = [100, 500, 1000];

fn matmul(c: &mut Criterion) {
    let mut group = c.benchmark_group("matmul");
    for n in SIZES {
        let (a, b) = generate_pair(n, Some(4));
        group.throughput(Throughput::Elements((2 * n * n * n) as u64)); // flops
        let (af, bf) = (a.mapv(|v| v as f64), b.mapv(|v| v as f64));
        let (a_flat, b_flat) = (elements(&a), elements(&b));
        let (af_flat, bf_flat): (Vec<f64>, Vec<f64>) = (af.iter().copied().collect(), bf.iter().copied().collect());
        let mut out = vec![0i64; n * n];
        group.bench_with_input(BenchmarkId::new("band_f64", n), &n, |bench, _| {
            bench.iter(|| band_f64(black_box(&af_flat), black_box(&bf_flat), (n, n), &mut out));
        });
        group.bench_with_input(BenchmarkId::new("ndarray_f64_dot", n), &n, |bench, _| {
            bench.iter(|| black_box(af.dot(black_box(&bf))));
        });
        if n <= 500 {
            group.bench_with_input(BenchmarkId::new("band_i128", n), &n, |bench, _| {
                bench.iter(|| band_i128(black_box(a_flat), black_box(b_flat), (n, n), &mut out).expect("fits"));
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    targets = matmul
}
criterion_main!(benches);
