//! Error bounds of the certified causal solver (theorems `solver.certificate`, `solver.complexity`,
//! `solver.feasibility`); [`crate::solver`] calls exactly these functions.
//!
//! **Node estimate.** A node holds m keys k_j (j ∈ node, all inserted so far), a stored point z and a
//! radius r ≥ max_j ‖k_j − z‖. For a query q let a = q·z and δ_j = q·(k_j − z); Cauchy–Schwarz gives
//! δ_j ∈ [−Δ, Δ] with Δ = ‖q‖·r. Relative to a row reference ρ:
//! * zeroth order: Ẑ = m e^{a−ρ}, N̂_c = e^{a−ρ} S_c (S_c = Σ_j v_jc); since |e^{δ} − 1| ≤ e^{Δ} − 1,
//!   $$|Z − Ẑ| ≤ e^{a−ρ}\,m\,(e^{Δ} − 1),\qquad |N_c − N̂_c| ≤ e^{a−ρ}\,(e^{Δ} − 1)\,A_c,\quad A_c = Σ_j|v_{jc}|.$$
//! * first order (M = Σ_j (k_j − z) v_jᵀ, D = Σ_j (k_j − z)): Ẑ = e^{a−ρ}(m + q·D),
//!   N̂_c = e^{a−ρ}(S_c + (Mᵀq)_c); since |e^{δ} − 1 − δ| ≤ e^{Δ} − 1 − Δ on [−Δ, Δ] (convexity, and
//!   e^{−Δ} − 1 + Δ ≤ e^{Δ} − 1 − Δ),
//!   $$|Z − Ẑ| ≤ e^{a−ρ}\,m\,(e^{Δ} − 1 − Δ),\qquad |N_c − N̂_c| ≤ e^{a−ρ}\,(e^{Δ} − 1 − Δ)\,A_c.$$
//!
//! *Rounding of the first-order terms* (frontier nodes, [`crate::solver::batch`]): D̂ is the f64 sum
//! over the node's m keys of fl(k_jl − z_l) and q·D̂ an f64 dot product of length d; M̂ is a
//! **float32** sum over the m keys of fl₃₂(fl₃₂(fl(k_jl − z_l))·v_jc), and M̂ᵀq a float32 dot product
//! of length d (the f32 query row), multiplied by the weight in f64. With u₃₂ = 2⁻²⁴ and gradual
//! underflow (every f32 operation fl(x) = x(1 + δ) + η, |η| ≤ 2⁻¹⁵⁰), each computed first-order term
//! differs from the exact Σ_j δ_j (resp. Σ_j δ_j v_jc) by at most
//! γ₃₂(m + d + 4)·Σ_j Σ_l |q_l||k_jl − z_l|(|v_jc|) ≤ γ₃₂(m + d + 4)·Δ·m (resp. ·Δ·A_c), since
//! Σ_l |q_l||k_jl − z_l| ≤ ‖q‖‖k_j − z‖ ≤ Δ (Cauchy–Schwarz; the f64 parts' γ₆₄ are far smaller), plus
//! an absolute underflow term (d + m(2 + ‖q‖₁))·2⁻¹⁴⁹ ≤ (d + m(2 + √d‖q‖))·2⁻¹⁴⁹ per numerator
//! component ([`first_order_underflow`]: m products and one difference per key into M̂, d products
//! into M̂ᵀq, each η then multiplied by at most |q_l| resp. 1). [`first_order_rounding`] returns
//! γ₃₂(m + d + 4), added to the factor: f = e^{Δ} − 1 − Δ + γ₃₂(m + d + 4)Δ.
//! A first-order node's terms are bounded by Vmax·(1+2Δ)/(1−2Δ) times its Ẑ term (Δ ≤ ¼), a factor
//! applied to κ_Z and κ_N below ([`first_order_scale`]).
//!
//! **Float32 block products** (the tree path's *fast* mode, [`crate::solver::batch`], chosen when
//! their rounding is small against tol: [`f32_products_floor`]). The scores of a block of rows
//! against the frontier centres and the band keys come from float32 GEMMs of the f32 query rows
//! (exact inputs) with the centres rounded to f32 (|z_l − fl₃₂(z_l)| ≤ u₃₂|z_l|) resp. the f32 keys:
//! |ŝ − s| ≤ γ₃₂(d)·Σ_l|q_l||ẑ_l| + u₃₂‖q‖‖z‖ + d·2⁻¹⁴⁹ ≤ γ₃₂(d + 2)‖q‖K(1 + 2⁻²⁰) + d·2⁻¹⁴⁹
//! =: η₃₂ ([`score_error_f32`], K ≥ max‖k‖ ≥ ‖z‖/(1 + γ_m)), which replaces η in θ for the whole
//! row (walked terms, scored in f64, have a smaller error). The numerators N̂ = W·S_F + P·V_band are
//! float32 GEMMs of the weights rounded to f32 (u₃₂ relative, 2⁻¹⁵⁰ absolute), the node sums
//! rounded to f32 (the same) and the exact f32 values: each of the T summed products carries
//! (1 + δ)³ and the sum γ₃₂(T), so
//! |N̂_c − Σ_t w_t S_tc| ≤ γ₃₂(T + 3)·Σ_t w_t|S_tc| + 2⁻¹⁴⁹(n·V_max + 2T) with
//! Σ_t w_t|S_tc| ≤ V_max·Σ_t w_t m_t ≤ V_max·Ẑ·scale ([`numerator_rounding_f32`],
//! [`numerator_underflow_f32`]; Σ_t |S_tc| ≤ n·V_max since the node sums are over disjoint keys),
//! added to E_N,c.
//!
//! **Row certificate.** o = N/Z, ô = N̂/Ẑ: o − ô = [(N − N̂) + ô(Ẑ − Z)]/Z, so with |N_c − N̂_c| ≤ E_{N,c},
//! |Z − Ẑ| ≤ E_Z < Ẑ:
//! $$|o_c − ô_c| ≤ \frac{E_{N,c} + |ô_c|\,E_Z}{Ẑ − E_Z}.$$
//!
//! **Rounding model** (standard model, [`super::fp`]; every quantity in f64, u = 2⁻⁵³; libm `exp`
//! within 1 ulp, i.e. relative 2u; the solver's vectorised [`crate::solver::exp64::exp_neg_f64`]
//! within ε_e = 32u, derived in its module). Inputs are f32, so q_i k_ji is exact in f64 and a score computed
//! as a sum of d products carries |ŝ − s| ≤ γ_d Σ_i|q_i k_ji| ≤ γ_d ‖q‖‖k_j‖; a node score q·z (z in
//! f64) carries γ_{d+1}‖q‖‖z‖, ‖z‖ ≤ (1 + γ_{m+1}) max‖k‖. Both are ≤ η = 2γ_{d+4}·‖q‖·K with K an
//! upper bound of max_j ‖k_j‖ ([`score_error`]). A weight ŵ = fl(exp(fl(x̂ − ρ))), x̂ − ρ ∈ [−700, 0],
//! then satisfies ŵ/e^{x−ρ} ∈ [e^{−θ}, e^{θ}] with θ = η + 700u + 3u + ε_e ([`weight_theta`]: the
//! argument's rounding u·|x − ρ| ≤ 700u, the exponential's 2u (libm) or ε_e (vectorised), one u spare). Sums of T
//! terms add γ_T relative to the sum of absolute values; numerator terms one more u for the product
//! and γ_m for the node sums S_c (sums of ≤ m values), all bounded by Vmax·Ẑ
//! ([`rounding_terms`]). Terms below e^{−700} relative to ρ are not summed; their true size,
//! m e^{x̂−ρ+θ+Δ} (plus 2⁻¹⁰⁷⁴ per operation for subnormal arithmetic), is added to E_Z (and ×Vmax to
//! E_N). The bound expressions themselves are evaluated in f64 and multiplied by
//! (1 + 8γ_{T+dv+64}) ([`bound_slack`]), which covers their own relative rounding.

