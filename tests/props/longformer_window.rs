//! `longformer.window`: o − o_S = (1 − M)(o_out − o_S) to rounding for any window and global tokens.
use crate::common::*;
use attnproof::checks::longformer_window::identity;
use attnproof::methods::keyset::KeySet;
use attnproof::reference::{Head, Mask};
use attnproof::verdict::Worst;
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]
    #[test]
    fn error_is_the_outside_mass_times_the_gap(n in 1usize..64, d in 1usize..12, half in 0usize..20, g in 0usize..4, log_scale in -1.0f64..1.3, causal: bool, seed: u64) {
        let h = head(seed, n, d, 3, 10f64.powf(log_scale));
        let hv = Head::new(&h.q, &h.k, &h.v, n, d, 3).unwrap();
        let mask = if causal { Mask::Causal } else { Mask::Full };
        let mut w = Worst::new("identity");
        let (mass, _) = identity(&hv, mask, &KeySet::Longformer { half_window: half, global: g }, 1.0, &mut w, "").unwrap();
        let f = w.finish();
        prop_assert!(f.ok(), "{:?}", f);
        prop_assert!(mass > 0.0 && mass <= 1.0 + 1e-12);
    }
}
