//! The Cole–Hopf / eikonal link of note 001 (theorem `eikonal.gradient`).
//!
//! u_h(x) = −h log Σ_j exp(−‖x − k_j‖²/(2h)). With p(x) = softmax_j(−‖x − k_j‖²/(2h)):
//! * ∇u_h(x) = x − Σ_j p_j(x) k_j (x minus the RBF-softmax attention of x over the keys);
//! * ψ(x) − h ln n ≤ u_h(x) ≤ ψ(x), ψ(x) = min_j ‖x − k_j‖²/2 (the sum has n terms, the largest is
//!   e^{−ψ/h});
//! * as h → 0, ∇u_h(x) → x − k_{j*(x)} (nearest key) away from Voronoi boundaries, and φ = √(2ψ) is
//!   the distance to the nearest key, which solves |∇φ| = 1 a.e.
//! * Hessian: ∇²u_h = I − Cov_p(k)/h, so a directional third derivative is −κ₃(e·k)/h² with κ₃ the
//!   third central moment of e·k_J under p; |κ₃| ≤ (max_j e·k_j − min_j e·k_j)³ (=: w³).
//!   Central differences with step δ then err by at most δ²w³/(6h²) plus rounding 2ε_u/(2δ).

/// u_h(x), computed stably (max subtraction, compensated sum).
pub fn u_h(x: &[f64], keys: &[f64], h: f64) -> f64 {
    let d = x.len();
    let a: Vec<f64> = keys.chunks_exact(d).map(|k| -crate::theory::dist::sqdist_direct(x, k) / (2.0 * h)).collect();
    let m = a.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    -h * (m + crate::reference::sum::sum(a.iter().map(|v| (v - m).exp())).ln())
}

/// ∇u_h(x) = x − Σ p_j k_j.
pub fn grad_u_h(x: &[f64], keys: &[f64], h: f64) -> Vec<f64> {
    let d = x.len();
    let a: Vec<f64> = keys.chunks_exact(d).map(|k| -crate::theory::dist::sqdist_direct(x, k) / (2.0 * h)).collect();
    let m = a.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = a.iter().map(|v| (v - m).exp()).collect();
    let z: f64 = crate::reference::sum::sum(w.iter().copied());
    let mut g = x.to_vec();
    for (k, wj) in keys.chunks_exact(d).zip(&w) {
        for (gi, ki) in g.iter_mut().zip(k) {
            *gi -= wj / z * ki;
        }
    }
    g
}

/// ψ(x) = min_j ‖x − k_j‖²/2.
pub fn psi(x: &[f64], keys: &[f64]) -> f64 {
    keys.chunks_exact(x.len()).map(|k| crate::theory::dist::sqdist_direct(x, k) / 2.0).fold(f64::INFINITY, f64::min)
}
