//! `solver.feasibility`: the ball, box and principal-axis box bounds are upper bounds (slack ≥ 0 up to rounding) and
//! never prune more than the oracle bound (work fractions ≥ oracle).
use crate::common::cfg;
use attnproof::checks::solver_feasibility::row_fractions;
use attnproof::data::synthetic;
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn ball_and_box_are_upper_bounds_and_prune_less(seed in any::<u64>(), n in 2usize..200, d in 1usize..16, scale in 0.01f64..6.0, block in 1usize..40) {
        let h = synthetic::gaussian(&mut attnproof::rng::seeded(seed), n, d, 1, scale);
        let q: Vec<f64> = h.q[..d].iter().map(|&x| x as f64).collect();
        let k: Vec<f64> = h.k.iter().map(|&x| x as f64).collect();
        let r = row_fractions(&q, &k, d, n - 1, block, 1e-2);
        prop_assert!(r.ball >= r.oracle - 1e-12, "ball {} oracle {}", r.ball, r.oracle);
        prop_assert!(r.boxed >= r.oracle - 1e-12, "box {} oracle {}", r.boxed, r.oracle);
        prop_assert!(r.pca >= r.oracle - 1e-12, "pca {} oracle {}", r.pca, r.oracle);
        prop_assert!(r.best >= r.oracle - 1e-12, "best {} oracle {}", r.best, r.oracle);
        for s in r.ball_slack.iter().chain(&r.box_slack).chain(&r.pca_slack) { prop_assert!(*s >= -1e-9, "slack {}", s); }
    }
}
