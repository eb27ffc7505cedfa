//! `dist.decomposition`: both f32 forms within their derived bounds; the direct form keeps relative
//! accuracy under cancellation.
use crate::common::*;
use attnproof::theory::dist::*;
use attnproof::theory::fp::{U32, U64};
use proptest::prelude::*;

fn exact(q: &[f32], k: &[f32]) -> (f64, f64, f64, f64) {
    let (q, k) = (widen(q), widen(k));
    let dd = sqdist_direct(&q, &k);
    let qq = q.iter().map(|x| x * x).sum();
    let kk = k.iter().map(|x| x * x).sum();
    let a = q.iter().zip(&k).map(|(x, y)| (x * y).abs()).sum();
    (dd, qq, kk, a)
}

proptest! {
    #![proptest_config(cfg())]
    #[test]
    fn both_forms_within_their_bounds(d in 1usize..=128, log_scale in -3.0f64..3.0, seed: u64) {
        let h = head(seed, 1, d, 1, 10f64.powf(log_scale));
        let (dd, qq, kk, a) = exact(&h.q, &h.k);
        let re = direct_bound(d, U64, dd);
        let e = sqdist_expanded(&h.q, &h.k, -2.0f32) as f64;
        let dr = sqdist_direct(&h.q, &h.k) as f64;
        prop_assert!((e - dd).abs() <= expanded_bound(d, U32, qq, kk, a) + re);
        prop_assert!((dr - dd).abs() <= direct_bound(d, U32, dd) + re);
    }

    #[test]
    fn direct_form_is_relatively_accurate_when_q_is_close_to_k(d in 1usize..=64, log_gap in -7.0f64..-1.0, seed: u64) {
        let h = head(seed, 2, d, 1, 1.0);
        let q = &h.q[..d];
        let k: Vec<f32> = q.iter().zip(&h.k[d..]).map(|(a, b)| a + b * 10f32.powf(log_gap as f32)).collect();
        let (dd, ..) = exact(q, &k);
        prop_assume!(dd > 0.0);
        let dr = sqdist_direct(q, &k) as f64;
        prop_assert!((dr - dd).abs() <= direct_bound(d, U32, dd) + direct_bound(d, U64, dd));
    }
}
