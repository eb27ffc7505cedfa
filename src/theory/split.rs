//! Sign split and scale classes of note 001 (theorems `split.sign`, `split.scale_classes`).
//!
//! **Sign split.** v = v⁺ − v⁻ with v± = (|v| ± v)/2 = max(±v, 0) ≥ 0 (computed as `max`, which is
//! exact in binary floating point and cannot overflow, unlike |v| + v). For weights w_j ≥ 0 the
//! numerator N = Σw_j v_j = N⁺ − N⁻ with N± = Σ w_j v_j± ≥ 0. If each group sum is known to relative
//! accuracy ε, |N̂± − N±| ≤ ε N±, then
//! $$|\hat N − N| ≤ ε (N^+ + N^-) = ε \sum_j w_j |v_j|,$$
//! with equality when the two errors have opposite signs; and for the output o = N/Z with Z also to
//! relative ε: |N̂/Ẑ − N/Z| ≤ ε(Σw|v| + |N|)/((1−ε)Z) ≤ (2ε/(1−ε))·Σw|v|/Z.
//!
//! **Scale classes.** Terms ρ_j = e^{‖k_j‖²/2}·v_j^± > 0 of one sign are put in class
//! c_j = ⌊log_b ρ_j⌋ (computed in log domain: log ρ_j = ‖k_j‖²/2 + ln v_j^±, never forming e^{‖k‖²/2}).
//! Inside a class every ratio ρ_i/ρ_j lies in (1/b, b); the nonempty classes of one sign number at
//! most ⌊log_b(ρ_max/ρ_min)⌋ + 1; replacing every ρ of a class by the class's geometric midpoint
//! b^{c+1/2} changes each term, and hence the class sum of positive terms, by a relative factor in
//! [b^{−1/2}, b^{1/2}].

/// (v⁺, v⁻) with v = v⁺ − v⁻ exactly.
pub fn sign_split(v: f64) -> (f64, f64) {
    (v.max(0.0), (-v).max(0.0))
}

/// Bound on |N̂ − N| when both sign groups carry relative error ≤ ε: ε·Σ w_j |v_j|.
pub fn numerator_bound(eps: f64, sum_w_abs_v: f64) -> f64 {
    eps * sum_w_abs_v
}

/// Bound on |ô − o| when both groups and the normaliser carry relative error ≤ ε:
/// (2ε/(1−ε))·Σw|v|/Z.
pub fn output_bound(eps: f64, sum_w_abs_v: f64, z: f64) -> f64 {
    if eps >= 1.0 { f64::INFINITY } else { 2.0 * eps / (1.0 - eps) * sum_w_abs_v / z }
}

/// Class index ⌊log_b ρ⌋ from log ρ (natural log).
pub fn class_of(log_rho: f64, base: f64) -> i64 {
    (log_rho / base.ln()).floor() as i64
}

/// Upper bound on the number of nonempty classes for log-range `range` = ln(ρ_max/ρ_min).
pub fn class_count_bound(range: f64, base: f64) -> usize {
    (range / base.ln()).floor() as usize + 1
}

/// Relative error of replacing each ρ of a class by the class's geometric midpoint: √b − 1.
pub fn class_midpoint_rel_error(base: f64) -> f64 {
    base.sqrt() - 1.0
}
