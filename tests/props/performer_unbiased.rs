//! `performer.unbiased`: the closed-form moments are those of Lemma 1–2; the causal prefix-sum form
//! equals the quadratic form; a causal Performer does not look ahead.
use crate::common::*;
use attnproof::checks::linear_recurrence::forms_worst;
use attnproof::methods::check::leak;
use attnproof::methods::performer::Performer;
use attnproof::reference::{Head, Mask};
use attnproof::theory::fp::{U64, gamma};
use attnproof::theory::kernel::{Est, lemma2_mse, raw_moments};
use attnproof::verdict::Worst;
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]
    #[test]
    fn moments_match_lemma_1_and_2(d in 1usize..16, r in 0.05f64..1.2, seed: u64) {
        let h = head(seed, 2, d, 1, r);
        let (x, y) = (widen(&h.q[..d]), widen(&h.k[..d]));
        let sm = x.iter().zip(&y).map(|(a, b)| a * b).sum::<f64>().exp();
        for kind in [Est::Trig, Est::Positive, Est::Hyperbolic] {
            let [m1, m2, ..] = raw_moments(kind, &x, &y);
            // Unbiased: E X = SM (a product of ≤ 4 exponentials and sums of ≤ 3d terms).
            prop_assert!((m1 - sm).abs() <= gamma(3 * d + 8, U64) * 4.0 * sm, "{:?} {} vs {}", kind, m1, sm);
            let var = m2 - m1 * m1;
            let lemma = lemma2_mse(kind, &x, &y, 1, 1.0, 0.5, 0.5);
            prop_assert!((var - lemma).abs() <= gamma(3 * d + 16, U64) * 8.0 * (m2 + m1 * m1), "{:?} {} vs {}", kind, var, lemma);
        }
    }

    #[test]
    fn prefix_sum_form_equals_quadratic_form(n in 1usize..64, d in 1usize..16, m in 1usize..48, orth: bool, seed: u64) {
        let h = head(seed, n, d, d, 1.5);
        let hv = Head::new(&h.q, &h.k, &h.v, n, d, d).unwrap();
        let (fq, fk) = Performer { features: m, orthogonal: orth }.maps(&hv, seed).unwrap();
        let mut w = Worst::new("forms");
        forms_worst(&fq, &fk, &h.v, m, d, n, Mask::Causal, &mut w, "");
        let f = w.finish();
        prop_assert!(f.ok(), "{:?}", f);
    }

    #[test]
    fn causal_performer_does_not_look_ahead(n in 2usize..64, d in 1usize..12, seed: u64) {
        let h = head(seed, n, d, d, 1.0);
        let hv = Head::new(&h.q, &h.k, &h.v, n, d, d).unwrap();
        prop_assert_eq!(leak(&Performer { features: 16, orthogonal: true }, &hv, seed).unwrap(), 0.0);
    }
}
