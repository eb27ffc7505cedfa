//! Rounding model of the GPU attention kernels (per output element), following the derivation of
//! [`crate::theory::rounding`] for the CPU kernel with the GPU's operation accuracies:
//!
//! * WGSL (spec §"Floating Point Accuracy"): `exp(x)` within 3 + 2|x| ULP, `x / y` within 2.5 ULP,
//!   +, −, × correctly rounded (or fused into an FMA, which only removes roundings); one ULP of a
//!   result r is ≤ 2u|r| with u = 2⁻²⁴. CUDA with `-fmad=false -prec-div=true` and `expf`
//!   (max 2 ULP): a special case with smaller constants; we use the WGSL ones for both.
//! * The kernel keeps a running max m, rescales (l, acc) by e^{m_old − m_new} whenever the max grows
//!   (at most N − 1 times), and adds w_j = e^{s_j − m} sequentially: every key's weight carries its
//!   score error e_s ≤ γ_d A, the rounding of the exponent argument (≤ u R, R the score range), its
//!   exp error E_j ≤ (3 + 2R)·2u, and at most N rescale factors of the same accuracy; each sum has at
//!   most N sequential additions and N rescale multiplications: γ_{2N}.
//!
//! With θ = γ_d A + 2uR, E = (3 + 2R)·2u, K = 2N + 1 and the perturbed-weight lemma of
//! [`crate::theory::rounding`] (weights within a factor [L, U] of a common multiple of the exact ones),
//! U/L = e^{2θ}((1+E)/(1−E))^{N}·(1+γ_K)/(1−γ_K), ρ = (U/L − 1)/2:
//!
//!   |ô_c − o_c| ≤ ρ·Δ_c + μ·M_c,  μ = (1 + 5u)(1+γ_K)/(1−γ_K) − 1,
//!
//! Δ_c = max_j v_jc − min_j v_jc, M_c = max_j |v_jc| over the row's keys. Underflow: the kernel
//! flushes nothing itself; e^{x} for x below −87 may be flushed by the device (FTZ), dropping weights
//! below e^{−87} ≤ 2·10⁻³⁸ relative to the max weight 1: at most N·2·10⁻³⁸·Δ_c, added.
use crate::theory::fp::{U32, gamma};

/// Per-element bound for one row: d, N keys, A ≥ max_j Σ|q k_j|, R ≥ score range, Δ_c, M_c.
pub fn row_bound(d: usize, n_keys: usize, abs_dot: f64, range: f64, delta_c: f64, m_c: f64) -> f64 {
    let u = U32;
    let k = 2 * n_keys + 1;
    let gk = gamma(k, u);
    if !gk.is_finite() || gk >= 1.0 {
        return f64::INFINITY;
    }
    let theta = gamma(d, u) * abs_dot + 2.0 * u * range;
    let e = (3.0 + 2.0 * range) * 2.0 * u;
    if e >= 1.0 {
        return f64::INFINITY;
    }
    let ul = (2.0 * theta).exp() * ((1.0 + e) / (1.0 - e)).powi(n_keys as i32) * (1.0 + gk) / (1.0 - gk);
    let rho = (ul - 1.0) / 2.0;
    let mu = (1.0 + 5.0 * u) * (1.0 + gk) / (1.0 - gk) - 1.0;
    rho * delta_c + mu * m_c + n_keys as f64 * 2e-38 * delta_c
}

/// Bounds for every element of a head's output (causal or full), from the inputs alone.
pub fn head_bounds(h: &crate::reference::Head<'_, f32>, causal: bool) -> Vec<f64> {
    let (d, dv) = (h.d, h.dv);
    let mut out = Vec::with_capacity(h.nq * dv);
    for i in 0..h.nq {
        let end = if causal { (i + 1).min(h.nk) } else { h.nk };
        let q = h.q_row(i);
        let (mut smax, mut smin, mut amax) = (f64::NEG_INFINITY, f64::INFINITY, 0.0f64);
        for j in 0..end {
            let (mut s, mut a) = (0.0f64, 0.0f64);
            for (x, y) in q.iter().zip(h.k_row(j)) {
                let p = *x as f64 * *y as f64;
                s += p;
                a += p.abs();
            }
            smax = smax.max(s);
            smin = smin.min(s);
            amax = amax.max(a);
        }
        // Exact-arithmetic range enlarged by the f64 evaluation error of these sums.
        let range = (smax - smin) + 2.0 * gamma(d, f64::EPSILON / 2.0) * amax;
        for c in 0..dv {
            let (mut hi, mut lo) = (f64::NEG_INFINITY, f64::INFINITY);
            for j in 0..end {
                let x = h.v_row(j)[c] as f64;
                hi = hi.max(x);
                lo = lo.min(x);
            }
            out.push(row_bound(d, end, amax * (1.0 + 1e-15), range, hi - lo, hi.abs().max(lo.abs())));
        }
    }
    out
}

/// Grid size for a one-row-per-thread kernel with `block` rows per workgroup/block.
pub fn launch_blocks(n: usize, block: usize) -> u32 {
    n.div_ceil(block.max(1)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_configuration() {
        assert_eq!(launch_blocks(1, 64), 1);
        assert_eq!(launch_blocks(64, 64), 1);
        assert_eq!(launch_blocks(65, 64), 2);
        assert_eq!(launch_blocks(0, 64), 0);
    }

    #[test]
    fn bound_grows_with_range_and_keys_and_is_finite_in_range() {
        let b1 = row_bound(64, 100, 10.0, 5.0, 2.0, 1.0);
        let b2 = row_bound(64, 100, 10.0, 20.0, 2.0, 1.0);
        let b3 = row_bound(64, 10_000, 10.0, 20.0, 2.0, 1.0);
        assert!(b1 < b2 && b2 < b3 && b3.is_finite());
        assert!(b1 < 1e-3);
    }
}
