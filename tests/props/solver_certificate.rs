//! `solver.certificate`: for random small heads (tree forced with tiny band and leaves so nodes are
//! accepted), certificate ≥ |X̂ − X_ref| − (oracle's rounding bound) on every row, and ε ≤ tol.
use crate::common::cfg;
use attnproof::data::synthetic;
use attnproof::reference::{Head, Mask};
use attnproof::solver::{Force, SolverOptions, compare, solve};
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn certificate_bounds_the_true_error(
        seed in any::<u64>(),
        n in 1usize..120,
        d in 1usize..10,
        dv in 1usize..4,
        scale in 0.01f64..12.0,
        squash in prop::sample::select(vec![1.0f32, 1e-3, 1e-6]),
        tol_exp in -8i32..0,
        strict in any::<bool>(),
        band in 1usize..8,
        leaf in 1usize..6,
    ) {
        let mut h = synthetic::gaussian(&mut attnproof::rng::seeded(seed), n, d, dv, scale);
        // Shrink the keys towards their first row: near-duplicate keys, small radii.
        let k0: Vec<f32> = h.k[..d].to_vec();
        for j in 0..n {
            for t in 0..d {
                h.k[j * d + t] = k0[t] + squash * (h.k[j * d + t] - k0[t]);
            }
        }
        let head = Head::new(&h.q, &h.k, &h.v, n, d, dv).unwrap();
        let mask = if strict { Mask::StrictPrefix } else { Mask::Causal };
        let vmax = attnproof::theory::fp::max_abs_f64(&h.v).max(1e-300);
        let tol = 10f64.powi(tol_exp) * vmax;
        let r = solve(&head, mask, tol, &SolverOptions { band, leaf, force: Some(Force::Tree), ..Default::default() }).unwrap();
        prop_assert!(r.max_cert() <= tol);
        for c in compare::check_rows(&head, mask, &r, None) {
            prop_assert!(c.ok(), "{:?}", c);
        }
    }
}
