//! `euclid.as_dot`: Euclidean attention equals dot attention at τ/2 with bias −‖k‖²/τ, as outputs.
use crate::common::*;
use attnproof::reference::f64_exact::row_from_logits;
use attnproof::theory::fp::{U64, gamma};
use attnproof::theory::softmax::{perturbed_average_bound, spread};
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]
    #[test]
    fn euclidean_output_equals_biased_dot_output(n in 1usize..40, d in 1usize..40, log_tau in -1.0f64..1.0, log_scale in -1.0f64..1.3, seed: u64) {
        let h = head(seed, n, d, 2, 10f64.powf(log_scale));
        let (q, k, v) = (widen(&h.q[..d]), widen(&h.k), widen(&h.v));
        let tau = 10f64.powf(log_tau);
        let (mut le, mut ld, mut eta) = (vec![], vec![], 0.0f64);
        let qq: f64 = q.iter().map(|x| x * x).sum();
        for kj in k.chunks_exact(d) {
            let dd: f64 = q.iter().zip(kj).map(|(a, b)| (a - b) * (a - b)).sum();
            let kk: f64 = kj.iter().map(|x| x * x).sum();
            let qk: f64 = q.iter().zip(kj).map(|(a, b)| a * b).sum();
            let a: f64 = q.iter().zip(kj).map(|(a, b)| (a * b).abs()).sum();
            le.push(-dd / tau);
            ld.push((2.0 * qk - kk) / tau);
            eta = eta.max((gamma(d + 2, U64) * dd + gamma(d + 3, U64) * (qq + kk + 2.0 * a)) / tau);
        }
        let (mut oe, mut od) = (vec![0.0; 2], vec![0.0; 2]);
        row_from_logits(&le, &v, 2, &mut oe);
        row_from_logits(&ld, &v, 2, &mut od);
        let sp = spread(&v, 2, &od);
        let omax = od.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let bound = perturbed_average_bound(2.0 * eta + 8.0 * U64, sp) + 2.0 * (2.0 * gamma(n + 2, U64) + U64) * (omax + sp);
        for (a, b) in oe.iter().zip(&od) {
            prop_assert!((a - b).abs() <= bound, "{} vs {} bound {}", a, b, bound);
        }
    }
}
