//! Criterion benchmarks: the fast exact causal f32 kernel against an f32 GEMM of equal FLOP count,
//! and the certified solver against the exact kernel.
//!
//! Groups `cpu_exact_causal_n{N}_d64` (n = 1024, 4096) time `attention_f32` under the causal mask;
//! groups `cpu_gemm_equal_flops_n{N}_d64` time one square GEMM with n_g = round((N²·64)^⅓) through the
//! `gemm` crate with `Parallelism::Rayon(T)`. Throughput is `Elements(flops)` with flops = 2·N²·64
//! for the kernel (causal convention of `attnproof bench exact`) and 2·n_g³ for the GEMM, so the
//! reported "elem/s" are FLOP/s. Both run on the global rayon pool (all cores unless
//! `RAYON_NUM_THREADS` says otherwise).
//!
//! Groups `cpu_solver_{regime}_n{N}_d64` time, side by side in one group, the exact kernel
//! (`attention_f32`) and the certified solver (`solve`, tol = 1e-3·max|v|, causal) on the synthetic
//! heads of `attnproof bench solver --regime {regime}` (seed 1): clustered at n = 16384 (tree plan)
//! and bounded at n = 16384 (exact plan after the planner gives up: the price of noticing).
//! Group `cpu_solver_minilm_L0H0_n512_d32` does the same on the shipped real MiniLM head
//! (`tests/data/minilm_slice.safetensors`, layer 0 head 0; tol 1e-2·max|v|). The ratio of the two
//! medians of a group is the speedup; `attnproof bench solver` adds the certificate and true error.
//!
//! Groups `cpu_exact_plan_parts_{minilm_L0H0_n512_d32, gaussian_n4096_d64}` time the parts of the
//! solver's exact plan apart — the kernel, the input check (`Head::check`), the a-priori certificate
//! (`cheap_block_bounds`) — beside the whole solve, on the shipped MiniLM head (tol 1e-2·max|v|) and
//! on a Gaussian head of SmolLM2's size (`causal_inputs`, tol 1e-3·max|v|): solve − kernel is the
//! plan's overhead, the other two say where it goes.
//!
//! Group `cpu_screen_minilm_L0H0_n512_d32` times the exact kernel beside the minimal pass of a rank-8
//! and a rank-16 per-key screen (`attnproof::bench::screen`, ε = 5e-3) on the same shipped head, an
//! attention sink: the ratio of medians bounds from above what a certified per-key path could gain.
use attnproof::bench::{causal_inputs, equal_flop_gemm_size, gemm_inputs, gemm_square};
use attnproof::reference::fast_f32::{Tiling, attention_f32_into};
use attnproof::reference::{Head, Mask};
use attnproof::solver::{SolverOptions, solve};
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

/// The exact kernel and the solver on one head, in one group.
fn solver_pair(c: &mut Criterion, group: &str, h: &Head<'_, f32>, tol: f64) {
    let mut g = c.benchmark_group(group);
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("exact_attention_f32", |b| {
        b.iter(|| black_box(attnproof::reference::fast_f32::attention_f32(black_box(h), Mask::Causal)))
    });
    g.bench_function("solver", |b| {
        b.iter(|| black_box(solve(black_box(h), Mask::Causal, tol, &SolverOptions::default()).expect("solve")))
    });
    g.finish();
}

fn solver_vs_exact(c: &mut Criterion) {
    for (regime, n) in [("clustered", 16384usize), ("bounded", 16384)] {
        let spec = attnproof::bench::solver_regime(regime).expect("regime");
        let s = spec.generate(n, D, D, 1).expect("generate");
        let h = s.head().expect("head");
        let tol = 1e-3 * attnproof::theory::fp::max_abs_f64(&s.v);
        solver_pair(c, &format!("cpu_solver_{regime}_n{n}_d{D}"), &h, tol);
    }
    let r = shipped_l0h0();
    let h = Head::new(&r.q, &r.k, &r.v, r.n, r.d, r.dv()).expect("head");
    let tol = 1e-2 * attnproof::theory::fp::max_abs_f64(&r.v);
    solver_pair(c, &format!("cpu_solver_minilm_L0H0_n{}_d{}", r.n, r.d), &h, tol);
}

