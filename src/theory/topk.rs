//! Top-K truncation of a softmax row (serves `topk.error`, `window.last10`, `mask.learned`).
//!
//! P = (p_1..p_n), S a kept set, m = Σ_S p_i, P̂ = P restricted to S and renormalised,
//! o = Σ p_i v_i, ô = Σ_S p̂_i v_i (theory-anchors §9, Tzachristas et al. 2025):
//! * KL(P̂ ‖ P) = Σ_S p̂_i log(p̂_i / p_i) = −log m (finite), KL(P ‖ P̂) = ∞ when m < 1;
//! * TV(P, P̂) = ½ Σ |p_i − p̂_i| = 1 − m;
//! * o − ô = (1 − m)(μ_tail − μ_head), μ_head = Σ_S p_i v_i / m, μ_tail = Σ_{S^c} p_i v_i / (1 − m),
//!   hence ‖o − ô‖ ≤ (1 − m) max_{i,j} ‖v_i − v_j‖.
//!
//! **Rounding model for the check (f64, u = 2⁻⁵³).** Both sides are evaluated from the same stored
//! p_i (so Σ p_i = Z may differ from 1 by rounding: the TV identity becomes ½(1 − m) + ½(Z − m), and
//! Z is measured). Every side is a sum of at most n terms each carrying at most 4 roundings, so by
//! Higham Lemma 3.1 each side is within γ_{n+4} of its exact value relative to the sum of absolute terms:
//! * TV: |TV_direct − (1 − m)| ≤ |Z − 1|/2 + γ_{n+4}·(Σ p_i + Σ_S p̂_i + 1) ≤ |Z − 1|/2 + 3γ_{n+4}·(1 + |Z − 1|);
//! * KL: each term p̂_i log(p̂_i/p_i) has p̂_i/p_i = (1/m)(1 + θ₂), so log(...) = −log m + θ' with
//!   |θ'| ≤ γ₂ + u|log m| (+ 1 ulp of libm log), and Σ_S p̂_i = 1 + θ_{K+1}: the bound is
//!   γ_{K+4}(|log m| + 3);
//! * output (per component): the identity side uses the tail mass summed directly, t = Σ_{S^c} p_i
//!   (fl(1 − m) would lose a tail below u), which differs from 1 − m by |Z − 1|: the bound is
//!   |Δ_direct − Δ_identity| ≤ 2γ_{n+4}(Σ p_i |v_i| + Σ_S p̂_i |v_i|) + (|Z − 1| + γ_n(1 + |Z − 1|))·Σ_S p̂_i |v_i|.

use crate::theory::fp::{U64, gamma};

/// Softmax of logits in f64 (stable).
pub fn probs(logits: &[f64]) -> Vec<f64> {
    crate::reference::f64_exact::log_softmax(logits).into_iter().map(f64::exp).collect()
}

/// Indices of the K largest probabilities, in decreasing order (ties to the lower index).
pub fn top_k(p: &[f64], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].partial_cmp(&p[a]).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(&b)));
    idx.truncate(k.min(p.len()));
    idx
}

/// Kept mass of the best K keys for K = 1..=kmax (sorted cumulative sums).
pub fn kept_mass_curve(p: &[f64], kmax: usize) -> Vec<f64> {
    let mut s: Vec<f64> = p.to_vec();
    s.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
    let mut acc = 0.0;
    (0..kmax)
        .map(|i| {
            if i < s.len() {
                acc += s[i];
            }
            acc
        })
        .collect()
}

/// Both sides of the three identities for one row and kept set, with their rounding bounds.
#[derive(Debug, Clone)]
pub struct Truncation {
    pub m: f64,
    pub kl_direct: f64,
    pub kl_identity: f64,
    pub kl_bound: f64,
    pub tv_direct: f64,
    pub tv_identity: f64,
    pub tv_bound: f64,
    /// max_c |(o − ô)_c − ((1−m)(μ_tail − μ_head))_c| and its bound (worst ratio component).
    pub out_err: f64,
    pub out_bound: f64,
    /// ‖o − ô‖₂ and (1 − m)·max_{i,j}‖v_i − v_j‖₂ (published bound).
    pub out_norm: f64,
    pub out_norm_bound: f64,
}