use super::fp::{U32, U64, gamma};

/// Node approximation factor: e^{Δ} − 1 (zeroth order) or e^{Δ} − 1 − Δ (first order), rounded up.
pub fn node_factor(delta: f64, first_order: bool) -> f64 {
    let f = if first_order {
        // e^Δ − 1 − Δ; for small Δ use the series bound Δ²/2·e^Δ (≥ the exact value) to avoid
        // cancellation.
        // (exp_m1 − Δ loses ≤ 2u·Δ/(Δ²/2) ≤ 40u relative for Δ ≥ 0.1).
        if delta < 0.1 { 0.5 * delta * delta * delta.exp() } else { delta.exp_m1() - delta }
    } else {
        delta.exp_m1()
    };
    f * (1.0 + 64.0 * U64)
}

/// The factor c = fl(‖q̂‖(1 + 4u)) with which Δ̂ = fl(c·r) ≥ ‖q‖·r for every node radius r (two
/// roundings, each ≥ (1 − u), against (1 + 4u); ‖q̂‖ is already rounded up by [`norm_up`]).
pub fn delta_scale(qnorm: f64) -> f64 {
    qnorm * (1.0 + 4.0 * U64)
}

/// γ₃₂(m + d + 4): relative (to Δ·m and Δ·A_c) rounding of a first-order node term over m keys in
/// dimension d (float32 moments M̂, module doc).
pub fn first_order_rounding(m: usize, d: usize) -> f64 {
    gamma(m + d + 4, U32)
}

