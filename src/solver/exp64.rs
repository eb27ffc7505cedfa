//! A vectorisable float64 exponential for the solver's weights e^{x}, x ≤ 0, with a derived
//! relative error bound ([`EXP_NEG_F64_REL_ERR`]), used by [`super::batch`] on whole rows of
//! exponents at once (libm's `exp` is a scalar call per weight).
//!
//! **Algorithm** ([`exp_neg_f64`]): clamp x ≥ −708; k = round(x·log₂e) by the 1.5·2⁵² trick;
//! Cody–Waite reduction r̂ = fl(fl(x − k·LN2_HI) − k·LN2_LO) with two FMAs; eʳ by the Taylor
//! polynomial p(r) = Σ_{i=0}^{13} rⁱ/i! in Horner form with FMAs; scaling by 2ᵏ through the
//! exponent bits.
//!
//! **Error bound** for x ∈ [−708, 0] (u = 2⁻⁵³, γ_n = nu/(1 − nu)):
//! * range: |x·log₂e − k| ≤ ½ + 708·log₂e·u, so |r| ≤ ½ln2 + 10⁻¹³ < 0.3466;
//! * reduction: LN2_HI has 11 trailing zero bits, so k·LN2_HI is exact for |k| < 2¹¹; each FMA
//!   rounds once, |r̂ − (x − k·ln2)| ≤ u|r₁| + u|r̂| + |k|·|ln2 − LN2_HI − LN2_LO|
//!   ≤ 2u·0.3467 + 1022·1.95·10⁻³¹ < 0.7u, i.e. a relative error e^{0.7u} − 1 < 0.71u of the result;
//! * truncation: |eʳ − p(r)| ≤ |r|¹⁴/14!·e^{|r|} < 5.8·10⁻¹⁸, relative (÷ eʳ ≥ e^{−0.3466})
//!   < 8.2·10⁻¹⁸ < 0.08u;
//! * Horner with FMA over coefficients ĉ_i = fl(1/i!) (relative u each): the computed value differs
//!   from p(r̂) by at most γ_{15}·Σ_i|c_i||r̂|ⁱ ≤ γ_{15}·e^{|r̂|} (Higham, *Accuracy and Stability of
//!   Numerical Algorithms*, §5.1: 13 roundings of the FMAs and one of each coefficient), relative
//!   to e^{r̂} at most γ_{15}·e^{2·0.3467} < 2.01·γ_{15} < 30.2u;
//! * scaling: 2ᵏ with k ≥ −1022 is a normal number and the product is normal (≥ 0.7·2⁻¹⁰²²), exact.
//!
//! Total, compounded: (1 + 0.71u)(1 + 0.08u)(1 + 30.2u) − 1 < 31.1u; stated as
//! [`EXP_NEG_F64_REL_ERR`] = 32u. The tests compare against libm `exp` (within 1 ulp of eˣ) on
//! 2·10⁶ points and assert the bound minus libm's 2u; the measured maximum is printed.
//! Below −708 the result is e^{−708}-ish (clamped): callers skip every term below
//! [`super::certificate::SKIP_BELOW`] = −700 and use such values for decisions only.
use crate::theory::fp::U64;

/// Relative error bound of [`exp_neg_f64`] on [−708, 0] (derived in the module doc).
pub const EXP_NEG_F64_REL_ERR: f64 = 32.0 * U64;

/// Arguments are clamped to ≥ this (e^{−708} is a normal f64).
pub const EXP_NEG_F64_CLAMP: f64 = -708.0;

pub(crate) const LOG2E: f64 = std::f64::consts::LOG2_E;
pub(crate) const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5·2⁵²: adding it rounds to an integer (ties to even)
/// ln 2 truncated to 42 significant bits (11 trailing zero bits): k·LN2_HI exact for |k| < 2¹¹.
pub(crate) const LN2_HI: f64 = 0.693_147_180_559_890_3;
/// ln 2 − LN2_HI, nearest f64 (|ln 2 − LN2_HI − LN2_LO| < 1.95·10⁻³¹).
pub(crate) const LN2_LO: f64 = 5.497_923_018_708_371e-14;

