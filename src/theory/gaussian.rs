//! The Gaussian rewriting of note 001 (theorem `rewrite.gaussian`):
//! exp(kᵀq) = exp(−‖k−q‖²/2) · exp(‖k‖²/2) · exp(‖q‖²/2), in log domain
//! kᵀq = −‖k−q‖²/2 + ‖k‖²/2 + ‖q‖²/2, and the ranges where each factor leaves a float format.

/// Largest x with exp(x) finite in binary32: ln(f32::MAX) ≈ 88.7228.
pub fn ln_max_f32() -> f64 {
    (f32::MAX as f64).ln()
}
/// Largest x with exp(x) finite in binary64: ln(f64::MAX) ≈ 709.78.
pub fn ln_max_f64() -> f64 {
    f64::MAX.ln()
}
/// exp(x) rounds to zero in binary32 below ln(2⁻¹⁵⁰) ≈ −103.97 (half the least subnormal).
pub fn ln_underflow_f32() -> f64 {
    -150.0 * std::f64::consts::LN_2
}
/// exp(x) rounds to zero in binary64 below ln(2⁻¹⁰⁷⁵) ≈ −745.13.
pub fn ln_underflow_f64() -> f64 {
    -1075.0 * std::f64::consts::LN_2
}
/// exp(x) is subnormal (lost relative precision) in binary32 below ln(2⁻¹²⁶) ≈ −87.34.
pub fn ln_min_normal_f32() -> f64 {
    -126.0 * std::f64::consts::LN_2
}

/// Key norm above which exp(‖k‖²/2) overflows binary32: √(2 ln f32::MAX) ≈ 13.32.
pub fn overflow_norm_f32() -> f64 {
    (2.0 * ln_max_f32()).sqrt()
}
/// Key norm above which exp(‖k‖²/2) overflows binary64: √(2 ln f64::MAX) ≈ 37.68.
pub fn overflow_norm_f64() -> f64 {
    (2.0 * ln_max_f64()).sqrt()
}
/// Distance above which exp(−‖k−q‖²/2) underflows to zero in binary32: √(2·103.97) ≈ 14.42.
pub fn underflow_dist_f32() -> f64 {
    (-2.0 * ln_underflow_f32()).sqrt()
}
/// Distance above which exp(−‖k−q‖²/2) underflows to zero in binary64: ≈ 38.60.
pub fn underflow_dist_f64() -> f64 {
    (-2.0 * ln_underflow_f64()).sqrt()
}

/// The three log-factors (−‖k−q‖²/2, ‖k‖²/2, ‖q‖²/2), computed in f64.
pub fn log_factors(q: &[f64], k: &[f64]) -> (f64, f64, f64) {
    let dist = super::dist::sqdist_direct(q, k);
    let kk: f64 = k.iter().map(|x| x * x).sum();
    let qq: f64 = q.iter().map(|x| x * x).sum();
    (-dist / 2.0, kk / 2.0, qq / 2.0)
}
