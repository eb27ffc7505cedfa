//! `prefix.problem`: strict-prefix row α = causal row α−1 of the problem shifted by one token, bit
//! for bit, for every shape.
use crate::common::*;
use attnproof::reference::{Head, Mask, attention_f64};
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]
    #[test]
    fn strict_prefix_is_shifted_causal(n in 2usize..40, d in 1usize..20, dv in 1usize..5, log_scale in -1.0f64..1.5, seed: u64) {
        let h = head(seed, n, d, dv, 10f64.powf(log_scale));
        let (q, k, v) = (widen(&h.q), widen(&h.k), widen(&h.v));
        let sp = attention_f64(&Head::new(&q, &k, &v, n, d, dv).unwrap(), Mask::StrictPrefix).out;
        let shifted = Head::new(&q[d..], &k[..(n - 1) * d], &v[..(n - 1) * dv], n - 1, d, dv).unwrap();
        let c = attention_f64(&shifted, Mask::Causal).out;
        prop_assert_eq!(sp.len(), (n - 1) * dv);
        prop_assert!(sp.iter().zip(&c).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
