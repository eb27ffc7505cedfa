//! The one checker: any [`AttentionMethod`] against the float64 oracle
//! [`crate::reference::attention_f64`] on the same head and mask.
//!
//! Measured: output error (max abs, relative Frobenius ‖O − O*‖_F/‖O*‖_F, cosine of the flattened
//! outputs), attention-weight MSE over the requested rows (mean over rows × keys), KL(P ‖ W) (the
//! note-004 direction, +∞ where the method puts zero weight on a key the softmax does not) and
//! KL(W ‖ P) when the weights are distributions, the cost against the standard materialising
//! baseline, and — under the causal mask — the causal leak: the largest change of an output row
//! i < t when the keys and values of tokens j ≥ t are perturbed (0 exactly for a causal method).
use super::{AttentionMethod, Cost, Request};
use crate::Result;
use crate::reference::{Head, Mask, attention_f64, widen};
use rand_distr::{Distribution, StandardNormal};

#[derive(Debug, Clone)]
pub struct MethodReport {
    pub method: String,
    pub mask: Mask,
    pub n: usize,
    pub max_abs: f64,
    pub rel_frobenius: f64,
    pub cosine: f64,
    pub prob_mse: Option<f64>,
    pub kl_exact_method: Option<f64>,
    pub kl_method_exact: Option<f64>,
    /// Mean over the requested rows of the exact softmax mass on the method's support.
    pub mass_captured: Option<f64>,
    pub cost: Cost,
    pub baseline: Cost,
    pub supports_causal: bool,
    /// Under the causal mask: max |ΔO| over rows i < t after perturbing tokens ≥ t.
    pub causal_leak: Option<f64>,
}

/// Rows whose weights are compared: all rows up to 256, else 256 evenly spaced rows.
pub fn sample_rows(mask: Mask, nq: usize) -> Vec<usize> {
    let rows = mask.rows(nq);
    let n = rows.len();
    if n <= 256 {
        return rows.collect();
    }
    (0..256).map(|t| rows.start + t * n / 256).collect()
}

/// KL(p ‖ w) = Σ p ln(p/w) (+∞ when some w_j = 0 < p_j).
pub fn kl(p: &[f64], w: &[f64]) -> f64 {
    p.iter()
        .zip(w)
        .filter(|(a, _)| **a > 0.0)
        .map(|(a, b)| if *b > 0.0 { a * (a / b).ln() } else { f64::INFINITY })
        .sum::<f64>()
        .max(0.0)
}

/// Measure `method` against the f64 oracle on head `h` under `mask`.
pub fn check_against_exact(
    method: &dyn AttentionMethod,
    h: &Head<'_, f32>,
    mask: Mask,
    seed: u64,
) -> Result<MethodReport> {
    h.check()?;
    let rows = sample_rows(mask, h.nq);
    let got = method.forward(h, &Request::with_rows(mask, seed, &rows))?;
    let (q, k, v) = (widen(h.q), widen(h.k), widen(h.v));
    let hh = Head { q: &q, k: &k, v: &v, nq: h.nq, nk: h.nk, d: h.d, dv: h.dv };
    let exact = attention_f64(&hh, mask).out;
    let (mut max_abs, mut e2, mut x2, mut xy, mut y2) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    for (a, b) in got.out.iter().zip(&exact) {
        max_abs = max_abs.max((a - b).abs());
        e2 += (a - b) * (a - b);
        x2 += b * b;
        xy += a * b;
        y2 += a * a;
    }
    if got.out.iter().any(|x| !x.is_finite()) {
        max_abs = f64::INFINITY;
    }
    let (mut prob_mse, mut kl_em, mut kl_me, mut mass) = (None, None, None, None);
    if let Some(w) = &got.weights {
        let (mut se, mut cnt, mut k1, mut k2, mut ms) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (r, &i) in w.rows.iter().enumerate() {
            let p = super::exact::probs_row(h, mask, i);
            for (a, b) in p.iter().zip(&w.w[r]) {
                se += (a - b) * (a - b);
            }
            cnt += p.len() as f64;
            if w.distribution {
                k1 += kl(&p, &w.w[r]);
                k2 += kl(&w.w[r], &p);
            }
            ms += p.iter().zip(&w.w[r]).filter(|(_, b)| **b != 0.0).map(|(a, _)| a).sum::<f64>();
        }
        let nr = w.rows.len().max(1) as f64;
        prob_mse = Some(se / cnt.max(1.0));
        if w.distribution {
            kl_em = Some(k1 / nr);
            kl_me = Some(k2 / nr);
        }
        mass = Some(ms / nr);
    }
    let causal_leak = if mask == Mask::Causal && h.nk >= 2 { Some(leak(method, h, seed)?) } else { None };
    Ok(MethodReport {
        method: method.name(),
        mask,
        n: h.nq,
        max_abs,
        rel_frobenius: (e2 / x2).sqrt(),
        cosine: xy / (x2.sqrt() * y2.sqrt()),
        prob_mse,
        kl_exact_method: kl_em,
        kl_method_exact: kl_me,
        mass_captured: mass,
        cost: got.cost,
        baseline: super::exact::standard_cost(h, mask),
        supports_causal: method.supports_causal(),
        causal_leak,
    })
}

