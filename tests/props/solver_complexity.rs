//! `solver.complexity`: work accounting. With every key identical, the tree path's work per row is
//! at most band + a constant (the root certifies); the exact plan's work is exactly Σ L(i).
use crate::common::cfg;
use attnproof::data::synthetic;
use attnproof::reference::{Head, Mask};
use attnproof::solver::{Force, SolverOptions, solve};
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn identical_keys_cost_the_band_only(seed in any::<u64>(), n in 64usize..400, band in 4usize..32) {
        let mut h = synthetic::gaussian(&mut attnproof::rng::seeded(seed), n, 4, 2, 2.0);
        let k0: Vec<f32> = h.k[..4].to_vec();
        for j in 0..n { h.k[j * 4..(j + 1) * 4].copy_from_slice(&k0); }
        let head = Head::new(&h.q, &h.k, &h.v, n, 4, 2).unwrap();
        let r = solve(&head, Mask::Causal, 1e-3, &SolverOptions { band, force: Some(Force::Tree), ..Default::default() }).unwrap();
        prop_assert_eq!(r.stats.fallback_rows, 0);
        prop_assert!(r.stats.work <= (n * (band + 1)) as u64, "{:?}", r.stats);
        let e = solve(&head, Mask::Causal, 1e-3, &SolverOptions { force: Some(Force::Exact), ..Default::default() }).unwrap();
        prop_assert_eq!(e.stats.work, e.stats.exact_work);
        prop_assert_eq!(e.stats.exact_work, (n * (n + 1) / 2) as u64);
    }
}
