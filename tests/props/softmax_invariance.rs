//! `softmax.invariance`: key translation leaves causal attention unchanged to the bound.
use crate::common::*;
use attnproof::reference::{Head, Mask, attention_f64};
use attnproof::theory::fp::{U64, gamma};
use attnproof::theory::softmax::{perturbed_average_bound, reference_f64_row_bound, spread};
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]
    #[test]
    fn translating_keys_leaves_causal_attention_unchanged(n in 1usize..30, d in 1usize..16, log_c in -3.0f64..1.5, seed: u64) {
        let h = head(seed, n + 1, d, 1, 3.0);
        let (q, k, v) = (widen(&h.q[..n * d]), widen(&h.k[..n * d]), widen(&h.v[..n]));
        let c: Vec<f64> = widen(&h.k[n * d..]).iter().map(|x| x * 10f64.powf(log_c)).collect();
        let k2: Vec<f64> = k.iter().enumerate().map(|(i, x)| x + c[i % d]).collect();
        let a = attention_f64(&Head::new(&q, &k, &v, n, d, 1).unwrap(), Mask::Causal).out;
        let b = attention_f64(&Head::new(&q, &k2, &v, n, d, 1).unwrap(), Mask::Causal).out;
        for i in 0..n {
            let qi = &q[i * d..(i + 1) * d];
            let abs = |kk: &[f64]| (0..=i).map(|j| qi.iter().zip(&kk[j * d..(j + 1) * d]).map(|(x, y)| (x * y).abs()).sum::<f64>()).fold(0.0, f64::max);
            let sp = spread(&v[..=i], 1, &a[i..=i]);
            let th = U64 * abs(&k2) + gamma(1, U64) * 0.0;
            let bound = perturbed_average_bound(th, sp) + reference_f64_row_bound(d, i + 1, abs(&k), sp, a[i].abs()) + reference_f64_row_bound(d, i + 1, abs(&k2), sp, a[i].abs());
            prop_assert!((a[i] - b[i]).abs() <= bound);
        }
    }
}