/// The exact plan's parts on one head, in one group (see the module doc).
fn exact_plan_parts_pair(c: &mut Criterion, group: &str, h: &Head<'_, f32>, tol: f64) {
    use attnproof::reference::fast_f32::{Tiling, attention_f32};
    let tiling = Tiling::for_rows(h.nq);
    let mut g = c.benchmark_group(group);
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    g.bench_function("exact_attention_f32", |b| b.iter(|| black_box(attention_f32(black_box(h), Mask::Causal))));
    g.bench_function("head_check", |b| b.iter(|| black_box(black_box(h).check())));
    g.bench_function("cheap_block_bounds", |b| {
        b.iter(|| black_box(attnproof::theory::rounding::cheap_block_bounds(black_box(h), Mask::Causal, tiling, tol)))
    });
    g.bench_function("solver", |b| {
        b.iter(|| black_box(solve(black_box(h), Mask::Causal, tol, &SolverOptions::default()).expect("solve")))
    });
    g.finish();
}

/// Layer 0 head 0 of the shipped MiniLM slice (`tests/data/minilm_slice.safetensors`).
fn shipped_l0h0() -> attnproof::data::RealHead {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/minilm_slice.safetensors");
    let heads = attnproof::data::load_heads(std::path::Path::new(path)).expect("shipped slice");
    heads.into_iter().find(|h| h.layer == 0 && h.head == 0).expect("layer 0 head 0")
}

fn exact_plan_parts(c: &mut Criterion) {
    let r = shipped_l0h0();
    let h = Head::new(&r.q, &r.k, &r.v, r.n, r.d, r.dv()).expect("head");
    let tol = 1e-2 * attnproof::theory::fp::max_abs_f64(&r.v);
    exact_plan_parts_pair(c, &format!("cpu_exact_plan_parts_minilm_L0H0_n{}_d{}", r.n, r.d), &h, tol);
    let n = 4096;
    let [q, k, v] = causal_inputs(n, D);
    let h = Head { q: &q, k: &k, v: &v, nq: n, nk: n, d: D, dv: D };
    let tol = 1e-3 * attnproof::theory::fp::max_abs_f64(&v);
    exact_plan_parts_pair(c, &format!("cpu_exact_plan_parts_gaussian_n{n}_d{D}"), &h, tol);
}

/// The exact kernel and the minimal pass of a rank-r per-key screen (`attnproof::bench::screen`) on
/// the shipped attention-sink head, in one group: exact / screen bounds what a certified per-key
/// path could gain there (it adds the kept keys, the output and the rounding margins).
fn screen_vs_exact(c: &mut Criterion) {
    let r = shipped_l0h0();
    let h = Head::new(&r.q, &r.k, &r.v, r.n, r.d, r.dv()).expect("head");
    let mut g = c.benchmark_group(format!("cpu_screen_minilm_L0H0_n{}_d{}", r.n, r.d));
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    g.bench_function("exact_attention_f32", |b| {
        b.iter(|| black_box(attnproof::reference::fast_f32::attention_f32(black_box(&h), Mask::Causal)))
    });
    for rank in [8usize, 16] {
        let cnt = attnproof::bench::screen::screen_pass(&h, rank, 5e-3, 12);
        eprintln!(
            "screen rank {rank}: {} of {} causal pairs survive ({:.4})",
            cnt.survivors,
            cnt.pairs,
            cnt.survivors as f64 / cnt.pairs as f64
        );
        g.bench_function(format!("screen_rank{rank}"), |b| {
            b.iter(|| black_box(attnproof::bench::screen::screen_pass(black_box(&h), rank, 5e-3, 12)))
        });
        // The pass's two halves, timed apart: the head's preparation and the per-row count.
        g.bench_function(format!("screen_rank{rank}_prepare"), |b| {
            b.iter(|| black_box(attnproof::bench::screen::screen_prepare(black_box(&h), rank, 12)))
        });
        let prep = attnproof::bench::screen::screen_prepare(&h, rank, 12);
        g.bench_function(format!("screen_rank{rank}_count"), |b| {
            b.iter(|| black_box(attnproof::bench::screen::screen_count(black_box(&h), &prep, 5e-3)))
        });
    }
    g.finish();
}

criterion_group!(benches, exact_causal, gemm_equal_flops, solver_vs_exact, exact_plan_parts, screen_vs_exact);
criterion_main!(benches);
