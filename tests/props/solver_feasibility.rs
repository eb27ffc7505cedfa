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

use attnproof::checks::solver_feasibility::perkey::{
    budget_splits, key_principal, levels, progressive_schedule, row_perkey,
};

proptest! {
    #![proptest_config(cfg())]

    /// Per-key principal-subspace bounds are upper bounds of every score, every progressive schedule
    /// drops true mass ≤ ε·Z (it is certified) and so keeps at least the oracle's keys (the fewest
    /// whose dropped mass is ≤ ε·Z, counted here independently), and heavy hitters cost what that
    /// oracle count implies.
    #[test]
    fn perkey_schedules_are_certified(seed in any::<u64>(), n in 2usize..160, d in 1usize..40, dv in 1usize..40, scale in 0.01f64..8.0, pick in any::<prop::sample::Index>()) {
        let h = synthetic::gaussian(&mut attnproof::rng::seeded(seed), n, d, 1, scale);
        let q: Vec<f64> = h.q[..d].iter().map(|&x| x as f64).collect();
        let k: Vec<f64> = h.k.iter().map(|&x| x as f64).collect();
        let kp = key_principal(&k, n, d);
        let s: Vec<f64> = k.chunks_exact(d).map(|kj| kj.iter().zip(&q).map(|(a, b)| a * b).sum()).collect();
        let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = s.iter().map(|x| (x - m).exp()).sum();
        let eps = 1e-2;
        let splits = budget_splits(levels(d).len());
        let split = &splits[pick.index(splits.len())];
        let run = progressive_schedule(&kp, &kp.row_query(&q, &s), &s, dv, eps, split);
        prop_assert!(run.violation <= 1e-9, "bound below a score by {}", run.violation);
        let mut kept = vec![false; n];
        run.kept.iter().for_each(|&j| kept[j] = true);
        let dropped: f64 = (0..n).filter(|&j| !kept[j]).map(|j| (s[j] - m).exp()).sum();
        prop_assert!(dropped <= eps * z * (1.0 + 1e-12), "dropped {} > ε·Z = {}", dropped, eps * z);
        prop_assert!(!run.kept.is_empty());
        // The oracle, counted here independently: the most keys whose true weights sum to ≤ ε·Z are
        // the smallest ones, so no certified schedule keeps fewer than the rest.
        let mut w: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
        w.sort_by(f64::total_cmp);
        let droppable = w.iter().scan(0.0, |acc, x| { *acc += x; Some(*acc) }).take_while(|&acc| acc <= eps * z).count();
        let oracle_kept = n - droppable;
        prop_assert!(run.kept.len() >= oracle_kept, "schedule keeps {} < oracle {}", run.kept.len(), oracle_kept);
        let r = row_perkey(&kp, &q, &s, dv, eps);
        prop_assert!((r.oracle_keys * n as f64 - oracle_kept as f64).abs() < 1e-9, "oracle {} vs {}", r.oracle_keys * n as f64, oracle_kept);
        let hh = (n * d + dv * oracle_kept) as f64 / (n * (d + dv)) as f64;
        prop_assert!((r.heavy_hitters - hh).abs() <= 1e-12, "heavy hitters {} vs {}", r.heavy_hitters, hh);
        prop_assert!(r.progressive <= r.heavy_hitters + 1e-12 && r.progressive > 0.0);
        prop_assert!(r.oracle_keys > 0.0 && r.oracle_keys <= 1.0);
    }
}
