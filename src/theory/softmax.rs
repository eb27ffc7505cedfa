//! Perturbation of softmax-weighted averages (used by `softmax.invariance`, `euclid.as_dot`,
//! `prefix.problem`, `rewrite.gaussian`).
//!
//! **Perturbed-weight lemma.** Let w_j > 0, o = Σw_j v_j / Σw_j, and w̃_j = w_j e^{θ_j} with
//! |θ_j| ≤ θ. Then for õ = Σw̃_j v_j / Σw̃_j:
//! $$|õ − o| ≤ \tfrac{e^{2θ} − 1}{2}\cdot\frac{\sum_j w_j |v_j − o|}{\sum_j w_j} ≤ \tfrac{e^{2θ} − 1}{2}\max_j |v_j − o|.$$
//! Proof: Σw_j(v_j − o) = 0, so õ − o = Σ(w̃_j − λw_j)(v_j − o)/Σw̃ for any λ; with
//! λ = cosh θ, |e^{θ_j} − λ| ≤ sinh θ, and Σw̃ ≥ e^{−θ}Σw, giving sinh θ·e^{θ} = (e^{2θ} − 1)/2.
//! Logits perturbed by η_j (|η_j| ≤ η) give exactly this with θ = η: a common shift of all logits
//! cancels and is not counted.

/// (e^{2θ} − 1)/2 · spread, where spread bounds max_j |v_j − o| (or its weighted mean).
pub fn perturbed_average_bound(theta: f64, spread: f64) -> f64 {
    (2.0 * theta).exp_m1() / 2.0 * spread
}

/// max_j |v_jc − o_c| over the keys `keys` for each component c, maximised over c.
pub fn spread(vals: &[f64], dv: usize, o: &[f64]) -> f64 {
    vals.chunks_exact(dv).flat_map(|v| v.iter().zip(o).map(|(a, b)| (a - b).abs())).fold(0.0, f64::max)
}

/// Error of the float64 reference ([`crate::reference::f64_exact`]) on one output row, relative to
/// exact arithmetic on the same inputs: the scores (compensated dot products) carry at most
/// γ_{3}·Σ|q_i k_ji| + O(d u²) ≤ γ_{d+1}·A with A = max_j Σ_i|q_i k_ji| (this bound is what is
/// used), each exp one more relative 2u (libm exp is within 1 ulp), and the compensated sums of the
/// numerator and normaliser a relative 2u + O(n u²) ≤ γ_{n+2}; the final division u.
pub fn reference_f64_row_bound(d: usize, n: usize, abs_score_max: f64, spread: f64, omax: f64) -> f64 {
    use super::fp::{U64, gamma};
    let theta = gamma(d + 1, U64) * abs_score_max + 2.0 * U64;
    perturbed_average_bound(theta, spread) + (2.0 * gamma(n + 2, U64) + U64) * (omax + spread)
}
