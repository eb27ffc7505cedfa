//! Johnson–Lindenstrauss random projections with explicit constants (theorem `jl.distances`, and the
//! JL-projected attention of `speed.crossover`, `retrieval.passkey`).
//!
//! Dasgupta–Gupta 2003 Thm 2.1: for 0 < ε < 1 and k ≥ 4 ln n / (ε²/2 − ε³/3), a random projection
//! preserves every pairwise squared distance of n points within (1 ± ε), with probability ≥ 1/n for
//! one draw. Per pair (Lemma 2.2, also the χ²_k Chernoff tail of a Gaussian projection):
//! P[‖f(u)−f(v)‖² ≤ (1−ε)‖u−v‖²] ≤ exp((k/2)(1 − β + ln β)), β = 1 − ε, and likewise β = 1 + ε for the
//! upper tail; with k from the formula each tail is ≤ 1/n², so a pair fails w.p. ≤ 2/n².
//! Projections: Gaussian R (k×d) with N(0, 1/k) entries; sign (Achlioptas) ±1/√k.
//! scikit-learn's `johnson_lindenstrauss_min_dim` truncates the formula to an integer ([`min_dim_sklearn`]).
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

/// The real-valued Dasgupta–Gupta bound 4 ln n / (ε²/2 − ε³/3), with the leading coefficient `coef`.
pub fn min_dim_real(n: usize, eps: f64, coef: f64) -> f64 {
    coef * (n as f64).ln() / (eps * eps / 2.0 - eps.powi(3) / 3.0)
}

/// scikit-learn / linfa: the bound truncated to an integer.
pub fn min_dim_sklearn(n: usize, eps: f64, coef: f64) -> u64 {
    min_dim_real(n, eps, coef) as u64
}

/// The smallest integer k satisfying the theorem's hypothesis k ≥ bound.
pub fn min_dim(n: usize, eps: f64, coef: f64) -> usize {
    min_dim_real(n, eps, coef).ceil().max(1.0) as usize
}

/// Per-pair tail bound exp((k/2)(1 − β + ln β)) for β = 1 − ε (lower) and β = 1 + ε (upper).
pub fn pair_tails(k: usize, eps: f64) -> (f64, f64) {
    let t = |b: f64| ((k as f64 / 2.0) * (1.0 - b + b.ln())).exp();
    (t(1.0 - eps), t(1.0 + eps))
}

/// Projection kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gaussian,
    Sign,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Gaussian => "gaussian",
            Kind::Sign => "sign",
        }
    }
}

/// A k×d projection matrix, row-major.
pub fn projection(kind: Kind, k: usize, d: usize, rng: &mut impl rand::Rng) -> Vec<f64> {
    let s = 1.0 / (k as f64).sqrt();
    (0..k * d)
        .map(|_| match kind {
            Kind::Gaussian => {
                let z: f64 = StandardNormal.sample(rng);
                z * s
            }
            Kind::Sign => {
                if rng.random_bool(0.5) {
                    s
                } else {
                    -s
                }
            }
        })
        .collect()
}

/// Rows of x (n×d) projected by r (k×d): n×k.
pub fn project(x: &[f64], d: usize, r: &[f64], k: usize) -> Vec<f64> {
    let n = x.len() / d;
    let mut out = vec![0.0; n * k];
    for i in 0..n {
        let xi = &x[i * d..(i + 1) * d];
        for t in 0..k {
            out[i * k + t] = r[t * d..(t + 1) * d].iter().zip(xi).map(|(a, b)| a * b).sum();
        }
    }
    out
}

/// Ranks (average ranks for ties), 1-based.
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for t in i..=j {
            r[idx[t]] = avg;
        }
        i = j + 1;
    }
    r
}

/// Spearman rank correlation (Pearson correlation of the ranks).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}

/// JL-projected attention in float32: q and k projected to m dimensions by `r` (m×d, f32), then exact
/// dot attention of the projected head by [`crate::reference::fast_f32::attention_f32`] (full mask).
/// Cost n²(m + dv) instead of n²(d + dv): a constant factor, never an asymptotic gain.
pub fn projected_attention_f32(h: &crate::reference::Head<'_, f32>, r: &[f32], m: usize) -> crate::Result<Vec<f32>> {
    let proj = |x: &[f32], rows: usize| -> Vec<f32> {
        let mut out = vec![0f32; rows * m];
        for i in 0..rows {
            let xi = &x[i * h.d..(i + 1) * h.d];
            for t in 0..m {
                out[i * m + t] = r[t * h.d..(t + 1) * h.d].iter().zip(xi).map(|(a, b)| a * b).sum();
            }
        }
        out
    };
    let (pq, pk) = (proj(h.q, h.nq), proj(h.k, h.nk));
    let ph = crate::reference::Head { q: &pq, k: &pk, v: h.v, nq: h.nq, nk: h.nk, d: m, dv: h.dv };
    ph.check()?;
    Ok(crate::reference::fast_f32::attention_f32(&ph, crate::reference::Mask::Full))
}
