//! AVX-512 forms of the per-row frontier passes of [`super::batch`] (the compiler vectorises their
//! lane-split portable forms only 2 lanes wide: `perf annotate`, clustered n = 2^17, where they
//! took ≈ half of the batched rows' own time): the zeroth-order sums, and the fused passes (weights
//! with the low mass; acceptance with the sums and the f32 weights) with the row maxima.
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

/// [`super::exp64::exp_neg_f64`] on 8 lanes: the same operations (clamp, two FMAs of the reduction,
/// the Horner FMAs, the exponent bits), so the same bits in every lane.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
fn exp_neg_lanes(x: __m512d) -> __m512d {
    use super::exp64::{EXP_NEG_F64_CLAMP, INV_FACT, LN2_HI, LN2_LO, LOG2E, MAGIC};
    // The portable clamp `if x < C { C } else { x }` is vmaxpd(C, x) (x is returned when equal).
    let x = _mm512_max_pd(_mm512_set1_pd(EXP_NEG_F64_CLAMP), x);
    let t = _mm512_fmadd_pd(x, _mm512_set1_pd(LOG2E), _mm512_set1_pd(MAGIC));
    let kf = _mm512_sub_pd(t, _mm512_set1_pd(MAGIC));
    let r = _mm512_fmadd_pd(kf, _mm512_set1_pd(-LN2_HI), x);
    let r = _mm512_fmadd_pd(kf, _mm512_set1_pd(-LN2_LO), r);
    let mut p = _mm512_set1_pd(INV_FACT[13]);
    for i in (0..13).rev() {
        p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(INV_FACT[i]));
    }
    let k = _mm512_sub_epi64(_mm512_castpd_si512(t), _mm512_set1_epi64(MAGIC.to_bits() as i64));
    let scale = _mm512_slli_epi64::<52>(_mm512_add_epi64(k, _mm512_set1_epi64(1023)));
    _mm512_mul_pd(p, _mm512_castsi512_pd(scale))
}

/// [`weights_low_mass_lanes`] where [`available`], else `None`.
#[inline(always)]
pub fn weights_low_mass(
    c: f64,
    fb: &FrontierBlock,
    a: &[f64],
    rho: f64,
    w: &mut [f64],
    delta: &mut [f64],
    simd: bool,
) -> Option<[f64; LANES]> {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is `available()`, the CPU's features were checked.
        return Some(unsafe { weights_low_mass_lanes(c, fb, a, rho, w, delta) });
    }
    let _ = (c, fb, a, rho, w, delta, simd);
    None
}

/// One pass over the 8-lane part of the frontier doing what `shifted_exp(a, ρ, w)` and
/// `frontier_low_mass` do in two: w_f = e^{a_f − ρ} ([`exp_neg_lanes`]), Δ_f = c·r_f, and the lane
/// partial sums of m_f·w_f·(1 − Δ_f)_+. The same bits as those two.
///
/// # Safety
/// The CPU must have AVX-512F and DQ ([`available`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
pub unsafe fn weights_low_mass_lanes(
    c: f64,
    fb: &FrontierBlock,
    a: &[f64],
    rho: f64,
    w: &mut [f64],
    delta: &mut [f64],
) -> [f64; LANES] {
    let (n8, r, m) = (lane_part(fb), &fb.r[..], &fb.m[..]);
    assert!(r.len() >= n8 && m.len() >= n8 && a.len() >= n8 && w.len() >= n8 && delta.len() >= n8);
    let (cv, rv, one, zero) = (_mm512_set1_pd(c), _mm512_set1_pd(rho), _mm512_set1_pd(1.0), _mm512_setzero_pd());
    let mut acc = zero;
    let mut j = 0;
    while j < n8 {
        // SAFETY: j + 8 ≤ n8 ≤ every slice's length (asserted above).
        unsafe {
            let e = exp_neg_lanes(_mm512_sub_pd(_mm512_loadu_pd(a.as_ptr().add(j)), rv));
            _mm512_storeu_pd(w.as_mut_ptr().add(j), e);
            let dl = _mm512_mul_pd(cv, _mm512_loadu_pd(r.as_ptr().add(j)));
            _mm512_storeu_pd(delta.as_mut_ptr().add(j), dl);
            let h = _mm512_max_pd(_mm512_sub_pd(one, dl), zero);
            acc = _mm512_add_pd(acc, _mm512_mul_pd(_mm512_loadu_pd(m.as_ptr().add(j)), _mm512_mul_pd(e, h)));
        }
        j += LANES;
    }
    lanes_of(acc)
}

