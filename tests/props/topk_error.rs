//! `topk.error`: the top-K truncation identities hold for any logits, values and kept set, within the
//! rounding bounds of `attnproof::theory::topk`; the oracle top-K keeps at least the mass of any other
//! set of the same size; the counted attention matches the closed-form FLOP count.
use crate::common::*;
use attnproof::theory::flops::{Ops, counted_attention, full_per_sequence, top_k_counted};
use attnproof::theory::topk::{diameter, kept_mass_curve, probs, top_k, truncation};
use proptest::prelude::*;

fn row(seed: u64, n: usize, dv: usize, scale: f64) -> (Vec<f64>, Vec<f64>) {
    let h = head(seed, n, 1, dv, 1.0);
    let logits: Vec<f64> = h.q.iter().zip(&h.k).map(|(a, b)| (*a as f64 + *b as f64) * scale).collect();
    (probs(&logits), widen(&h.v))
}

proptest! {
    #![proptest_config(cfg())]
    #[test]
    fn identities_hold_for_any_kept_set(n in 1usize..=200, dv in 1usize..=8, log_scale in -1.0f64..2.0, seed: u64, mask_seed: u64) {
        let (p, v) = row(seed, n, dv, 10f64.powf(log_scale));
        // an arbitrary non-empty kept set from mask_seed
        let mut keep: Vec<usize> = (0..n).filter(|i| (mask_seed.rotate_left((*i % 64) as u32) & 1) == 1).collect();
        if keep.is_empty() { keep.push((mask_seed % n as u64) as usize); }
        let t = truncation(&p, &v, dv, &keep, -1.0, 1.0, diameter(&v, dv));
        prop_assume!(t.m > 1e-300);
        prop_assert!((t.kl_direct - t.kl_identity).abs() <= t.kl_bound, "KL {} vs {}", t.kl_direct, t.kl_identity);
        prop_assert!((t.tv_direct - t.tv_identity).abs() <= t.tv_bound, "TV {} vs {}", t.tv_direct, t.tv_identity);
        prop_assert!(t.out_err <= t.out_bound, "out {} vs {}", t.out_err, t.out_bound);
        prop_assert!(t.out_norm <= t.out_norm_bound);
    }

    #[test]
    fn oracle_top_k_keeps_the_most_mass(n in 2usize..=100, k in 1usize..=20, seed: u64, other: u64) {
        let (p, _) = row(seed, n, 1, 3.0);
        let k = k.min(n);
        let best: f64 = top_k(&p, k).iter().map(|&i| p[i]).sum();
        let curve = kept_mass_curve(&p, k);
        prop_assert!((curve[k - 1] - best).abs() <= 1e-15 * (k as f64 + 1.0));
        // any other K-subset (a rotation of the index range) keeps at most as much
        let off = (other % n as u64) as usize;
        let alt: f64 = (0..k).map(|i| p[(i + off) % n]).sum();
        prop_assert!(alt <= best * (1.0 + 4.0 * k as f64 * f64::EPSILON));
    }

    #[test]
    fn heap_selection_returns_the_k_largest(n in 1usize..=300, k in 1usize..=40, seed: u64) {
        let (p, _) = row(seed, n, 1, 2.0);
        let mut ops = Ops::default();
        let got = top_k_counted(&p, k, &mut ops);
        let want = top_k(&p, k);
        let vals = |ix: &[usize]| { let mut v: Vec<f64> = ix.iter().map(|&i| p[i]).collect(); v.sort_by(|a, b| b.partial_cmp(a).unwrap()); v };
        prop_assert_eq!(vals(&got), vals(&want));
        prop_assert!(ops.0 as usize >= n - k.min(n), "at least T − K comparisons");
    }

    #[test]
    fn counted_attention_matches_the_closed_form(t in 1usize..=24, d in 1usize..=12, seed: u64) {
        let h = head(seed, t, d, d, 1.0);
        let (_, ops) = counted_attention(&widen(&h.q), &widen(&h.k), &widen(&h.v), t, d, d, 1.0);
        prop_assert_eq!(ops.0, full_per_sequence(t as u64, d as u64));
    }
}