/// Evaluate both sides for probabilities `p` (length n), values `vals` (n × dv) and kept set `keep`.
/// `kl_coef` and `tv_coef` are the claimed coefficients: KL(P̂‖P) = kl_coef·log m, TV = tv_coef·(1 − m).
/// `diam` is max_{i,j} ‖v_i − v_j‖₂ over the row's keys (see [`diameter`]).
pub fn truncation(
    p: &[f64],
    vals: &[f64],
    dv: usize,
    keep: &[usize],
    kl_coef: f64,
    tv_coef: f64,
    diam: f64,
) -> Truncation {
    let n = p.len();
    let mut kept = vec![false; n];
    for &i in keep {
        kept[i] = true;
    }
    let m: f64 = keep.iter().map(|&i| p[i]).sum();
    let z: f64 = p.iter().sum();
    let kk = keep.len();
    // KL(P̂‖P) directly.
    let kl_direct: f64 = keep
        .iter()
        .map(|&i| {
            let ph = p[i] / m;
            if ph > 0.0 { ph * (ph / p[i]).ln() } else { 0.0 }
        })
        .sum();
    let kl_identity = kl_coef * m.ln();
    let kl_bound = gamma(kk + 4, U64) * (m.ln().abs() + 3.0);
    // TV directly.
    let tv_direct = 0.5 * (0..n).map(|i| if kept[i] { (p[i] - p[i] / m).abs() } else { p[i] }).sum::<f64>();
    let tv_identity = tv_coef * (1.0 - m);
    let tv_bound = (z - 1.0).abs() / 2.0 + (m - 1.0).max(0.0) + 3.0 * gamma(n + 4, U64) * (1.0 + (z - 1.0).abs());
    // Output difference.
    let mut out_err: f64 = 0.0;
    let mut out_bound = f64::INFINITY;
    let mut worst_ratio = -1.0;
    let mut max_bound: f64 = 0.0;
    let mut diff = vec![0.0; dv];
    // Tail mass summed directly (fl(1 − m) loses a tail below u·m, and with it μ_tail's contribution);
    // it equals 1 − m when Σ p_i = 1, and differs from it by |Z_exact − 1| ≤ |Z − 1| + γ_n Z otherwise.
    let tail: f64 = (0..n).filter(|&i| !kept[i]).map(|i| p[i]).sum();
    let dz = (z - 1.0).abs() + gamma(n, U64) * (1.0 + (z - 1.0).abs());
    for c in 0..dv {
        let (mut o, mut oh, mut a_s, mut a_t, mut absum) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for i in 0..n {
            let x = vals[i * dv + c];
            o += p[i] * x;
            absum += p[i] * x.abs();
            if kept[i] {
                oh += p[i] / m * x;
                absum += p[i] / m * x.abs();
                a_s += p[i] * x;
            } else {
                a_t += p[i] * x;
            }
        }
        let direct = o - oh;
        let mu_head = a_s / m;
        let mu_tail = if tail > 0.0 { a_t / tail } else { 0.0 };
        let ident = tail * (mu_tail - mu_head);
        diff[c] = direct;
        let e = (direct - ident).abs();
        let head_abs: f64 = keep.iter().map(|&i| p[i] / m * vals[i * dv + c].abs()).sum();
        let b = 2.0 * gamma(n + 4, U64) * absum + dz * head_abs;
        max_bound = max_bound.max(b);
        let r = if b > 0.0 {
            e / b
        } else if e == 0.0 {
            0.0
        } else {
            f64::INFINITY
        };
        if r > worst_ratio {
            worst_ratio = r;
            out_err = e;
            out_bound = b;
        }
    }
    let out_norm = diff.iter().map(|x| x * x).sum::<f64>().sqrt();
    let out_norm_bound = tail.max(0.0) * diam * (1.0 + 4.0 * gamma(dv + 4, U64)) + max_bound * (dv as f64).sqrt();
    Truncation {
        m,
        kl_direct,
        kl_identity,
        kl_bound,
        tv_direct,
        tv_identity,
        tv_bound,
        out_err,
        out_bound,
        out_norm,
        out_norm_bound,
    }
}

/// max_{i,j} ‖v_i − v_j‖₂ over the n rows of `vals` (n × dv).
pub fn diameter(vals: &[f64], dv: usize) -> f64 {
    let n = vals.len() / dv.max(1);
    let mut d2max: f64 = 0.0;
    for i in 0..n {
        for j in (i + 1)..n {
            let d2: f64 = (0..dv).map(|c| (vals[i * dv + c] - vals[j * dv + c]).powi(2)).sum();
            d2max = d2max.max(d2);
        }
    }
    d2max.sqrt()
}

/// Hard-mask statistics of keeping `keep` out of row probabilities `p` (length n):
/// kept mass m, KL(P̂‖P) = −log m, Σ_j (p_j − p̂_j)² (squared error summed over the row), and the
/// output difference ô − o per component written into `diff` (length dv).
pub fn hard_mask_row(p: &[f64], vals: &[f64], dv: usize, keep: &[usize], diff: &mut [f64]) -> (f64, f64) {
    let m: f64 = keep.iter().map(|&i| p[i]).sum();
    let mut sq: f64 = p.iter().map(|x| x * x).sum();
    for &i in keep {
        let ph = p[i] / m;
        sq += (p[i] - ph).powi(2) - p[i] * p[i];
    }
    for (c, dc) in diff.iter_mut().enumerate() {
        let o: f64 = (0..p.len()).map(|i| p[i] * vals[i * dv + c]).sum();
        let oh: f64 = keep.iter().map(|&i| p[i] / m * vals[i * dv + c]).sum();
        *dc = oh - o;
    }
    (m, sq.max(0.0))
}
