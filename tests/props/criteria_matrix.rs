//! `criteria.matrix`: the analytic backward of softmax on any key set and of sparsemax equals the
//! complex-step derivative to 2γ_N times the absolute gradient.
use crate::common::*;
use attnproof::methods::grad::*;
use attnproof::reference::{Head, Mask};
use attnproof::theory::fp::{U64, gamma};
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]
    #[test]
    fn analytic_backward_equals_complex_step(n in 1usize..9, d in 1usize..5, dv in 1usize..4, half in 0usize..4, sparse: bool, causal: bool, log_scale in -1.0f64..1.0, seed: u64) {
        let h = head(seed, n, d, dv, 10f64.powf(log_scale));
        let hv = Head::new(&h.q, &h.k, &h.v, n, d, dv).unwrap();
        let mask = if causal { Mask::Causal } else { Mask::Full };
        let g: Vec<f64> = widen(&head(seed ^ 1, n, dv, 1, 1.0).q);
        let keys = |i: usize| mask.keys(i, n).filter(|j| i.abs_diff(*j) <= half).collect::<Vec<_>>();
        let an = if sparse { sparsemax_backward(&hv, mask, &g, &keys) } else { softmax_backward(&hv, mask, &g, &keys) }.unwrap();
        let cs = complex_step(&hv, mask, &g, &keys, sparse).unwrap();
        let ab = softmax_backward_abs(&hv, mask, &g, &keys, sparse).unwrap();
        let tol = 2.0 * gamma(rounding_terms(n, d, dv), U64);
        for ((a, c), b) in flat(&an).iter().zip(flat(&cs)).zip(flat(&ab)) {
            prop_assert!((a - c).abs() <= tol * b, "{} vs {} (A = {})", a, c, b);
        }
    }
}
