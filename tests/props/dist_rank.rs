//! `dist.rank`: the width-(d+2) factors reproduce the squared-distance matrix to rounding.
use crate::common::*;
use attnproof::theory::dist::*;
use attnproof::theory::fp::U64;
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]
    #[test]
    fn factors_of_width_d_plus_2_reproduce_d(n in 1usize..24, d in 1usize..10, log_scale in -2.0f64..2.0, seed: u64) {
        let h = head(seed, n, d, 1, 10f64.powf(log_scale));
        let (q, k) = (widen(&h.q), widen(&h.k));
        let (a, b) = rank_factors(&q, &k, d);
        let w = d + 2;
        for i in 0..n {
            for j in 0..n {
                let (qi, kj) = (&q[i * d..(i + 1) * d], &k[j * d..(j + 1) * d]);
                let prod: f64 = a[i * w..(i + 1) * w].iter().zip(&b[j * w..(j + 1) * w]).map(|(x, y)| x * y).sum();
                let dd = sqdist_direct(qi, kj);
                let qq: f64 = qi.iter().map(|x| x * x).sum();
                let kk: f64 = kj.iter().map(|x| x * x).sum();
                let aqk: f64 = qi.iter().zip(kj).map(|(x, y)| (x * y).abs()).sum();
                prop_assert!((prod - dd).abs() <= expanded_bound(d, U64, qq, kk, aqk) + direct_bound(d, U64, dd));
            }
        }
    }
}
