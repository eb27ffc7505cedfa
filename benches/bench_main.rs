//! Criterion benchmarks: the fast exact causal f32 kernel against an f32 GEMM of equal FLOP count.
//!
//! Groups `cpu_exact_causal_n{N}_d64` (n = 1024, 4096) time `attention_f32` under the causal mask;
//! groups `cpu_gemm_equal_flops_n{N}_d64` time one square GEMM with n_g = round((N²·64)^⅓) through the
//! `gemm` crate with `Parallelism::Rayon(T)`. Throughput is `Elements(flops)` with flops = 2·N²·64
//! for the kernel (causal convention of `attnproof bench exact`) and 2·n_g³ for the GEMM, so the
//! reported "elem/s" are FLOP/s. Both run on the global rayon pool (all cores unless
//! `RAYON_NUM_THREADS` says otherwise).
use attnproof::bench::{causal_inputs, equal_flop_gemm_size, gemm_inputs, gemm_square};
use attnproof::reference::fast_f32::{Tiling, attention_f32_into};
use attnproof::reference::{Head, Mask};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

const D: usize = 64;

fn exact_causal(c: &mut Criterion) {
    for n in [1024usize, 4096] {
        let [q, k, v] = causal_inputs(n, D);
        let h = Head { q: &q, k: &k, v: &v, nq: n, nk: n, d: D, dv: D };
        let mut out = vec![0f32; n * D];
        let mut g = c.benchmark_group(format!("cpu_exact_causal_n{n}_d{D}"));
        g.throughput(Throughput::Elements((2 * n * n * D) as u64));
        g.sample_size(20).measurement_time(Duration::from_secs(3));
        g.bench_function("attention_f32", |b| {
            b.iter(|| attention_f32_into(black_box(&h), Mask::Causal, Tiling::for_rows(n), black_box(&mut out)))
        });
        g.finish();
    }
}

fn gemm_equal_flops(c: &mut Criterion) {
    let threads = rayon::current_num_threads();
    for n in [1024usize, 4096] {
        let ng = equal_flop_gemm_size(n, D);
        let [a, b] = gemm_inputs(ng);
        let mut out = vec![0f32; ng * ng];
        let mut g = c.benchmark_group(format!("cpu_gemm_equal_flops_n{n}_d{D}"));
        g.throughput(Throughput::Elements((2 * ng * ng * ng) as u64));
        g.sample_size(20).measurement_time(Duration::from_secs(3));
        g.bench_function(format!("gemm_f32_square_{ng}"), |bch| {
            bch.iter(|| gemm_square(ng, black_box(&a), black_box(&b), black_box(&mut out), threads))
        });
        g.finish();
    }
}

criterion_group!(benches, exact_causal, gemm_equal_flops);
criterion_main!(benches);