/// The absolute underflow allowance of one first-order numerator term (before its weight):
/// (d + m(2 + √d·‖q‖))·2⁻¹⁴⁹, rounded up (module doc).
pub fn first_order_underflow(m: f64, d: usize, qnorm: f64) -> f64 {
    (d as f64 + m * (2.0 + (d as f64).sqrt() * qnorm)) * F32_TINY * (1.0 + 8.0 * U64)
}

/// (1 + 2Δ)/(1 − 2Δ), rounded up, for Δ < ½: the bound of a first-order node's summed terms relative
/// to its Ẑ term (∞ for Δ ≥ ½).
pub fn first_order_scale(delta: f64) -> f64 {
    if !(delta < 0.5) {
        return f64::INFINITY;
    }
    (1.0 + 2.0 * delta) / (1.0 - 2.0 * delta) * (1.0 + 4.0 * U64)
}

/// Absolute error bound η of any score (key or node centre) of a row: 2γ_{d+4}·‖q‖·K.
pub fn score_error(d: usize, qnorm: f64, kmax: f64) -> f64 {
    2.0 * gamma(d + 4, U64) * qnorm * kmax
}

/// η₃₂ = γ₃₂(d + 2)‖q‖K(1 + 2⁻²⁰) + d·2⁻¹⁴⁹: the error bound of a float32 block score (module doc).
pub fn score_error_f32(d: usize, qnorm: f64, kmax: f64) -> f64 {
    gamma(d + 2, U32) * qnorm * kmax * (1.0 + 1.0 / 1048576.0) + d as f64 * F32_TINY
}

/// γ₃₂(T + 3): relative rounding (to V_max·Ẑ·scale) of a float32 block numerator of T terms.
pub fn numerator_rounding_f32(terms: usize) -> f64 {
    gamma(terms + 3, U32)
}

/// 2⁻¹⁴⁹(n·V_max + 2T), rounded up: absolute underflow allowance of a float32 block numerator.
pub fn numerator_underflow_f32(n: usize, terms: usize, vmax: f64) -> f64 {
    (n as f64 * vmax + 2.0 * terms as f64) * F32_TINY * (1.0 + 8.0 * U64)
}

/// The relative rounding floor of the float32 block products for rows with ‖q‖ ≤ `qmax` and at most
/// `terms` summed products, in units of V_max: 4(e^{η₃₂} − 1) + γ₃₂(T + 3) (the output moves by
/// ≲ 2θ·2V_max for weights within e^{±θ}, plus the numerator's own rounding). The solver uses the
/// float32 products only when this is a small part of tol/V_max.
pub fn f32_products_floor(d: usize, qmax: f64, kmax: f64, terms: usize) -> f64 {
    4.0 * score_error_f32(d, qmax, kmax).exp_m1() + numerator_rounding_f32(terms)
}

/// 2⁻¹⁴⁹, the smallest positive f32.
const F32_TINY: f64 = 1.401_298_464_324_817e-45;

