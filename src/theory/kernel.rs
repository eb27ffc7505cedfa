//! Kernelised attention: random-feature estimators of exp(x·y) and the rounding of linear attention
//! (serves `performer.unbiased`, `linear.recurrence`).
//!
//! **Moments of the Performer estimators** (Choromanski et al. 2021, Lemma 1–2; theory-anchors
//! §4a). With ω ~ N(0, I_d), z = x + y, Δ = x − y, Z = ‖z‖², D = ‖Δ‖², N = ‖x‖² + ‖y‖²,
//! SM = exp(x·y): one-sample estimators X₊ = exp(ω·z − N/2), X_trig = e^{N/2} cos(ω·Δ),
//! X_hyp = e^{−N/2} cosh(ω·z). Since E e^{aω·u} = e^{a²‖u‖²/2} and E cos(aω·u) = e^{−a²‖u‖²/2},
//! E X₊^p = e^{p²Z/2 − pN/2}; powers of cos / cosh expand as cos² = (1 + cos 2t)/2,
//! cos³ = (3cos t + cos 3t)/4, cos⁴ = (3 + 4cos 2t + cos 4t)/8 (same for cosh). Each X has mean SM
//! (Lemma 1) and variance Var₊ = SM² e^Z(1 − e^{−Z}), Var_trig = e^{N}(1 − e^{−D})²/2 =
//! e^{Z}SM^{−2}(1 − e^{−D})²/2, Var_hyp = ½(1 − e^{−Z})Var₊; the m-sample mean has MSE Var/m
//! (Lemma 2). The squared error e² of the m-sample mean has mean MSE and variance μ₄ − MSE², where
//! μ₄ = κ₄/m³ + 3(κ₂/m)² from the one-sample cumulants (κ_r of a mean of m i.i.d. copies is κ_r/m^{r−1}).
//!
//! **Linear attention rounding.** With non-negative features (φ(q), φ(k) ≥ 0) both the recurrent
//! form φ(q)ᵀ(Σ_j φ(k_j)v_jᵀ) / φ(q)ᵀΣ_jφ(k_j) and the quadratic form Σ_j a_j v_j / Σ_j a_j,
//! a_j = φ(q)·φ(k_j), evaluate numerator and denominator as sums of i·m products of 3 factors in
//! some order: each term carries (1 + θ_N), N = i + m + 1 (Higham Lemma 3.1). So
//! |num̂ − num| ≤ γ_N Σ_j a_j|v_j|, |dên − den| ≤ γ_N den and, with the final division,
//! |ô − o| ≤ γ_N (A + |o|)/(1 − γ_N) + u(|o| + γ_N(A + |o|)/(1 − γ_N)), A = Σ_j a_j|v_j| / Σ_j a_j.
//! The two forms differ by at most twice that ([`kernel_forms_bound`]).
use super::fp::gamma;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Est {
    Trig,
    Positive,
    Hyperbolic,
}

fn norms(x: &[f64], y: &[f64]) -> (f64, f64, f64, f64) {
    let z: f64 = x.iter().zip(y).map(|(a, b)| (a + b) * (a + b)).sum();
    let dd: f64 = x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum();
    let n: f64 = x.iter().chain(y).map(|a| a * a).sum();
    let xy: f64 = x.iter().zip(y).map(|(a, b)| a * b).sum();
    (z, dd, n, xy)
}

/// Raw moments E X^p, p = 1..4, of the one-sample estimator.
pub fn raw_moments(kind: Est, x: &[f64], y: &[f64]) -> [f64; 4] {
    let (z, dd, n, _) = norms(x, y);
    match kind {
        Est::Positive => [1.0, 2.0, 3.0, 4.0].map(|p: f64| (p * p * z / 2.0 - p * n / 2.0).exp()),
        Est::Trig | Est::Hyperbolic => {
            let (c, sign, u) = if kind == Est::Trig { ((n / 2.0).exp(), -1.0, dd) } else { ((-n / 2.0).exp(), 1.0, z) };
            let e = |a: f64| (sign * a * a * u / 2.0).exp();
            [
                c * e(1.0),
                c * c * (1.0 + e(2.0)) / 2.0,
                c.powi(3) * (3.0 * e(1.0) + e(3.0)) / 4.0,
                c.powi(4) * (3.0 + 4.0 * e(2.0) + e(4.0)) / 8.0,
            ]
        }
    }
}

/// Lemma 2's MSE of the m-sample estimator with the claimed leading factors
/// (`factor_pos` = 1, `factor_trig` = ½, `factor_hyp` = ½ in the paper).
pub fn lemma2_mse(
    kind: Est,
    x: &[f64],
    y: &[f64],
    m: usize,
    factor_pos: f64,
    factor_trig: f64,
    factor_hyp: f64,
) -> f64 {
    let (z, dd, _, xy) = norms(x, y);
    let sm = xy.exp();
    let pos = factor_pos / m as f64 * z.exp() * sm * sm * (-(-z).exp_m1());
    match kind {
        Est::Positive => pos,
        Est::Trig => factor_trig / m as f64 * z.exp() / (sm * sm) * (-dd).exp_m1().powi(2),
        Est::Hyperbolic => factor_hyp * (-(-z).exp_m1()) * pos,
    }
}

/// Variance of the squared error (ŝ − SM)² of the m-sample mean (module doc).
pub fn squared_error_variance(kind: Est, x: &[f64], y: &[f64], m: usize) -> f64 {
    let [m1, m2, m3, m4] = raw_moments(kind, x, y);
    let c2 = m2 - m1 * m1;
    let c4 = m4 - 4.0 * m3 * m1 + 6.0 * m2 * m1 * m1 - 3.0 * m1.powi(4);
    let k4 = c4 - 3.0 * c2 * c2;
    let mf = m as f64;
    let mu4 = k4 / mf.powi(3) + 3.0 * (c2 / mf).powi(2);
    mu4 - (c2 / mf).powi(2)
}

/// Theorem 2 (orthogonal features, m ≤ d): MSE_ort ≤ MSE₊ − 2(m−1)/(m(d+2))·(SM − e^{−N/2})².
pub fn orthogonal_mse_bound(x: &[f64], y: &[f64], m: usize, factor_pos: f64) -> f64 {
    let (_, _, n, xy) = norms(x, y);
    let d = x.len() as f64;
    let mf = m as f64;
    lemma2_mse(Est::Positive, x, y, m, factor_pos, 0.5, 0.5)
        - 2.0 * (mf - 1.0) / (mf * (d + 2.0)) * (xy.exp() - (-n / 2.0).exp()).powi(2)
}

/// Bound on |recurrent − quadratic| for one output entry (module doc): i keys, m features, unit
/// roundoff u, A = Σ a|v|/Σ a, o the entry.
pub fn kernel_forms_bound(keys: usize, m: usize, u: f64, a: f64, o: f64) -> f64 {
    let g = gamma(keys + m + 1, u);
    let one = g * (a + o.abs()) / (1.0 - g);
    2.0 * (one + u * (o.abs() + one))
}
