//! `linformer.lowrank`: δ(k, ε) falls with k; Linformer leaks future tokens under a causal mask,
//! while key-set methods do not.
use crate::common::*;
use attnproof::checks::linformer_lowrank::{jl_delta, jl_failures};
use attnproof::methods::check::leak;
use attnproof::methods::keyset::KeySet;
use attnproof::methods::linformer::Linformer;
use attnproof::reference::Head;
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]
    #[test]
    fn delta_falls_with_k(k in 1usize..1000, eps in 0.01f64..0.99) {
        prop_assert!(jl_delta(k + 1, eps, 4.0) < jl_delta(k, eps, 4.0));
    }

    #[test]
    fn no_failures_beyond_the_cauchy_schwarz_range(n in 1usize..30, k in 1usize..16, seed: u64) {
        // |⟨Rx,Ry⟩ − ⟨x,y⟩| ≤ ‖Rx‖‖Ry‖ + ‖x‖‖y‖, finite: with ε = 1e6 nothing fails at these sizes.
        let h = head(seed, n, 1, 1, 1.0);
        let (f, _) = jl_failures(&widen(&h.q), &widen(&h.k), k, 1e6, 50, seed);
        prop_assert_eq!(f, 0);
    }

    #[test]
    fn linformer_leaks_and_windows_do_not(n in 4usize..48, d in 1usize..8, k in 1usize..16, seed: u64) {
        let h = head(seed, n, d, d, 1.0);
        let hv = Head::new(&h.q, &h.k, &h.v, n, d, d).unwrap();
        let l = leak(&Linformer { k }, &hv, seed).unwrap();
        prop_assert!(l > 0.0);
        prop_assert_eq!(leak(&KeySet::LastWindow { w: 3 }, &hv, seed).unwrap(), 0.0);
    }
}
