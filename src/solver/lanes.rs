//! Lane-split reductions and row-wise weights for the solver's f64 paths ([`super::batch`],
//! [`super::dense`]): lane l takes the entries ≡ l (mod [`LANES`]) and the lanes are combined in a
//! fixed order, so the loops vectorise and give the same bits on every instruction set and thread
//! count; any summation order obeys the γ_T bound of the rounding model
//! ([`crate::theory::solver`]).
use super::exp64::exp_neg_f64_slice;

/// Lanes of the split reductions below: lane l takes the entries ≡ l (mod LANES), then the lanes
/// are combined in a fixed order — the same bits on every instruction set and thread count; any
/// summation order obeys the γ_T bound of the rounding model.
pub const LANES: usize = 8;

/// Combine lane partial sums in a fixed order.
#[inline(always)]
pub fn fold_lanes(acc: [f64; LANES]) -> f64 {
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

/// max of finite values (−∞ for none), plain comparisons.
#[inline(always)]
pub fn lanes_max(x: &[f64]) -> f64 {
    let mut m = [f64::NEG_INFINITY; LANES];
    let ch = x.chunks_exact(LANES);
    let rest = ch.remainder();
    for c in ch {
        for l in 0..LANES {
            m[l] = if c[l] > m[l] { c[l] } else { m[l] };
        }
    }
    rest.iter().chain(&m).fold(f64::NEG_INFINITY, |a, &b| if b > a { b } else { a })
}

/// min of finite values (+∞ for none), plain comparisons.
#[inline(always)]
pub fn lanes_min(x: &[f64]) -> f64 {
    -x.iter().fold(f64::NEG_INFINITY, |a, &b| if -b > a { -b } else { a })
}

/// Σ x.
#[inline(always)]
pub fn lanes_sum(x: &[f64]) -> f64 {
    let mut acc = [0.0; LANES];
    let ch = x.chunks_exact(LANES);
    let rest = ch.remainder();
    for c in ch {
        for l in 0..LANES {
            acc[l] += c[l];
        }
    }
    rest.iter().fold(fold_lanes(acc), |a, &b| a + b)
}

/// Σ w_j over the j with s_j ≥ `cut`; the other w_j are set to 0.
#[inline(always)]
pub fn lanes_sum_above(s: &[f64], cut: f64, w: &mut [f64]) -> f64 {
    let mut acc = [0.0; LANES];
    let n8 = s.len() / LANES * LANES;
    for (sc, wc) in s[..n8].chunks_exact(LANES).zip(w[..n8].chunks_exact_mut(LANES)) {
        for l in 0..LANES {
            let v = if sc[l] >= cut { wc[l] } else { 0.0 };
            wc[l] = v;
            acc[l] += v;
        }
    }
    let mut tot = fold_lanes(acc);
    for (&sv, wv) in s[n8..].iter().zip(&mut w[n8..]) {
        let v = if sv >= cut { *wv } else { 0.0 };
        *wv = v;
        tot += v;
    }
    tot
}

/// w_j = e^{x_j − ρ} by [`exp_neg_f64_slice`].
#[inline(always)]
pub fn shifted_exp(x: &[f64], rho: f64, w: &mut [f64]) {
    for (w, &a) in w.iter_mut().zip(x) {
        *w = a - rho;
    }
    exp_neg_f64_slice(w);
}
