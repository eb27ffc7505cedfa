//! Taylor truncation of exp (theorem `taylor.slow`).
//!
//! For t ≥ 0 the relative error of the degree-N Taylor polynomial T_N is exactly a Poisson tail:
//! $$\frac{e^t − T_N(t)}{e^t} = \sum_{k>N} e^{−t}\frac{t^k}{k!} = P[\mathrm{Pois}(t) > N].$$
//! Hence the degree N(t, ε) needed for relative error ε satisfies
//! * N(t, ε) ≥ t − 2 for every ε < 1/2 (the median of Pois(t) is ≥ t − ln 2, so P[Pois(t) > N] ≥ 1/2
//!   for N < t − 1 − ln 2);
//! * N(t, ε) ≤ max(e²·t, ln(1/ε)) (Chernoff: P[Pois(t) ≥ N] ≤ e^{−t}(et/N)^N ≤ e^{−t−N} for N ≥ e²t).
//!
//! It grows linearly in |t| — the note's "converges slowly". For t < 0 the remainder satisfies
//! |e^t − T_N(t)| ≤ Σ_{k>N}|t|^k/k! = e^{|t|}P[Pois(|t|) > N], a relative error of up to
//! e^{2|t|}P[Pois(|t|) > N] (cancellation among alternating terms), so even more degree is needed.
use statrs::distribution::{DiscreteCDF, Poisson};
use statrs::function::gamma::ln_gamma;

/// P[Pois(t) > n] = Σ_{k>n} e^{−t} t^k / k! (the relative Taylor error for t > 0), summed directly
/// from k = n + 1 in log domain: a sum of positive terms, relative error ≤ γ_{K+4} for K terms (with
/// lnΓ from statrs for the first term).
pub fn poisson_tail(t: f64, n: u64) -> f64 {
    if t <= 0.0 {
        return 0.0;
    }
    let k0 = n + 1;
    let mut term = (-t + k0 as f64 * t.ln() - ln_gamma(k0 as f64 + 1.0)).exp();
    let mut sum = 0.0;
    let mut k = k0;
    loop {
        sum += term;
        k += 1;
        term *= t / k as f64;
        if (k as f64 > t && term <= sum * 1e-18) || term == 0.0 || k > n + 1_000_000 {
            break;
        }
    }
    sum
}

/// The same tail from statrs' Poisson survival function (regularised incomplete gamma), for
/// cross-checking [`poisson_tail`].
pub fn poisson_tail_statrs(t: f64, n: u64) -> f64 {
    Poisson::new(t).map(|p| p.sf(n)).unwrap_or(f64::NAN)
}

/// Smallest degree N with P[Pois(t) > N] ≤ ε (t ≥ 0).
pub fn degree_needed(t: f64, eps: f64) -> u64 {
    if t <= 0.0 {
        return 0;
    }
    // The tail is decreasing in N; bisection between 0 and the Chernoff upper bound.
    let mut hi = degree_upper_bound(t, eps).ceil() as u64 + 1;
    while poisson_tail(t, hi) > eps {
        hi *= 2;
    }
    let mut lo = 0u64;
    if poisson_tail(t, lo) <= eps {
        return 0;
    }
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if poisson_tail(t, mid) <= eps { hi = mid } else { lo = mid }
    }
    hi
}

/// max(e²t, ln(1/ε)): a degree that always suffices.
pub fn degree_upper_bound(t: f64, eps: f64) -> f64 {
    (std::f64::consts::E.powi(2) * t).max((1.0 / eps).ln())
}

/// t − 2: a degree below which relative error ≥ 1/2.
pub fn degree_lower_bound(t: f64) -> f64 {
    t - 2.0
}

/// Smallest N whose bound e^{2|t|}·P[Pois(|t|) > N] on the relative error for t < 0 is ≤ ε.
pub fn degree_sufficient_negative(t: f64, eps: f64) -> u64 {
    let a = t.abs();
    degree_needed(a, eps * (-2.0 * a).exp())
}