/// Perturb keys and values of tokens ≥ t = nk/2 by N(0, 1) noise (seeded) and return the largest
/// change of the causal outputs of rows < t.
pub fn leak(method: &dyn AttentionMethod, h: &Head<'_, f32>, seed: u64) -> Result<f64> {
    let t = h.nk / 2;
    let mut rng = crate::rng::stream(seed, 0x1EA4);
    let mut k2 = h.k.to_vec();
    let mut v2 = h.v.to_vec();
    for x in k2[t * h.d..].iter_mut().chain(v2[t * h.dv..].iter_mut()) {
        let z: f64 = StandardNormal.sample(&mut rng);
        *x += z as f32;
    }
    let h2 = Head { k: &k2, v: &v2, ..*h };
    let a = method.forward(h, &Request::new(Mask::Causal, seed))?.out;
    let b = method.forward(&h2, &Request::new(Mask::Causal, seed))?.out;
    let lim = t.min(h.nq) * h.dv;
    Ok(a[..lim].iter().zip(&b[..lim]).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max))
}

/// Rounding bound of one attention row computed in precision u with plain sums (Higham model):
/// the reference_f64_row_bound formula of [`crate::theory::softmax`] with u in place of u64.
pub fn row_bound(u: f64, d: usize, n: usize, abs_score_max: f64, spread: f64, omax: f64) -> f64 {
    use crate::theory::fp::gamma;
    let theta = gamma(d + 1, u) * abs_score_max + 2.0 * u;
    crate::theory::softmax::perturbed_average_bound(theta, spread) + (2.0 * gamma(n + 2, u) + u) * (omax + spread)
}

