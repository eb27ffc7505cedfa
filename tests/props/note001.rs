//! Properties of the note-001 theorems: `split.sign`, `split.scale_classes`, `merge.centroid`,
//! `merge.drift`, `taylor.slow`, `eikonal.gradient` — each from the library's bound functions.
use crate::common::cfg;
use attnproof::theory::fp::{U64, gamma};
use attnproof::theory::{eikonal, merge, split, taylor};
use proptest::prelude::*;

fn vecf(len: std::ops::Range<usize>, lo: f64, hi: f64) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(lo..hi, len)
}

proptest! {
    #![proptest_config(cfg())]

    /// split.sign: relative errors ±ε on the sign groups move Σwv by at most ε·Σw|v|.
    #[test]
    fn split_sign_numerator_bound(v in vecf(1..40, -1e3, 1e3), eps in 1e-12f64..0.5, sp in any::<bool>(), sm in any::<bool>()) {
        let w: Vec<f64> = v.iter().enumerate().map(|(i, _)| 1.0 / (1.0 + i as f64)).collect();
        let (mut np, mut nm, mut swav) = (0.0, 0.0, 0.0);
        for (wj, vj) in w.iter().zip(&v) {
            let (p, m) = split::sign_split(*vj);
            prop_assert_eq!(p - m, *vj);
            np += wj * p; nm += wj * m; swav += wj * vj.abs();
        }
        let e = |s: bool| if s { eps } else { -eps };
        let nh = np * (1.0 + e(sp)) - nm * (1.0 + e(sm));
        prop_assert!((nh - (np - nm)).abs() <= split::numerator_bound(eps, swav) + 4.0 * gamma(v.len() + 2, U64) * swav);
    }

    /// split.scale_classes: class count ≤ ⌊log_b range⌋ + 2.
    #[test]
    fn scale_class_count(l in vecf(1..200, -300.0, 300.0), base in 1.1f64..16.0) {
        let mut cls: Vec<i64> = l.iter().map(|x| split::class_of(*x, base)).collect();
        cls.sort(); cls.dedup();
        let range = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max) - l.iter().cloned().fold(f64::INFINITY, f64::min);
        prop_assert!(cls.len() <= split::class_count_bound(range, base) + 1);
    }

    /// merge.centroid: 0 ≤ log R ≤ ((x−y)·q)²/8 for two keys, any positive weights.
    #[test]
    fn merge_two_keys(x in vecf(4..5, -5.0, 5.0), y in vecf(4..5, -5.0, 5.0), q in vecf(4..5, -3.0, 3.0), a in 1e-3f64..1e3, b in 1e-3f64..1e3) {
        let keys = [x.clone(), y.clone()].concat();
        let lr = merge::log_merge_ratio(&q, &keys, &[a, b]);
        let delta: f64 = x.iter().zip(&y).zip(&q).map(|((xi, yi), qi)| (xi - yi) * qi).sum();
        let abs: f64 = keys.chunks_exact(4).map(|k| k.iter().zip(&q).map(|(p, r)| (p * r).abs()).sum::<f64>()).fold(0.0, f64::max);
        let tol = 2.0 * gamma(6, U64) * abs + gamma(5, U64);
        prop_assert!(lr >= -tol);
        prop_assert!(lr - tol <= merge::hoeffding_bound(delta.abs()));
    }

    /// merge.drift: ‖z‖ ≤ max‖k‖.
    #[test]
    fn merge_drift_norm(keys in vecf(8..64, -10.0, 10.0), wseed in 0u64..1000) {
        let d = 4;
        let m = keys.len() / d;
        let keys = &keys[..m * d];
        let w: Vec<f64> = (0..m).map(|i| 1.0 + ((wseed + i as u64) % 7) as f64).collect();
        let z = merge::centroid(keys, &w, d);
        let n = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
        let kmax = keys.chunks_exact(d).map(n).fold(0.0, f64::max);
        prop_assert!(n(&z) <= kmax * (1.0 + gamma(m + d + 2, U64)));
    }

    /// taylor.slow: t − 2 ≤ N(t, ε) ≤ max(e²t, ln 1/ε).
    #[test]
    fn taylor_degree_bounds(t in 0.01f64..150.0, log_eps in -14.0f64..-0.5) {
        let eps = 10f64.powf(log_eps);
        let n = taylor::degree_needed(t, eps) as f64;
        prop_assert!(n >= taylor::degree_lower_bound(t));
        prop_assert!(n <= taylor::degree_upper_bound(t, eps));
    }

    /// eikonal.gradient: ψ − h ln n ≤ u_h ≤ ψ.
    #[test]
    fn eikonal_sandwich(keys in vecf(3..60, -4.0, 4.0), x in vecf(3..4, -4.0, 4.0), h in 0.01f64..10.0) {
        let d = 3;
        let m = keys.len() / d;
        let keys = &keys[..m * d];
        let (u, p) = (eikonal::u_h(&x, keys, h), eikonal::psi(&x, keys));
        let tol = gamma(d + 3, U64) * 100.0 + h * gamma(m + 3, U64) * (2.0 + (m as f64).ln() + 100.0 / h);
        prop_assert!(u <= p + tol);
        prop_assert!(p - u <= h * (m as f64).ln() + tol);
    }
}
