//! Rounding model of the fast float32 causal kernel ([`crate::reference::fast_f32`]); theorem
//! `reference.f32_rounding`. Filled in with the kernel.
