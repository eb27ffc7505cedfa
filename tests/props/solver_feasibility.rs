//! `solver.feasibility`: the ball bound is an upper bound (slack ≥ 0 up to rounding) and never
//! prunes more than the oracle bound (work fraction ball ≥ oracle).
use crate::common::cfg;
use attnproof::checks::solver_feasibility::row_fractions;
use attnproof::data::synthetic;
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn ball_is_an_upper_bound_and_prunes_less(seed in any::<u64>(), n in 2usize..200, d in 1usize..16, scale in 0.01f64..6.0, block in 1usize..40) {
        let h = synthetic::gaussian(&mut attnproof::rng::seeded(seed), n, d, 1, scale);
        let q: Vec<f64> = h.q[..d].iter().map(|&x| x as f64).collect();
        let k: Vec<f64> = h.k.iter().map(|&x| x as f64).collect();
        let (o, b, slack) = row_fractions(&q, &k, d, n - 1, block, 1e-2);
        prop_assert!(b >= o - 1e-12, "ball {} oracle {}", b, o);
        for s in slack { prop_assert!(s >= -1e-9, "slack {}", s); }
    }
}