/// θ = η + 703u + ε_e: ŵ/e^{x−ρ} ∈ [e^{−θ}, e^{θ}] for exponents x − ρ ∈ [−700, 0], whether ŵ
/// comes from libm `exp` or from [`crate::solver::exp64::exp_neg_f64`] (ε_e =
/// [`crate::solver::exp64::EXP_NEG_F64_REL_ERR`]; ln(1 + ε) ≤ ε).
pub fn weight_theta(eta: f64) -> f64 {
    eta + 703.0 * U64 + crate::solver::exp64::EXP_NEG_F64_REL_ERR
}

/// (κ_Z, κ_N): E_Z,round = κ_Z·Ẑ and E_N,round = κ_N·Vmax·Ẑ for T summed terms, node sums over at
/// most `mmax` values: κ_Z = τ + 2γ_T, κ_N = τ + 3γ_{T+mmax+2}, τ = (e^θ − 1)e^θ.
pub fn rounding_terms(theta: f64, terms: usize, mmax: usize) -> (f64, f64) {
    let tau = theta.exp_m1() * theta.exp() * (1.0 + 8.0 * U64);
    (tau + 2.0 * gamma(terms + 1, U64), tau + 3.0 * gamma(terms + mmax + 2, U64))
}

/// Upward factor covering the rounding of evaluating the bound expressions themselves.
pub fn bound_slack(terms: usize, dv: usize) -> f64 {
    1.0 + 8.0 * gamma(terms + dv + 64, U64)
}

/// The certificate of one component: (E_N,c + |ô_c|·E_Z)/(Ẑ − E_Z) + u|ô_c| (the final division),
/// +∞ when E_Z ≥ Ẑ/2 (no certified lower bound of Z worth using).
pub fn component_bound(e_n: f64, o_abs: f64, e_z: f64, z_hat: f64) -> f64 {
    if !(e_z < 0.5 * z_hat) || !e_n.is_finite() {
        return f64::INFINITY;
    }
    let o = o_abs * (1.0 + 2.0 * U64);
    (e_n + o * e_z) / (z_hat - e_z) + U64 * o
}

/// A radius r̂ computed in f64 as √(Σ (k_i − z_i)²) over f64 values, rounded up so that the true
/// Euclidean distance is ≤ the result: relative γ_{d+3} on the square, u on the root, 1e-140
/// absolute for subnormal differences.
pub fn radius_up(r_computed: f64, d: usize) -> f64 {
    r_computed * (1.0 + gamma(d + 5, U64)) + 1e-140
}

/// A norm ‖x‖ computed in f64 from f64/f32 entries, rounded up to bound the true norm.
pub fn norm_up(n_computed: f64, d: usize) -> f64 {
    n_computed * (1.0 + gamma(d + 4, U64)) + 1e-140
}

/// The ball (Hoeffding) bound's slack for a block: the block's true log-mass against the ball upper
/// bound log(m) + q·c + ‖q‖·r, in nats (≥ 0): `ball_slack(log_mass, m, qc, qnorm, r)`.
/// (`solver.feasibility`; cf. `../shared/reference/solver-feasibility.md`.)
pub fn ball_slack(log_mass: f64, m: usize, qc: f64, qnorm: f64, r: f64) -> f64 {
    (m as f64).ln() + qc + qnorm * r - log_mass
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_bound_the_exponential_remainders() {
        for &dl in &[0.0, 1e-8, 1e-4, 1e-3, 0.01, 0.5, 3.0] {
            for t in 0..=20 {
                let x = -dl + 2.0 * dl * t as f64 / 20.0;
                assert!(x.exp_m1().abs() <= node_factor(dl, false) + 1e-300, "{dl} {x}");
                assert!((x.exp_m1() - x).abs() <= node_factor(dl, true) * (1.0 + 1e-12) + 1e-18, "{dl} {x}");
            }
        }
    }

    #[test]
    fn component_bound_refuses_when_z_is_not_certified() {
        assert!(component_bound(1.0, 1.0, 0.6, 1.0).is_infinite());
        assert!(component_bound(0.0, 0.0, 0.0, 1.0) == 0.0);
    }
}
