//! `reformer.lsh`: the hash depends on the direction only, antipodal points never share a bucket
//! when b = 2, and the b = 4 collision probability is a probability decreasing in the angle.
use crate::common::*;
use attnproof::methods::keyset::{lsh_hash, rotations};
use attnproof::theory::lsh::collision_probability;
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]
    #[test]
    fn hash_is_scale_invariant_and_antipodes_split(d in 1usize..32, half_b in 1usize..8, e in -20i32..20, seed: u64) {
        let h = head(seed, 1, d, 1, 1.0);
        let x = widen(&h.q);
        prop_assume!(x.iter().any(|a| *a != 0.0));
        let r = &rotations(seed, d, half_b, 1)[0];
        let c = 2f64.powi(e);
        let xs: Vec<f64> = x.iter().map(|a| a * c).collect();
        prop_assert_eq!(lsh_hash(&x, r, half_b), lsh_hash(&xs, r, half_b));
        if half_b == 1 {
            let neg: Vec<f64> = x.iter().map(|a| -a).collect();
            prop_assert_ne!(lsh_hash(&x, r, 1), lsh_hash(&neg, r, 1));
        }
    }

    #[test]
    fn four_bucket_collision_probability_is_monotone(a in 0.01f64..3.1, b in 0.01f64..3.1) {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        prop_assume!(hi - lo > 1e-3);
        let (p, q) = (collision_probability(4, lo, 1.0).unwrap(), collision_probability(4, hi, 1.0).unwrap());
        prop_assert!((0.0..=1.0).contains(&p) && (0.0..=1.0).contains(&q));
        prop_assert!(p > q, "{} at {} vs {} at {}", p, lo, q, hi);
        // Never above the 2-bucket probability: four sectors split more than two half-planes.
        prop_assert!(p <= collision_probability(2, lo, 1.0).unwrap());
    }
}
