//! The standard rounding model (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed.,
//! §2.2 and Lemma 3.1): fl(a ∘ b) = (a ∘ b)(1 + δ), |δ| ≤ u, for ∘ ∈ {+, −, ×, ÷} and √, with
//! unit roundoff u = 2⁻²⁴ (f32) or 2⁻⁵³ (f64), barring underflow and overflow. A product of n
//! factors (1 + δᵢ)^{±1} is 1 + θₙ with |θₙ| ≤ γₙ = n u / (1 − n u) whenever n u < 1.

/// Unit roundoff of binary32.
pub const U32: f64 = 1.0 / 16_777_216.0; // 2^-24
/// Unit roundoff of binary64.
pub const U64: f64 = f64::EPSILON / 2.0; // 2^-53

/// γₙ = n u / (1 − n u); +∞ when n u ≥ 1 (the model gives no bound there).
pub fn gamma(n: usize, u: f64) -> f64 {
    let nu = n as f64 * u;
    if nu >= 1.0 { f64::INFINITY } else { nu / (1.0 - nu) }
}

/// Σ x_l² in f64 of f32 values over 8 independent lanes (it vectorises). The products are exact in
/// f64 (24-bit significands), so only the d − 1 additions round, in some order: relative error
/// ≤ γ_{d−1}, which a caller covers when it rounds the norm up (e.g.
/// [`crate::theory::solver::norm_up`]).
#[inline(always)]
pub fn sum_sq_f64(x: &[f32]) -> f64 {
    const L: usize = 8;
    let mut acc = [0.0f64; L];
    let mut chunks = x.chunks_exact(L);
    for c in &mut chunks {
        for j in 0..L {
            acc[j] += c[j] as f64 * c[j] as f64;
        }
    }
    for (j, &y) in chunks.remainder().iter().enumerate() {
        acc[j] += y as f64 * y as f64;
    }
    acc.iter().sum()
}

/// max over the rows of `x` (row length `d` ≥ 1) of [`sum_sq_f64`] (0 when there is no row): the
/// same value row by row, four rows at a time into four running maxima so that their reductions
/// (8 dependent adds each) overlap: `cheap_block_bounds` of a MiniLM head (512 × 32) 8.5 µs with
/// the plain fold, 7.35 µs so (2-core AVX-512 Xeon, session 14; the 8.5 µs from a throw-away timer,
/// the after-figure by `cargo bench --bench bench_main -- cpu_exact_plan_parts`).
#[inline(always)]
pub fn max_sum_sq_rows(x: &[f32], d: usize) -> f64 {
    let mx = |a: f64, b: f64| if b > a { b } else { a };
    let (mut m0, mut m1, mut m2, mut m3) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let mut quads = x.chunks_exact(4 * d);
    for q in &mut quads {
        let (a, b) = q.split_at(2 * d);
        m0 = mx(m0, sum_sq_f64(&a[..d]));
        m1 = mx(m1, sum_sq_f64(&a[d..]));
        m2 = mx(m2, sum_sq_f64(&b[..d]));
        m3 = mx(m3, sum_sq_f64(&b[d..]));
    }
    for r in quads.remainder().chunks_exact(d) {
        m0 = mx(m0, sum_sq_f64(r));
    }
    mx(mx(m0, m1), mx(m2, m3))
}

/// max_j |x_j| of float32 values, in f64 (exact: widening is exact); 0 for an empty slice; NaNs
/// are ignored (as by `f64::max`): the maximum of [`scan`].
pub fn max_abs_f64(x: &[f32]) -> f64 {
    scan_f32(x).1 as f64
}

/// (every value finite, max |x|) of a buffer in one pass: 32 independent lanes, each accumulating
/// Σ 0·x (NaN as soon as one x is ±∞ or NaN, else ±0) and max |x| (plain comparisons, exact), so
/// the loop vectorises without reassociating anything. 32 lanes keep 2–4 vector registers per
/// accumulator, enough independent chains to hide the add and compare latencies (49,152 f32 values,
/// best of 20,000, 2-core AVX-512 Xeon, session 14: 16 lanes 5.7 µs (AVX-512 body) / 7.9 µs (AVX2
/// body), 32 lanes 2.5 / 2.8 µs; f64: 13.1 / 15.0 → 4.6 / 7.6 µs — all from a throw-away timer, not
/// a committed benchmark; `cpu_exact_plan_parts/head_check` times the 32-lane scan of the solve).
#[inline(always)]
pub fn scan<T: Copy + num_traits::Float>(buf: &[T]) -> (bool, T) {
    const L: usize = 32;
    let (mut zero, mut max) = ([T::zero(); L], [T::zero(); L]);
    let mut chunks = buf.chunks_exact(L);
    for c in &mut chunks {
        for j in 0..L {
            zero[j] = zero[j] + T::zero() * c[j];
            let a = c[j].abs();
            max[j] = if a > max[j] { a } else { max[j] };
        }
    }
    for (j, &x) in chunks.remainder().iter().enumerate() {
        zero[j] = zero[j] + T::zero() * x;
        let a = x.abs();
        max[j] = if a > max[j] { a } else { max[j] };
    }
    let finite = zero.iter().all(|z| *z == T::zero());
    (finite, max.iter().fold(T::zero(), |m, &x| if x > m { x } else { m }))
}

