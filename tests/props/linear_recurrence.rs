//! `linear.recurrence`: recurrent and quadratic forms agree to the rounding bound; the state does not
//! grow with n.
use crate::common::*;
use attnproof::checks::linear_recurrence::forms_worst;
use attnproof::methods::linear::{phi, state_floats};
use attnproof::methods::performer::kernel_attention_state;
use attnproof::reference::Mask;
use attnproof::verdict::Worst;
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]
    #[test]
    fn recurrent_equals_quadratic(n in 1usize..80, d in 1usize..24, dv in 1usize..8, log_scale in -2.0f64..1.5, causal: bool, seed: u64) {
        let h = head(seed, n, d, dv, 10f64.powf(log_scale));
        let mask = if causal { Mask::Causal } else { Mask::Full };
        let mut w = Worst::new("forms");
        forms_worst(&phi(&h.q), &phi(&h.k), &h.v, d, dv, n, mask, &mut w, "");
        let f = w.finish();
        prop_assert!(f.ok(), "{:?}", f);
    }

    #[test]
    fn state_size_is_independent_of_n(n in 1usize..300, d in 1usize..16, dv in 1usize..8, seed: u64) {
        let h = head(seed, n, d, dv, 1.0);
        let (_, st) = kernel_attention_state(&phi(&h.q), &phi(&h.k), &h.v, d, dv, n, Mask::Causal);
        prop_assert_eq!(st, state_floats(d, dv));
    }
}
