//! `attnproof bench exact`: the fast exact float32 causal kernel and an f32 GEMM of equal FLOP count,
//! timed side by side in one run, on one rayon pool of the requested size.
//!
//! FLOP convention: causal attention of n tokens costs **2·n²·d** FLOPs — the useful half of
//! S = QKᵀ (n²/2 dot products of length d, 2d FLOPs each: n²d) plus the useful half of PV (n²d) —
//! the work of exactly causal FlashAttention, not counting the masked parts of diagonal tiles the
//! kernel computes anyway, nor exponentials, max and sums. The comparison GEMM is one square
//! C = A·B with m = n = k = n_g, n_g = round((n²·d)^{1/3}), 2·n_g³ ≈ 2·n²·d FLOPs, through
//! `gemm::gemm` with `Parallelism::Rayon(T)`; its rate is computed from its own 2·n_g³.
//! Both times are the best of `reps` runs after one warm-up run (more runs for runs under ~0.1 s).
use crate::reference::fast_f32::{self, Tiling};
use crate::reference::{Head, Mask};
use crate::{Error, Result};
use rand_distr::{Distribution, StandardNormal};
use std::time::Instant;

/// Gaussian f32 data, entries N(0, σ²).
fn gaussian(seed: u64, stream: u64, len: usize, sigma: f64) -> Vec<f32> {
    let mut rng = crate::rng::stream(seed, stream);
    (0..len)
        .map(|_| {
            let z: f64 = StandardNormal.sample(&mut rng);
            (sigma * z) as f32
        })
        .collect()
}

/// Best time of `reps` runs after one warm-up run; short runs are repeated more (up to about 0.25 s
/// of runs in all, at most 1000) so that timer resolution and thread wake-ups do not dominate.
fn best_of(reps: usize, mut f: impl FnMut()) -> f64 {
    let t0 = Instant::now();
    f(); // warm-up
    let first = t0.elapsed().as_secs_f64().max(1e-7);
    let runs = reps.max(1).max(((0.25 / first).ceil() as usize).min(1000));
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// n_g = round((n²·d)^{1/3}): the square GEMM with 2·n_g³ ≈ 2·n²·d FLOPs.
pub fn equal_flop_gemm_size(n: usize, d: usize) -> usize {
    ((n as f64).powi(2) * d as f64).cbrt().round().max(1.0) as usize
}

/// Random GEMM operands A, B (n_g × n_g, row-major, N(0,1)).
pub fn gemm_inputs(ng: usize) -> [Vec<f32>; 2] {
    [gaussian(7, 1, ng * ng, 1.0), gaussian(7, 2, ng * ng, 1.0)]
}

/// C = A·B for square row-major n_g × n_g matrices through `gemm::gemm` with
/// `Parallelism::Rayon(threads)` (`None` for one thread).
pub fn gemm_square(ng: usize, a: &[f32], b: &[f32], c: &mut [f32], threads: usize) {
    assert!(a.len() == ng * ng && b.len() == ng * ng && c.len() == ng * ng, "gemm_square: shapes");
    let par = if threads <= 1 { gemm::Parallelism::None } else { gemm::Parallelism::Rayon(threads) };
    // SAFETY: all three buffers are ng×ng, row-major (checked above).
    unsafe {
        gemm::gemm(
            ng, ng, ng, c.as_mut_ptr(), 1, ng as isize, false, a.as_ptr(), 1, ng as isize, b.as_ptr(), 1, ng as isize,
            0.0f32, 1.0f32, false, false, false, par,
        )
    }
}

/// Time of one f32 GEMM C = A·B of size n_g³ with `threads` rayon threads (best of `reps`).
pub fn time_gemm(ng: usize, threads: usize, reps: usize) -> f64 {
    let [a, b] = gemm_inputs(ng);
    let mut c = vec![0f32; ng * ng];
    best_of(reps, || gemm_square(ng, &a, &b, &mut c, threads))
}

/// Random q, k, v (n × d each, row-major): q, k with entries N(0, 1/√d) (scores of order 1, as after
/// the usual 1/√d scaling), v with entries N(0, 1); seeded by n.
pub fn causal_inputs(n: usize, d: usize) -> [Vec<f32>; 3] {
    let s = (d as f64).powf(-0.25);
    [
        gaussian(11, n as u64 * 3, n * d, s),
        gaussian(11, n as u64 * 3 + 1, n * d, s),
        gaussian(11, n as u64 * 3 + 2, n * d, 1.0),
    ]
}

/// Time of the fast causal kernel on random n×d heads (best of `reps`), on the current pool.
pub fn time_causal(n: usize, d: usize, reps: usize) -> f64 {
    let [q, k, v] = causal_inputs(n, d);
    let h = Head { q: &q, k: &k, v: &v, nq: n, nk: n, d, dv: d };
    let mut out = vec![0f32; n * d];
    best_of(reps, || fast_f32::attention_f32_into(&h, Mask::Causal, Tiling::default(), &mut out))
}

/// Fast exact f32 causal attention vs a same-run f32 GEMM of equal FLOP count; one line per n.
pub fn exact_vs_gemm(n: &[usize], d: usize, threads: Option<usize>, reps: usize, mut print: impl FnMut(String)) -> Result<()> {
    if d == 0 {
        return Err(Error::invalid("--d", "head dimension must be ≥ 1"));
    }
    if let Some(&bad) = n.iter().find(|&&x| x == 0) {
        return Err(Error::invalid("--n", format!("sequence lengths must be ≥ 1, got {bad}")));
    }
    let t = threads.unwrap_or_else(|| std::thread::available_parallelism().map(|x| x.get()).unwrap_or(1)).max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(t)
        .build()
        .map_err(|e| Error::invalid("--threads", format!("cannot start {t} threads: {e}")))?;
    let feats = fast_f32::cpu_features();
    let isa = fast_f32::Isa::detect().name();
    let tiling = Tiling::default();
    print(format!(
        "bench exact: causal f32 kernel (block_q {}, tile_k {}, element-wise path {isa}; cpu: {feats}) vs gemm crate f32 GEMM, same run, {t} thread(s), best of ≥ {reps}",
        tiling.block_q, tiling.tile_k
    ));
    print("  flops: kernel 2·n²·d (causal QKᵀ + PV); GEMM square n_g³ with n_g = round((n²d)^⅓), 2·n_g³ flops".into());
    print(format!(
        "{:>7} {:>4} {:>3} {:>11} {:>13} {:>6} {:>11} {:>11} {:>7}  {}",
        "n", "d", "T", "kernel_s", "kernel_GF/s", "n_g", "gemm_s", "gemm_GF/s", "ratio", "cpu"
    ));
    for &nn in n {
        let ng = equal_flop_gemm_size(nn, d);
        let (tk, tg) = pool.install(|| (time_causal(nn, d, reps), time_gemm(ng, t, reps)));
        let fk = 2.0 * (nn as f64).powi(2) * d as f64 / tk / 1e9;
        let fg = 2.0 * (ng as f64).powi(3) / tg / 1e9;
        print(format!(
            "{nn:>7} {d:>4} {t:>3} {tk:>11.4e} {fk:>13.1} {ng:>6} {tg:>11.4e} {fg:>11.1} {:>6.1}%  {feats}",
            100.0 * fk / fg
        ));
    }
    Ok(())
}