/// 1/i!, i = 0..=13, nearest f64 each.
pub(crate) const INV_FACT: [f64; 14] = [
    1.0,
    1.0,
    0.5,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
    1.0 / 40320.0,
    1.0 / 362_880.0,
    1.0 / 3_628_800.0,
    1.0 / 39_916_800.0,
    1.0 / 479_001_600.0,
    1.0 / 6_227_020_800.0,
];

/// e^x for x ≤ 0 (x finite), relative error ≤ [`EXP_NEG_F64_REL_ERR`] for x ≥ −708; exactly 1 at 0.
/// Branch-free, written with `mul_add`: it autovectorises and gives the same bits on every
/// instruction set.
#[inline(always)]
pub fn exp_neg_f64(x: f64) -> f64 {
    let x = if x < EXP_NEG_F64_CLAMP { EXP_NEG_F64_CLAMP } else { x };
    let t = x.mul_add(LOG2E, MAGIC);
    let kf = t - MAGIC;
    let r = kf.mul_add(-LN2_HI, x);
    let r = kf.mul_add(-LN2_LO, r);
    let mut p = INV_FACT[13];
    for i in (0..13).rev() {
        p = p.mul_add(r, INV_FACT[i]);
    }
    let k = (t.to_bits() as i64).wrapping_sub(MAGIC.to_bits() as i64);
    p * f64::from_bits((k.wrapping_add(1023) << 52) as u64)
}

#[inline(always)]
fn exp_slice_body(x: &mut [f64]) {
    for v in x.iter_mut() {
        *v = exp_neg_f64(*v);
    }
}

per_isa! {
    /// [`exp_neg_f64`] in place over a slice, with the best instruction set of this CPU (same bits on
    /// every path: the body uses only IEEE operations and FMAs).
    pub fn exp_neg_f64_slice(x: &mut [f64]) = exp_slice_body;
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn reduction_constants_are_as_stated() {
        // LN2_HI has ≥ 11 trailing zero bits in its 53-bit significand.
        assert_eq!(LN2_HI.to_bits() & 0x7ff, 0);
        // LN2_HI + LN2_LO is ln 2 to far beyond f64 (checked in two halves against the f64 ln 2).
        assert_eq!(LN2_HI + LN2_LO, std::f64::consts::LN_2);
        assert!((LN2_HI - std::f64::consts::LN_2).abs() < 1e-12);
    }

    /// Max relative error against libm over `xs` (libm is within 1 ulp, i.e. 2u relative, of eˣ).
    fn max_rel_err(xs: impl Iterator<Item = f64>) -> (f64, f64) {
        let mut worst = (0.0f64, 0.0);
        for x in xs {
            let (a, b) = (exp_neg_f64(x), x.exp());
            let e = ((a - b) / b).abs();
            if e > worst.0 {
                worst = (e, x);
            }
        }
        worst
    }

    #[test]
    fn relative_error_within_the_derived_bound() {
        let mut rng = crate::rng::seeded(64);
        let random = (0..1_000_000).map(|_| -rng.random::<f64>() * 708.0);
        // Near the reduction's switching points x ≈ (k + ½)·ln2, where |r| is largest.
        let edges = (0..1_000_000).map(|t| {
            let k = (t % 1021) as f64;
            -(k + 0.5) * std::f64::consts::LN_2 + ((t / 1021) as f64 - 490.0) * 1e-15
        });
        let (e, x) = max_rel_err(random.chain(edges).chain([0.0, -1e-300, -708.0, -700.0, -0.5, -1.0]));
        println!("exp_neg_f64: max relative error vs libm {:.3}u at x = {x}", e / U64);
        assert!(e <= EXP_NEG_F64_REL_ERR - 2.0 * U64, "{e:e} at {x}");
        assert_eq!(exp_neg_f64(0.0), 1.0);
    }

    #[test]
    fn slice_dispatch_gives_the_scalar_bits() {
        let xs: Vec<f64> = (0..1000).map(|i| -(i as f64) * 0.7123).collect();
        let mut y = xs.clone();
        exp_neg_f64_slice(&mut y);
        for (a, &x) in y.iter().zip(&xs) {
            assert_eq!(a.to_bits(), exp_neg_f64(x).to_bits());
        }
        assert!(exp_neg_f64(-1e9) > 0.0 && exp_neg_f64(-1e9) <= (-707.9f64).exp());
    }
}
