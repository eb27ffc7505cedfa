//! `rewrite.gaussian`: the log-domain identity within its rounding bound, and the f32 overflow
//! threshold of exp(‖k‖²/2) at √(2 ln f32::MAX).
use crate::common::*;
use attnproof::theory::fp::{U64, gamma};
use attnproof::theory::gaussian::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]
    #[test]
    fn log_domain_identity(d in 1usize..=64, log_scale in -2.0f64..3.0, seed: u64) {
        let h = head(seed, 1, d, 1, 10f64.powf(log_scale));
        let (q, k) = (widen(&h.q), widen(&h.k));
        let (a, b, c) = log_factors(&q, &k);
        let qk: f64 = q.iter().zip(&k).map(|(x, y)| x * y).sum();
        let aqk: f64 = q.iter().zip(&k).map(|(x, y)| (x * y).abs()).sum();
        let bound = gamma(d + 2, U64) * a.abs() + gamma(d, U64) * (b + c) + gamma(2, U64) * (a.abs() + b + c) + gamma(d, U64) * aqk;
        prop_assert!((qk - (a + b + c)).abs() <= bound);
    }

    #[test]
    fn f32_factor_overflows_exactly_past_the_threshold(norm in 0.0f64..40.0) {
        let t = overflow_norm_f32();
        prop_assume!((norm - t).abs() > 1e-4);
        let f = ((norm * norm / 2.0) as f32).exp();
        prop_assert_eq!(f.is_infinite(), norm > t);
    }
}