/// Bound on max |O − O*| for an implementation of the exact function in precision u (plus the f64
/// oracle's own error): max over rows of [`row_bound`] (u) + the same with u64.
pub fn exact_tolerance(h: &Head<'_, f32>, mask: Mask, u: f64) -> f64 {
    let (q, k, v) = (widen(h.q), widen(h.k), widen(h.v));
    let hh = Head { q: &q, k: &k, v: &v, nq: h.nq, nk: h.nk, d: h.d, dv: h.dv };
    let ex = attention_f64(&hh, mask);
    let mut worst = 0.0f64;
    for (r, i) in mask.rows(h.nq).enumerate() {
        let keys = mask.keys(i, h.nk);
        let o = &ex.out[r * h.dv..(r + 1) * h.dv];
        let a = keys
            .clone()
            .map(|j| hh.q_row(i).iter().zip(hh.k_row(j)).map(|(x, y)| (x * y).abs()).sum::<f64>())
            .fold(0.0, f64::max);
        let spread = crate::theory::softmax::spread(&v[keys.start * h.dv..keys.end * h.dv], h.dv, o);
        let omax = o.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let n = keys.len();
        worst = worst
            .max(row_bound(u, h.d, n, a, spread, omax) + row_bound(crate::theory::fp::U64, h.d, n, a, spread, omax));
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;
    use crate::data::synthetic::{self, SynthHead};
    use crate::theory::fp::{U32, U64};

    fn head(seed: u64, n: usize, d: usize, scale: f64) -> SynthHead {
        synthetic::gaussian(&mut crate::rng::seeded(seed), n, d, d, scale)
    }
    fn view(s: &SynthHead) -> Head<'_, f32> {
        s.head().unwrap()
    }
    fn run(m: &dyn AttentionMethod, s: &SynthHead, mask: Mask) -> MethodReport {
        check_against_exact(m, &view(s), mask, 7).unwrap()
    }

    #[test]
    fn exact_f64_is_the_oracle() {
        let s = head(1, 64, 8, 2.0);
        for mask in [Mask::Full, Mask::Causal] {
            let r = run(&exact::ExactF64, &s, mask);
            assert_eq!(r.max_abs, 0.0);
            assert_eq!(r.prob_mse, Some(0.0));
            assert_eq!(r.causal_leak.unwrap_or(0.0), 0.0);
        }
    }

    #[test]
    fn exact_f32_within_its_rounding_bound() {
        let s = head(2, 96, 16, 3.0);
        for mask in [Mask::Full, Mask::Causal] {
            let r = run(&exact::ExactF32, &s, mask);
            let tol = exact_tolerance(&view(&s), mask, U32);
            assert!(r.max_abs <= tol && r.max_abs > 0.0, "{} vs {tol}", r.max_abs);
            assert!(r.cost.peak_floats < r.baseline.peak_floats);
        }
    }

    #[test]
    fn performer_error_falls_with_features_and_is_causal() {
        let s = head(3, 128, 8, 1.0);
        let small = run(&performer::Performer { features: 8, orthogonal: false }, &s, Mask::Causal);
        let big = run(&performer::Performer { features: 512, orthogonal: true }, &s, Mask::Causal);
        assert!(big.rel_frobenius < small.rel_frobenius / 2.0, "{} vs {}", big.rel_frobenius, small.rel_frobenius);
        assert_eq!(big.causal_leak, Some(0.0));
        assert!(big.kl_exact_method.unwrap().is_finite());
    }

    #[test]
    fn linformer_is_not_causal_and_leaks() {
        let s = head(4, 128, 8, 1.0);
        let m = linformer::Linformer { k: 32 };
        assert!(!m.supports_causal());
        let r = run(&m, &s, Mask::Causal);
        assert!(r.causal_leak.unwrap() > 1e-3, "{:?}", r.causal_leak);
        assert!(r.kl_exact_method.is_none() && r.prob_mse.is_some());
    }

    #[test]
    fn longformer_error_is_the_mass_outside_the_window() {
        let s = head(5, 128, 8, 2.0);
        let all = run(&keyset::KeySet::Longformer { half_window: 128, global: 0 }, &s, Mask::Full);
        assert!(all.max_abs <= exact_tolerance(&view(&s), Mask::Full, U64));
        let r = run(&keyset::KeySet::Longformer { half_window: 8, global: 2 }, &s, Mask::Causal);
        let mass = r.mass_captured.unwrap();
        assert!(mass < 1.0 && r.max_abs > 0.0);
        // KL(W ‖ P) = −ln(mass) row by row; its mean is at least −ln(mean mass) by Jensen.
        assert!(r.kl_method_exact.unwrap() >= -mass.ln() - 1e-12);
        assert_eq!(r.kl_exact_method, Some(f64::INFINITY));
        assert_eq!(r.causal_leak, Some(0.0));
    }

    #[test]
    fn reformer_more_hashes_capture_more() {
        let s = head(6, 128, 8, 3.0);
        let one = run(&keyset::KeySet::Reformer { buckets: 8, hashes: 1 }, &s, Mask::Full);
        let many = run(&keyset::KeySet::Reformer { buckets: 8, hashes: 8 }, &s, Mask::Full);
        assert!(many.mass_captured.unwrap() > one.mass_captured.unwrap());
        assert_eq!(run(&keyset::KeySet::Reformer { buckets: 8, hashes: 2 }, &s, Mask::Causal).causal_leak, Some(0.0));
    }

    #[test]
    fn strided_and_fixed_patterns() {
        let s = head(7, 96, 8, 2.0);
        let full = run(&keyset::KeySet::Strided { stride: 1 }, &s, Mask::Causal);
        assert!(full.max_abs <= exact_tolerance(&view(&s), Mask::Causal, U64));
        let r = run(&keyset::KeySet::Fixed { block: 16, summary: 2 }, &s, Mask::Causal);
        assert!(r.mass_captured.unwrap() < 1.0 && r.causal_leak == Some(0.0));
    }

    #[test]
    fn oracle_top_k_mse_falls_with_k() {
        let s = head(8, 128, 8, 4.0);
        let a = run(&keyset::KeySet::TopK { k: 4 }, &s, Mask::Full);
        let b = run(&keyset::KeySet::TopK { k: 64 }, &s, Mask::Full);
        assert!(b.prob_mse.unwrap() < a.prob_mse.unwrap() && b.mass_captured.unwrap() > a.mass_captured.unwrap());
        let all = run(&keyset::KeySet::TopK { k: 128 }, &s, Mask::Full);
        assert!(all.max_abs <= exact_tolerance(&view(&s), Mask::Full, U64));
    }

    #[test]
    fn last_window_sees_ten_keys() {
        let s = head(9, 64, 8, 2.0);
        let h = view(&s);
        let rows = [0usize, 5, 40];
        let o = keyset::KeySet::LastWindow { w: 10 }.forward(&h, &Request::with_rows(Mask::Causal, 1, &rows)).unwrap();
        for (r, w) in o.weights.unwrap().w.iter().enumerate() {
            let supp: Vec<usize> = (0..64).filter(|&j| w[j] > 0.0).collect();
            assert_eq!(supp.len(), (rows[r] + 1).min(10));
            assert_eq!(*supp.last().unwrap(), rows[r]);
        }
        assert_eq!(run(&keyset::KeySet::LastWindow { w: 10 }, &s, Mask::Causal).causal_leak, Some(0.0));
    }

    #[test]
    fn sparsemax_has_exact_zeros_and_is_causal() {
        let s = head(10, 64, 8, 4.0);
        let h = view(&s);
        let rows: Vec<usize> = (0..64).collect();
        let o = sparsemax::Sparsemax.forward(&h, &Request::with_rows(Mask::Full, 1, &rows)).unwrap();
        let w = o.weights.unwrap();
        assert!(w.w.iter().any(|r| r.contains(&0.0)));
        for r in &w.w {
            assert!((r.iter().sum::<f64>() - 1.0).abs() <= crate::theory::fp::gamma(64, U64));
        }
        assert_eq!(run(&sparsemax::Sparsemax, &s, Mask::Causal).causal_leak, Some(0.0));
    }

    #[test]
    fn linear_attention_is_causal() {
        let s = head(11, 64, 8, 1.0);
        let r = run(&linear::LinearElu, &s, Mask::Causal);
        assert_eq!(r.causal_leak, Some(0.0));
        assert!(r.cosine > 0.0 && r.rel_frobenius.is_finite());
    }

    #[test]
    fn strict_prefix_is_a_one_line_error() {
        let s = head(12, 16, 4, 1.0);
        for m in zoo(16, 4).iter().skip(2) {
            let e = m.forward(&view(&s), &Request::new(Mask::StrictPrefix, 1)).unwrap_err().to_string();
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
