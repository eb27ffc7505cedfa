//! AVX-512 forms of two per-row frontier passes of [`super::batch`] (the compiler vectorises their
//! lane-split portable forms only 2 lanes wide: `perf annotate`, clustered n = 2^17, where they
//! took ≈ half of the batched rows' own time).
//!
//! Each function computes the *same bits* as its portable form in [`super::batch`]: lane l of the
//! one 8-lane register is lane l of the portable `[f64; LANES]` accumulators, every operation is
//! the same IEEE operation in the same order (no FMA contraction), selects replace the portable
//! forms' multiplications by 0/1 masks only where both give the same value (finite operands ≥ 0:
//! x·1 = x, x·0 = +0), and the lanes and the tail are combined exactly as there. The test
//! `the_simd_frontier_passes_give_the_portable_bits` in [`super::batch`] checks this bit for bit on
//! random inputs where the CPU has AVX-512 (elsewhere only the portable forms run).
//!
//! The safe entry points return `None` where the CPU lacks AVX-512 (or is not x86-64); the caller
//! then runs its portable form.
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::batch::FrontierBlock;
use super::lanes::LANES;

/// The frontier's 8-lane part: ⌊nf/8⌋·8 nodes (the portable forms add the rest one by one).
#[inline(always)]
pub fn lane_part(fb: &FrontierBlock) -> usize {
    fb.len() / LANES * LANES
}

/// Whether this CPU runs the AVX-512 forms: the solver's dispatch (`per_isa!`) picks its
/// AVX-512 body on the same test.
#[inline]
pub fn available() -> bool {
    matches!(crate::reference::fast_f32::Isa::detect(), crate::reference::fast_f32::Isa::Avx512)
}

/// [`low_mass_lanes`] where [`available`], else `None`.
#[inline(always)]
pub fn low_mass(c: f64, fb: &FrontierBlock, e: &[f64], delta: &mut [f64], simd: bool) -> Option<[f64; LANES]> {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is `available()`, the CPU's features were checked.
        return Some(unsafe { low_mass_lanes(c, fb, e, delta) });
    }
    let _ = (c, fb, e, delta, simd);
    None
}

/// The lane parts of the zeroth-order sums ([`zeroth_sums_lanes`]).
pub type ZerothLanes = ([f64; LANES], [f64; LANES], [f64; LANES], [f64; LANES], usize);

/// [`zeroth_sums_lanes`] where [`available`], else `None`.
#[inline(always)]
pub fn zeroth_sums(
    fb: &FrontierBlock,
    a: &[f64],
    cut: f64,
    delta: &[f64],
    acc: &[f64],
    w: &mut [f64],
    simd: bool,
) -> Option<ZerothLanes> {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is `available()`, the CPU's features were checked.
        return Some(unsafe { zeroth_sums_lanes(fb, a, cut, delta, acc, w) });
    }
    let _ = (fb, a, cut, delta, acc, w, simd);
    None
}

/// Lane registers of the 8-lane loops, read back in lane order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn lanes_of(v: __m512d) -> [f64; LANES] {
    let mut a = [0.0f64; LANES];
    // SAFETY: `a` holds 8 f64 (unaligned store).
    unsafe { _mm512_storeu_pd(a.as_mut_ptr(), v) };
    a
}