/// What [`accept_and_sum_lanes`] returns for the 8-lane part: the lanes of (Σ w m, Σ w m Δ,
/// Σ w Â Δ, max Δ) over the nodes at or above the cut, and the count of nodes below it.
pub type AcceptedLanes = ([f64; LANES], [f64; LANES], [f64; LANES], [f64; LANES], usize);

/// [`accept_and_sum_lanes`] where [`available`], else `None` (and `Some(None)` when a node of the
/// lane part is not accepted).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn accept_and_sum(
    fb: &FrontierBlock,
    e: &[f64],
    delta: &[f64],
    a: &[f64],
    zl: f64,
    ts: f64,
    vmax: f64,
    cut: f64,
    w32: &mut [f32],
    simd: bool,
) -> Option<Option<AcceptedLanes>> {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is `available()`, the CPU's features were checked.
        return Some(unsafe { accept_and_sum_lanes(fb, e, delta, a, zl, ts, vmax, cut, w32) });
    }
    let _ = (fb, e, delta, a, zl, ts, vmax, cut, w32, simd);
    None
}

/// Over the 8-lane part of the frontier, for a row whose every node passes the zeroth-order test:
/// that test (`accept_zeroth` in [`super::batch`]: Δ ≤ 1 and the budget rule with f(Δ) ≤ Δ(1 + Δ)),
/// and in the same pass the lane sums of `zeroth_order_sums` as they are when every node is
/// accepted (w kept where a ≥ `cut`), with the kept weights rounded to f32 into `w32` (the numerator
/// GEMM's operand). `None` as soon as a node fails the test: the caller then runs the general path,
/// which overwrites `w32`. Where every node passes, the same bits as `accept_zeroth`,
/// `zeroth_order_sums` and the rounding of the final weights.
///
/// # Safety
/// The CPU must have AVX-512F and DQ ([`available`]).
#[allow(clippy::too_many_arguments)]
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
pub unsafe fn accept_and_sum_lanes(
    fb: &FrontierBlock,
    e: &[f64],
    delta: &[f64],
    a: &[f64],
    zl: f64,
    ts: f64,
    vmax: f64,
    cut: f64,
    w32: &mut [f32],
) -> Option<AcceptedLanes> {
    let (n8, m, absb) = (lane_part(fb), &fb.m[..], &fb.absb[..]);
    assert!(e.len() >= n8 && delta.len() >= n8 && a.len() >= n8 && w32.len() >= n8);
    assert!(m.len() >= n8 && absb.len() >= n8);
    let (one, zero, quarter) = (_mm512_set1_pd(1.0), _mm512_setzero_pd(), _mm512_set1_pd(0.25));
    let (zlv, tsv, vmaxv, cutv) = (_mm512_set1_pd(zl), _mm512_set1_pd(ts), _mm512_set1_pd(vmax), _mm512_set1_pd(cut));
    let (mut zm, mut zmd, mut zad, mut dm) = (zero, zero, zero, zero);
    let mut below = 0u32;
    let mut j = 0;
    while j < n8 {
        // SAFETY: j + 8 ≤ n8 ≤ every slice's length (asserted above).
        unsafe {
            let ev = _mm512_loadu_pd(e.as_ptr().add(j));
            let dl = _mm512_loadu_pd(delta.as_ptr().add(j));
            let mv = _mm512_loadu_pd(m.as_ptr().add(j));
            let bv = _mm512_loadu_pd(absb.as_ptr().add(j));
            // accept_zeroth: fd = Δ(1 + Δ), own = e·(1 − Δ)_+ + zl, err_scale = Â + Vmax·m, and
            // budget_accepts: fd = 0, or (e·fd)·err_scale ≤ (ts·m)·own and e·fd ≤ ¼·own.
            let fd = _mm512_mul_pd(dl, _mm512_add_pd(one, dl));
            let own = _mm512_add_pd(_mm512_mul_pd(ev, _mm512_max_pd(_mm512_sub_pd(one, dl), zero)), zlv);
            let err = _mm512_add_pd(bv, _mm512_mul_pd(vmaxv, mv));
            let efd = _mm512_mul_pd(ev, fd);
            let budget = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(fd, zero)
                | (_mm512_cmp_pd_mask::<_CMP_LE_OQ>(
                    _mm512_mul_pd(efd, err),
                    _mm512_mul_pd(_mm512_mul_pd(tsv, mv), own),
                ) & _mm512_cmp_pd_mask::<_CMP_LE_OQ>(efd, _mm512_mul_pd(quarter, own)));
            let ok = _mm512_cmp_pd_mask::<_CMP_LE_OQ>(dl, one) & budget;
            if ok != 0xff {
                return None;
            }
            // zeroth_order_sums with every node accepted: kept where a ≥ cut.
            let above = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(_mm512_loadu_pd(a.as_ptr().add(j)), cutv);
            let wv = _mm512_maskz_mov_pd(above, ev);
            let dk = _mm512_maskz_mov_pd(above, dl);
            let wm = _mm512_mul_pd(wv, mv);
            _mm256_storeu_ps(w32.as_mut_ptr().add(j), _mm512_cvtpd_ps(wv));
            zm = _mm512_add_pd(zm, wm);
            zmd = _mm512_add_pd(zmd, _mm512_mul_pd(wm, dk));
            zad = _mm512_add_pd(zad, _mm512_mul_pd(_mm512_mul_pd(wv, bv), dk));
            dm = _mm512_max_pd(dk, dm);
            below += (!above).count_ones();
        }
        j += LANES;
    }
    Some((lanes_of(zm), lanes_of(zmd), lanes_of(zad), lanes_of(dm), below as usize))
}

