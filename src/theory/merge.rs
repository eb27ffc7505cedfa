//! Merging keys into their ρ-weighted centroid (theorems `merge.centroid`, `merge.drift`).
//!
//! Keys k_j with weights ρ_j > 0 (p_j = ρ_j/Σρ), centroid z = Σ p_j k_j, query q. The merge ratio is
//! $$R(q) = \frac{\sum_j ρ_j e^{k_j\cdot q}}{(\sum_j ρ_j)\, e^{z\cdot q}} = E_p\big[e^{X − EX}\big],\quad X = q\cdot k_J.$$
//! * Jensen: log R ≥ 0 (the merged term never over-estimates the partition function).
//! * Hoeffding's lemma (X ∈ [a, b]): log R ≤ (b − a)²/8; for two keys (b − a) = |(x − y)·q|, for a
//!   group inside a ball of diameter D, b − a ≤ ‖q‖·D.
//! * Bennett (variance form, X − EX ≤ c, Var X = σ²): log R ≤ (σ²/c²)(e^{c} − 1 − c) — sharper when
//!   the weights concentrate; → σ²/2 as c → 0, the exact second-order term.
//! * Second-order optimality: for any other merge point z′, log R_{z′}(q) = q·(z − z′) + log R_z(q),
//!   so z is the only point whose error has no first-order term in q: log R_z(q) = σ²(q)/2 + O(‖q‖³).
//! * R ≤ 1 + ε is guaranteed when (b − a)² ≤ 8 ln(1 + ε); for two keys, |(x − y)·q| ≤ √(8 ln(1+ε)), in
//!   particular when ‖q‖·‖x − y‖ ≤ √(8 ln(1+ε)).
//! * Drift: ‖z‖ ≤ Σ p_j ‖k_j‖ ≤ max_j ‖k_j‖ (triangle inequality), with equality only if every key
//!   with p_j > 0 is the same vector; repeated merging without renormalising therefore never moves a
//!   centroid away from the origin beyond the largest key norm, and averages of keys in spread-out
//!   directions shrink (‖mean of m i.i.d. isotropic unit vectors‖² has expectation 1/m).

/// log R(q) computed stably: log Σ p_j e^{q·(k_j − z)}.
pub fn log_merge_ratio(q: &[f64], keys: &[f64], weights: &[f64]) -> f64 {
    let d = q.len();
    let z = centroid(keys, weights, d);
    let xs: Vec<f64> =
        keys.chunks_exact(d).map(|k| k.iter().zip(&z).zip(q).map(|((a, b), c)| (a - b) * c).sum()).collect();
    let w: f64 = weights.iter().sum();
    let m = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    m + crate::reference::sum::sum(xs.iter().zip(weights).map(|(x, r)| r / w * (x - m).exp())).ln()
}

/// ρ-weighted centroid.
pub fn centroid(keys: &[f64], weights: &[f64], d: usize) -> Vec<f64> {
    let w: f64 = weights.iter().sum();
    let mut z = vec![0.0; d];
    for (k, r) in keys.chunks_exact(d).zip(weights) {
        for (zi, ki) in z.iter_mut().zip(k) {
            *zi += r / w * ki;
        }
    }
    z
}

/// Hoeffding bound (b − a)²/8 from the range of X = q·k_j.
pub fn hoeffding_bound(range: f64) -> f64 {
    range * range / 8.0
}

/// Ball bound (‖q‖·D)²/8 for keys inside a set of diameter D.
pub fn ball_bound(q_norm: f64, diameter: f64) -> f64 {
    hoeffding_bound(q_norm * diameter)
}

/// Bennett bound (σ²/c²)(e^c − 1 − c), c = max_j X_j − EX ≥ 0, σ² = Var X (σ²/2 when c = 0).
pub fn bennett_bound(var: f64, c: f64) -> f64 {
    if c <= 1e-300 { var / 2.0 } else { var / (c * c) * (c.exp_m1() - c) }
}

/// The largest |(x − y)·q| (or range of q·k over a group) for which R ≤ 1 + ε is guaranteed.
pub fn max_range_for(eps: f64) -> f64 {
    (8.0 * eps.ln_1p()).sqrt()
}

/// (range, variance, c) of X = q·k_j under weights p: the inputs of the three bounds.
pub fn score_stats(q: &[f64], keys: &[f64], weights: &[f64]) -> (f64, f64, f64) {
    let d = q.len();
    let w: f64 = weights.iter().sum();
    let xs: Vec<f64> = keys.chunks_exact(d).map(|k| k.iter().zip(q).map(|(a, b)| a * b).sum()).collect();
    let mean: f64 = xs.iter().zip(weights).map(|(x, r)| r / w * x).sum();
    let var: f64 = xs.iter().zip(weights).map(|(x, r)| r / w * (x - mean).powi(2)).sum();
    let hi = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lo = xs.iter().cloned().fold(f64::INFINITY, f64::min);
    (hi - lo, var, (hi - mean).max(0.0))
}