/// [`super::batch`]'s `frontier_low_mass` over the 8-lane part `0..n8` ([`lane_part`]) of the
/// frontier: Δ_f = c·r_f into `delta`, and the lane partial sums of m_f·e_f·(1 − Δ_f)_+.
///
/// # Safety
/// The CPU must have AVX-512F ([`available`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
pub unsafe fn low_mass_lanes(c: f64, fb: &FrontierBlock, e: &[f64], delta: &mut [f64]) -> [f64; LANES] {
    let (n8, r, m) = (lane_part(fb), &fb.r[..], &fb.m[..]);
    assert!(r.len() >= n8 && m.len() >= n8 && e.len() >= n8 && delta.len() >= n8);
    let (cv, one, zero) = (_mm512_set1_pd(c), _mm512_set1_pd(1.0), _mm512_setzero_pd());
    let mut acc = zero;
    let mut j = 0;
    while j < n8 {
        // SAFETY: j + 8 ≤ n8 ≤ every slice's length (asserted above).
        unsafe {
            let dl = _mm512_mul_pd(cv, _mm512_loadu_pd(r.as_ptr().add(j)));
            _mm512_storeu_pd(delta.as_mut_ptr().add(j), dl);
            // own_mass(e, Δ, 0) = e·max(1 − Δ, +0) + 0 (the +0 changes no value ≥ +0).
            let h = _mm512_max_pd(_mm512_sub_pd(one, dl), zero);
            let own = _mm512_mul_pd(_mm512_loadu_pd(e.as_ptr().add(j)), h);
            acc = _mm512_add_pd(acc, _mm512_mul_pd(_mm512_loadu_pd(m.as_ptr().add(j)), own));
        }
        j += LANES;
    }
    lanes_of(acc)
}

/// The lane parts of [`super::batch`]'s `zeroth_order_sums` over `0..n8` ([`lane_part`]): (Σ w m, Σ w m Δ,
/// Σ w Â Δ, max Δ) per lane over the nodes with acc = 1 and a ≥ `cut` (`w` zeroed elsewhere),
/// and the count of nodes for the one-by-one pass (acc = 2, or acc = 1 below `cut`).
///
/// # Safety
/// The CPU must have AVX-512F and DQ ([`available`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
pub unsafe fn zeroth_sums_lanes(
    fb: &FrontierBlock,
    a: &[f64],
    cut: f64,
    delta: &[f64],
    acc: &[f64],
    w: &mut [f64],
) -> ZerothLanes {
    let (n8, m, absb) = (lane_part(fb), &fb.m[..], &fb.absb[..]);
    assert!(a.len() >= n8 && delta.len() >= n8 && acc.len() >= n8 && w.len() >= n8);
    assert!(m.len() >= n8 && absb.len() >= n8);
    let (cutv, one, two) = (_mm512_set1_pd(cut), _mm512_set1_pd(1.0), _mm512_set1_pd(2.0));
    let (mut zm, mut zmd, mut zad, mut dm) =
        (_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd());
    let mut special = 0u32;
    let mut j = 0;
    while j < n8 {
        // SAFETY: j + 8 ≤ n8 ≤ every slice's length (asserted above).
        unsafe {
            let ac = _mm512_loadu_pd(acc.as_ptr().add(j));
            let is_one = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(ac, one);
            let is_two = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(ac, two);
            let above = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(_mm512_loadu_pd(a.as_ptr().add(j)), cutv);
            let keep = is_one & above;
            let wv = _mm512_maskz_mov_pd(keep, _mm512_loadu_pd(w.as_ptr().add(j)));
            let dk = _mm512_maskz_mov_pd(keep, _mm512_loadu_pd(delta.as_ptr().add(j)));
            let wm = _mm512_mul_pd(wv, _mm512_loadu_pd(m.as_ptr().add(j)));
            _mm512_storeu_pd(w.as_mut_ptr().add(j), wv);
            zm = _mm512_add_pd(zm, wm);
            zmd = _mm512_add_pd(zmd, _mm512_mul_pd(wm, dk));
            zad = _mm512_add_pd(zad, _mm512_mul_pd(_mm512_mul_pd(wv, _mm512_loadu_pd(absb.as_ptr().add(j))), dk));
            // The portable `if dk > dm { dk } else { dm }` is vmaxpd(dk, dm).
            dm = _mm512_max_pd(dk, dm);
            special += (is_two | (is_one & !above)).count_ones();
        }
        j += LANES;
    }
    (lanes_of(zm), lanes_of(zmd), lanes_of(zad), lanes_of(dm), special as usize)
}