/// [`widen_max_lanes`] where [`available`], else `None`.
#[inline(always)]
pub fn widen_max(x: &[f32], out: &mut [f64], simd: bool) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is `available()`, the CPU's features were checked.
        return Some(unsafe { widen_max_lanes(x, out) });
    }
    let _ = (x, out, simd);
    None
}

/// `out = x` widened to f64, and [`super::lanes::lanes_max`] of the result in the same pass: lane l
/// of the running maximum takes the entries ≡ l (mod 8) in order (vmaxpd(c, m) is the portable
/// `if c > m { c } else { m }`), then the tail and the lanes are folded as there. The same value as
/// `lanes_max` of the widened slice, bit for bit.
///
/// # Safety
/// The CPU must have AVX-512F ([`available`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
pub unsafe fn widen_max_lanes(x: &[f32], out: &mut [f64]) -> f64 {
    let n = x.len();
    assert!(out.len() >= n);
    let n8 = n / LANES * LANES;
    let mut m = _mm512_set1_pd(f64::NEG_INFINITY);
    let mut j = 0;
    while j < n8 {
        // SAFETY: j + 8 ≤ n8 ≤ both lengths (asserted above).
        unsafe {
            let v = _mm512_cvtps_pd(_mm256_loadu_ps(x.as_ptr().add(j)));
            _mm512_storeu_pd(out.as_mut_ptr().add(j), v);
            m = _mm512_max_pd(v, m);
        }
        j += LANES;
    }
    for (o, &v) in out[n8..n].iter_mut().zip(&x[n8..]) {
        *o = v as f64;
    }
    let lanes = lanes_of(m);
    out[n8..n].iter().chain(&lanes).fold(f64::NEG_INFINITY, |a, &b| if b > a { b } else { a })
}
