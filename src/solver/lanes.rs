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
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// The extreme of finite values under `better` (`init` for none), plain comparisons.
#[inline(always)]
fn lanes_extreme(x: &[f64], init: f64, better: impl Fn(f64, f64) -> bool) -> f64 {
    let mut m = [init; LANES];
    let ch = x.chunks_exact(LANES);
    let rest = ch.remainder();
    for c in ch {
        for l in 0..LANES {
            m[l] = if better(c[l], m[l]) { c[l] } else { m[l] };
        }
    }
    rest.iter().chain(&m).fold(init, |a, &b| if better(b, a) { b } else { a })
}

/// max of finite values (−∞ for none).
#[inline(always)]
pub fn lanes_max(x: &[f64]) -> f64 {
    lanes_extreme(x, f64::NEG_INFINITY, |a, b| a > b)
}

/// min of finite values (+∞ for none).
#[inline(always)]
pub fn lanes_min(x: &[f64]) -> f64 {
    lanes_extreme(x, f64::INFINITY, |a, b| a < b)
}

/// Σ_i f(a_i, b_i) over the common length (the lane-split dot product and its relatives).
#[inline(always)]
pub fn lanes_sum_pairs<A: Copy, B: Copy>(a: &[A], b: &[B], f: impl Fn(A, B) -> f64) -> f64 {
    let mut acc = [0.0f64; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += f(x[l], y[l]);
        }
    }
    ra.iter().zip(rb).fold(fold_lanes(acc), |s, (&x, &y)| s + f(x, y))
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
