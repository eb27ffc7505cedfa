//! `sparse.patterns`: sparsemax satisfies the KKT conditions of the simplex projection, has exact
//! zeros below max − 1, and is no farther from s than any point of the simplex.
use crate::common::cfg;
use attnproof::checks::sparse_patterns::kkt;
use attnproof::methods::sparsemax::sparsemax;
use attnproof::theory::fp::{U64, gamma};
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]
    #[test]
    fn kkt_conditions_and_exact_zeros(s in prop::collection::vec(-50.0f64..50.0, 1..200)) {
        let (r, z) = kkt(&s, 1.0);
        prop_assert!(r <= 1.0, "KKT residual ratio {}", r);
        prop_assert_eq!(z, 0);
    }

    #[test]
    fn sparsemax_is_the_nearest_point_of_the_simplex(s in prop::collection::vec(-5.0f64..5.0, 1..40), w in prop::collection::vec(0.0f64..1.0, 40)) {
        let p = sparsemax(&s);
        let tot: f64 = w[..s.len()].iter().sum::<f64>().max(1e-300);
        let other: Vec<f64> = w[..s.len()].iter().map(|x| x / tot).collect();
        let dist = |a: &[f64]| a.iter().zip(&s).map(|(x, y)| (x - y) * (x - y)).sum::<f64>();
        let scale: f64 = s.iter().map(|x| x * x + 1.0).sum();
        prop_assert!(dist(&p) <= dist(&other) + gamma(4 * s.len() + 8, U64) * scale);
    }
}
