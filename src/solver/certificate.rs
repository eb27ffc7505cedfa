//! Pass 2 of a row: sum the terms chosen by the traversal ([`super::eval`]) with one fixed reference
//! ρ = the largest exponent among them, and certify the result.
//!
//! Terms: exact keys (score ŝ_j, value row) and accepted nodes (centre score â, Δ = ‖q‖r, node id).
//! With x = ŝ − ρ or â − ρ (all ≤ 0):
//! $$Ẑ = Σ_{exact} e^{x_j} + Σ_{nodes} m e^{x},\qquad N̂_c = Σ_{exact} e^{x_j} v_{jc} + Σ_{nodes} e^{x} S_c,$$
//! $$E_Z = e^{θ}Σ_{nodes} e^{x} m f(Δ) + κ_Z Ẑ + \text{skipped},\qquad
//!   E_{N,c} = e^{θ}Σ_{nodes} e^{x} f(Δ) \max_c A_c + κ_N V_{max} Ẑ + V_{max}\cdot\text{skipped},$$
//! f(Δ) = e^{Δ} − 1 (zeroth order), and the certificate ε = max_c (E_{N,c} + |ô_c|E_Z)/(Ẑ − E_Z) + u|ô_c|,
//! times [`bound_slack`]. Every constant is from [`crate::theory::solver`], whose module doc states
//! the rounding model.
use super::tree::Tree;
use crate::theory::fp::{U64, gamma};
use crate::theory::solver::{bound_slack, component_bound, node_factor, rounding_terms, weight_theta};

/// Exponent below which a term is not summed (its size is added to the error instead).
pub const SKIP_BELOW: f64 = -700.0;
/// Absolute error per floating-point operation with a subnormal result (2⁻¹⁰⁷⁴, rounded up).
const SUBNORMAL: f64 = 5e-324;

/// The terms of one row, filled by the traversal.
#[derive(Debug, Default)]
pub struct Terms {
    /// (ŝ, row index into the widened v of the head) — band / exact-path keys.
    pub band: Vec<(f64, u32)>,
    /// (ŝ, index into `tree.vperm`) — keys of exact leaves.
    pub leaf: Vec<(f64, u32)>,
    /// (â, Δ, node id) — accepted nodes.
    pub nodes: Vec<(f64, f64, u32)>,
}

impl Terms {
    pub fn clear(&mut self) {
        self.band.clear();
        self.leaf.clear();
        self.nodes.clear();
    }
    pub fn len(&self) -> usize {
        self.band.len() + self.leaf.len() + self.nodes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Row-level constants of the rounding model.
#[derive(Debug, Clone, Copy)]
pub struct RowModel {
    /// Score error bound η ([`crate::theory::solver::score_error`]).
    pub eta: f64,
    /// max_j |v_jc| over all keys and components.
    pub vmax: f64,
}

/// Sum the terms into `o` (length dv) and return the certificate ε (∞ when nothing is certified;
/// 0 terms give ε = ∞ as well).
pub fn sum_and_certify(
    terms: &Terms,
    vw: &[f64],
    tree: Option<&Tree>,
    dv: usize,
    model: RowModel,
    o: &mut [f64],
    scratch: &mut Vec<f64>,
) -> f64 {
    o.iter_mut().for_each(|x| *x = 0.0);
    if terms.is_empty() {
        return f64::INFINITY;
    }
    let rho = terms
        .band
        .iter()
        .chain(&terms.leaf)
        .map(|t| t.0)
        .chain(terms.nodes.iter().map(|t| t.0))
        .fold(f64::NEG_INFINITY, f64::max);
    let theta = weight_theta(model.eta);
    let mut zh = 0.0f64;
    let mut skipped = 0.0f64;
    // scratch: en_approx per component.
    scratch.clear();
    scratch.resize(dv, 0.0);
    let en = &mut scratch[..];
    let mut ez = 0.0f64;
    let mut en_all = 0.0f64;
    let mut mmax = 1usize;
    let add_exact = |s: f64, vrow: &[f64], o: &mut [f64], zh: &mut f64, skipped: &mut f64| {
        let x = s - rho;
        if x < SKIP_BELOW {
            // (1 + 1e-12) covers u·|x| ≤ 745u of the exponent beyond θ's 703u.
            *skipped += (x + theta).exp() * (1.0 + 1e-12) + SUBNORMAL;
            return;
        }
        let w = x.exp();
        *zh += w;
        for (oc, vc) in o.iter_mut().zip(vrow) {
            *oc += w * vc;
        }
    };
    for &(s, j) in &terms.band {
        let j = j as usize;
        add_exact(s, &vw[j * dv..(j + 1) * dv], o, &mut zh, &mut skipped);
    }
    if let Some(t) = tree {
        for &(s, j) in &terms.leaf {
            let j = j as usize;
            add_exact(s, &t.vperm[j * dv..(j + 1) * dv], o, &mut zh, &mut skipped);
        }
        for &(a, delta, id) in &terms.nodes {
            let id = id as usize;
            let m = t.count[id] as usize;
            mmax = mmax.max(m);
            let f = node_factor(delta, false);
            let x = a - rho;
            if x < SKIP_BELOW {
                skipped += m as f64 * ((x + theta + delta).min(700.0)).exp() * (1.0 + 1e-12) + m as f64 * SUBNORMAL;
                continue;
            }
            let w = x.exp();
            zh += m as f64 * w;
            ez += w * m as f64 * f;
            let s = &t.s[id * dv..(id + 1) * dv];
            let ab = &t.a[id * dv..(id + 1) * dv];
            // A_c as stored is a sum of m non-negative values: true A_c ≤ Â_c(1 + 2γ_m), and ≤ m·Vmax.
            let up = 1.0 + 2.0 * gamma(m + 1, U64);
            let mv = m as f64 * model.vmax;
            for c in 0..dv {
                o[c] += w * s[c];
            }
            // One bound for all components: max_c A_c (saves dv operations per node).
            let _ = ab;
            en_all += w * f * (t.amax[id] * up).min(mv);
        }
    }
    let nterms = terms.len();
    let (kz, kn) = rounding_terms(theta, nterms, mmax);
    let et = theta.exp() * (1.0 + 4.0 * U64);
    let sub = (nterms + mmax + 4) as f64 * SUBNORMAL * 4.0;
    let e_z = ez * et + kz * zh + skipped + sub;
    let slack = bound_slack(nterms, dv);
    let mut eps = 0.0f64;
    for c in 0..dv {
        let oc = o[c] / zh;
        let e_n = (en[c] + en_all) * et + kn * model.vmax * zh + skipped * model.vmax + sub * (1.0 + model.vmax);
        eps = eps.max(component_bound(e_n, oc.abs(), e_z, zh));
        o[c] = oc;
    }
    if !(eps.is_finite()) || !zh.is_finite() {
        return f64::INFINITY;
    }
    eps * slack
}
