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

proptest! {
    #![proptest_config(cfg())]

    /// theory::expansion: the order-p cross expansion of e^{a·b} is within e^{a·b}·ε_p(‖a‖‖b‖).
    #[test]
    fn cross_expansion_error_is_within_its_bound(
        seed in any::<u64>(), k in 1usize..8, p in 0u32..9, sa in 0.01f64..2.0, sb in 0.01f64..2.0,
    ) {
        use attnproof::theory::expansion::cross_relative_error;
        let a = synthetic::vector(&mut attnproof::rng::seeded(seed), k, sa);
        let b = synthetic::vector(&mut attnproof::rng::seeded(seed ^ 0x9e37), k, sb);
        let x: f64 = a.iter().zip(&b).map(|(&s, &t)| s as f64 * t as f64).sum();
        let norm = |v: &[f32]| v.iter().map(|&t| (t as f64).powi(2)).sum::<f64>().sqrt();
        let (mut term, mut sum) = (1.0f64, 1.0f64);
        for j in 1..=p { term *= x / j as f64; sum += term; }
        let rel = (x.exp() - sum).abs() / x.exp();
        // 1e-12 relative slack: the f64 evaluation of the partial sum itself (≤ 10 terms of size ≤ e^4).
        prop_assert!(rel <= cross_relative_error(p, norm(&a) * norm(&b)) + 1e-12, "x={x} p={p} rel={rel}");
    }

    /// The dual-tree count never exceeds the exact cost, does not grow when ε grows, and is
    /// (n + n)(dv + 1) (one order-0 pair, Δ ≈ 0) on identical points. (With ε = 0 a pair
    /// with a one-point node still expands at order 0: Δ = 0 makes its factorisation exact.)
    #[test]
    fn dual_tree_count_brackets(seed in any::<u64>(), n in 8usize..200, leaf in 1usize..16) {
        use attnproof::checks::solver_complexity::{DualTreeCost, dual_tree_expansion_work};
        let h = synthetic::gaussian(&mut attnproof::rng::seeded(seed), n, 4, 4, 1.0);
        let c = DualTreeCost { d: 4, dv: 4, k: 4, eps: 0.0, p_max: 10 };
        let (w, e, share) = dual_tree_expansion_work(&h.q, &h.k, 4, leaf, c);
        prop_assert_eq!(e, (n * n * 8) as f64);
        prop_assert!(w <= e && (0.0..=1.0).contains(&share));
        let loose = DualTreeCost { eps: 1e-2, ..c };
        let (w2, _, _) = dual_tree_expansion_work(&h.q, &h.k, 4, leaf, loose);
        prop_assert!(w2 <= w, "{w2} > {w}");
        let same_q: Vec<f32> = h.q[..4].repeat(n);
        let same_k: Vec<f32> = h.k[..4].repeat(n);
        // (ε = 1e-2: the f64 centroid of copies may differ from them by rounding, so Δ ≈ 1e-30, not 0.)
        let (w3, _, share3) = dual_tree_expansion_work(&same_q, &same_k, 4, leaf, loose);
        prop_assert_eq!(w3, (2 * n * 5) as f64);
        prop_assert_eq!(share3, 1.0);
    }
}