/// The float types [`scan_parallel`] takes: [`scan`] compiled for the CPU's widest vectors
/// (`per_isa!`: the same result on every path, a conjunction and a maximum being exact in any
/// order). It is the input check of every solve ([`crate::reference::Head::check`]); on a MiniLM
/// head (3 × 512 × 32 values) it went 5.6 → 2.4 µs (`docs/performance.md`, session 14: the 5.6 µs
/// from a throw-away timer, the 2.4 µs by `cargo bench --bench bench_main -- cpu_exact_plan_parts`).
pub trait ScanFloat: Copy + num_traits::Float + Send + Sync {
    fn scan_isa(buf: &[Self]) -> (bool, Self);
}

#[inline(always)]
fn scan_f32_body(buf: &[f32]) -> (bool, f32) {
    scan(buf)
}

#[inline(always)]
fn scan_f64_body(buf: &[f64]) -> (bool, f64) {
    scan(buf)
}

per_isa! {
    fn scan_f32(buf: &[f32]) -> (bool, f32) = scan_f32_body;
}

per_isa! {
    fn scan_f64(buf: &[f64]) -> (bool, f64) = scan_f64_body;
}

impl ScanFloat for f32 {
    fn scan_isa(buf: &[f32]) -> (bool, f32) {
        scan_f32(buf)
    }
}

impl ScanFloat for f64 {
    fn scan_isa(buf: &[f64]) -> (bool, f64) {
        scan_f64(buf)
    }
}

/// [`scan`] over pieces of 2^16 values on the pool: the same result (a conjunction and a maximum,
/// both exact in any order), at the cores' memory bandwidth instead of one core's (a SmolLM2 head,
/// 3 × 4096 × 64 f32 values: pieces of 2^18, one per tensor and so one thread, 95–109 µs, now
/// 36–45 µs, both from a throw-away timer; `cpu_exact_plan_parts_gaussian_n4096_d64/head_check`
/// times the same scan on a head of that shape; see `docs/performance.md`, session 14).
pub fn scan_parallel<T: ScanFloat>(buf: &[T]) -> (bool, T) {
    use rayon::prelude::*;
    const PIECE: usize = 1 << 16;
    if buf.len() <= PIECE {
        return T::scan_isa(buf);
    }
    buf.par_chunks(PIECE)
        .map(T::scan_isa)
        .reduce(|| (true, T::zero()), |(f1, m1), (f2, m2)| (f1 & f2, if m2 > m1 { m2 } else { m1 }))
}

/// Error bound of a dot product of length n computed in any order in precision u:
/// |fl(x·y) − x·y| ≤ γₙ Σ|xᵢ yᵢ| (Higham eq. 3.5).
pub fn dot_bound(n: usize, u: f64, abs_dot: f64) -> f64 {
    gamma(n, u) * abs_dot
}

#[cfg(test)]
mod tests {
    #[test]
    fn dispatched_scans_and_row_norms_give_the_plain_values() {
        use super::{ScanFloat, max_sum_sq_rows, scan, sum_sq_f64};
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(11);
        for n in [0usize, 1, 7, 31, 32, 33, 64, 100, 1000] {
            let mut x: Vec<f32> = (0..n).map(|_| rng.random_range(-5.0f32..5.0)).collect();
            let y: Vec<f64> = x.iter().map(|&v| v as f64 * 1.5).collect();
            assert_eq!(f32::scan_isa(&x), scan(&x), "f32 n = {n}");
            assert_eq!(f64::scan_isa(&y), scan(&y), "f64 n = {n}");
            for d in [1usize, 3, 8, 32] {
                let rows = n / d;
                let plain = x[..rows * d].chunks_exact(d).map(sum_sq_f64).fold(0.0f64, f64::max);
                assert_eq!(max_sum_sq_rows(&x[..rows * d], d).to_bits(), plain.to_bits(), "n = {n}, d = {d}");
            }
            if n > 0 {
                x[n / 2] = f32::INFINITY;
                assert!(!f32::scan_isa(&x).0, "an infinity is found at n = {n}");
            }
        }
    }

    #[test]
    fn max_abs_f64_is_the_plain_fold() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 0.0, f32::MIN_POSITIVE / 8.0];
        for n in 0..100 {
            let mut x: Vec<f32> = (0..n).map(|_| rng.random_range(-3.0f32..3.0)).collect();
            if n > 0 && n % 3 == 0 {
                x[rng.random_range(0..n)] = specials[n % specials.len()];
            }
            let plain = x.iter().fold(0.0f64, |m, &y| m.max(y.abs() as f64));
            assert_eq!(super::max_abs_f64(&x).to_bits(), plain.to_bits(), "n = {n}: {x:?}");
        }
    }
}
