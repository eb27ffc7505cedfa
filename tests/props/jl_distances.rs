//! `jl.distances`: the Dasgupta–Gupta dimension and its per-pair tail bound; Spearman's ρ is 1 for
//! a monotone map and −1 for a reversing one.
use crate::common::cfg;
use attnproof::theory::jl;
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]
    #[test]
    fn min_dim_makes_each_tail_at_most_one_over_n_squared(n in 2usize..100_000, eps in 0.01f64..0.99) {
        let k = jl::min_dim(n, eps, 4.0);
        let (lo, hi) = jl::pair_tails(k, eps);
        let target = 1.0 / (n as f64 * n as f64);
        // exp of a computed exponent: relative rounding well below 1e-12 of the target.
        prop_assert!(lo <= target * (1.0 + 1e-12) && hi <= target * (1.0 + 1e-12), "k={k}: tails {lo:e} {hi:e} > {target:e}");
        prop_assert!(jl::min_dim_sklearn(n, eps, 4.0) as usize <= k);
    }

    #[test]
    fn spearman_of_monotone_maps(xs in proptest::collection::vec(-1e6f64..1e6, 3..60)) {
        let up: Vec<f64> = xs.iter().map(|x| x.powi(3) + 2.0 * x).collect();
        let down: Vec<f64> = xs.iter().map(|x| -x).collect();
        let distinct = { let mut s = xs.clone(); s.sort_by(f64::total_cmp); s.dedup(); s.len() > 1 };
        prop_assume!(distinct);
        prop_assert!((jl::spearman(&xs, &up) - 1.0).abs() < 1e-12);
        prop_assert!((jl::spearman(&xs, &down) + 1.0).abs() < 1e-12);
    }
}
