//! The run-time CPU-feature dispatch macro of the hot loops (solver, rounding bounds).

/// `per_isa!(pub fn name(a: A, …) -> R = body);` defines `name`, which calls the `#[inline(always)]`
/// function `body` compiled for AVX-512, for AVX2 + FMA, or portably, chosen at run time by
/// [`crate::reference::fast_f32::Isa::detect`] (as faer and gemm do). The bodies use IEEE operations
/// in a fixed order (no fast-math), so every path gives the same bits; only their vector width differs.
macro_rules! per_isa {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $body:path;) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
            $(#[$m])*
            fn avx512($($arg: $ty),*) $(-> $ret)? {
                $body($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            $(#[$m])*
            fn avx2($($arg: $ty),*) $(-> $ret)? {
                $body($($arg),*)
            }
            use $crate::reference::fast_f32::Isa;
            match Isa::detect() {
                // SAFETY: `Isa::detect` reports these variants only after checking the features.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => unsafe { avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2Fma => unsafe { avx2($($arg),*) },
                _ => $body($($arg),*),
            }
        }
    };
}
