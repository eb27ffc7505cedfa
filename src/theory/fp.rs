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

/// max_j |x_j| of float32 values, in f64 (exact: widening is exact); 0 for an empty slice; NaNs
/// are ignored (as by `f64::max`). Over 16 independent lanes of plain comparisons, so it vectorises:
/// a maximum is one value whatever the order.
pub fn max_abs_f64(x: &[f32]) -> f64 {
    const L: usize = 16;
    let mut m = [0.0f32; L];
    let mut chunks = x.chunks_exact(L);
    for c in &mut chunks {
        for j in 0..L {
            let a = c[j].abs();
            m[j] = if a > m[j] { a } else { m[j] };
        }
    }
    let tail = chunks.remainder().iter().map(|y| y.abs());
    m.into_iter().chain(tail).fold(0.0f32, |a, b| if b > a { b } else { a }) as f64
}

/// Error bound of a dot product of length n computed in any order in precision u:
/// |fl(x·y) − x·y| ≤ γₙ Σ|xᵢ yᵢ| (Higham eq. 3.5).
pub fn dot_bound(n: usize, u: f64, abs_dot: f64) -> f64 {
    gamma(n, u) * abs_dot
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_lane_split_max_abs_is_the_plain_fold() {
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
