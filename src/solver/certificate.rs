//! The row certificate ([`Accum`]): sum exact keys and accepted nodes relative to one fixed reference
//! ρ = the largest exponent among them (so every x below is ≤ 0), and certify
//! the result; used by the batched tree path ([`super::batch`]) and the float64 exact path
//! ([`super::dense`]).
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
    /// (ŝ, leaf-order index t: the key at position `tree.perm[t]`) — keys of exact leaves.
    pub leaf: Vec<(f64, u32)>,
    /// (â, Δ, node id) — accepted nodes.
    pub nodes: Vec<(f64, f64, u32)>,
}

impl Terms {
    pub fn clear(&mut self) {
        self.leaf.clear();
        self.nodes.clear();
    }
    pub fn len(&self) -> usize {
        self.leaf.len() + self.nodes.len()
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

/// Running sums of one row relative to a fixed reference ρ (see the module doc): Ẑ, the numerator
/// (in the caller's `o`), the node-error sums and the skipped mass.
#[derive(Debug, Clone, Copy)]
pub struct Accum {
    pub rho: f64,
    pub theta: f64,
    pub zh: f64,
    pub skipped: f64,
    /// Σ_nodes e^{x} m f(Δ).
    pub ez: f64,
    /// Σ_nodes e^{x} f(Δ) min(max_c A_c (1 + 2γ_{m+1}), m Vmax).
    pub en_all: f64,
    /// Number of summed terms T (an upper bound: exact zeros may be counted).
    pub nterms: usize,
    /// Largest node count m among the terms (≥ 1).
    pub mmax: usize,
    /// ≥ 1: bound of Σ|summed terms| relative to Ẑ (resp. Vmax·Ẑ) — 1 without first-order nodes
    /// ([`crate::theory::solver::first_order_scale`]).
    pub scale: f64,
    /// Extra numerator rounding relative to Vmax·Ẑ·scale (float32 block products:
    /// [`crate::theory::solver::numerator_rounding_f32`]; 0 otherwise).
    pub kn_extra: f64,
    /// Extra absolute numerator error (float32 underflow allowances).
    pub en_abs: f64,
}

impl Accum {
    pub fn new(rho: f64, model: RowModel) -> Accum {
        Accum {
            rho,
            theta: weight_theta(model.eta),
            zh: 0.0,
            skipped: 0.0,
            ez: 0.0,
            en_all: 0.0,
            nterms: 0,
            mmax: 1,
            scale: 1.0,
            kn_extra: 0.0,
            en_abs: 0.0,
        }
    }

    /// Add one exact key (score ŝ, value row) to Ẑ and the numerator `o`.
    #[inline]
    pub fn add_exact(&mut self, s: f64, vrow: &[f32], o: &mut [f64]) {
        self.nterms += 1;
        let x = s - self.rho;
        if x < SKIP_BELOW {
            self.skip_exact(x);
            return;
        }
        let w = x.exp();
        self.zh += w;
        for (oc, &vc) in o.iter_mut().zip(vrow) {
            *oc += w * vc as f64;
        }
    }

    /// Mass of an exact key term below the skip threshold (not summed).
    #[inline]
    pub fn skip_exact(&mut self, x: f64) {
        // (1 + 1e-12) covers u·|x| ≤ 745u of the exponent beyond θ's 703u.
        self.skipped += (x + self.theta).exp() * (1.0 + 1e-12) + SUBNORMAL;
    }

    /// Mass of a node term below the skip threshold (not summed).
    #[inline]
    pub fn skip_node(&mut self, x: f64, delta: f64, m: usize) {
        self.skipped += m as f64 * ((x + self.theta + delta).min(700.0)).exp() * (1.0 + 1e-12) + m as f64 * SUBNORMAL;
    }

    /// Add one accepted node (centre score â, Δ, node id) of `t`.
    pub fn add_node(&mut self, t: &Tree, a: f64, delta: f64, id: usize, vmax: f64, o: &mut [f64]) {
        let dv = o.len();
        self.nterms += 1;
        let m = t.count[id] as usize;
        self.mmax = self.mmax.max(m);
        let f = node_factor(delta, false);
        let x = a - self.rho;
        if x < SKIP_BELOW {
            self.skip_node(x, delta, m);
            return;
        }
        let w = x.exp();
        self.zh += m as f64 * w;
        self.ez += w * m as f64 * f;
        let s = &t.s[id * dv..(id + 1) * dv];
        for c in 0..dv {
            o[c] += w * s[c];
        }
        // One bound for all components: max_c A_c (saves dv operations per node).
        self.en_all += w * f * node_abs_bound(t.amax[id], m, vmax);
    }

    /// Turn the numerator `o` into the output ô = N̂/Ẑ and return the certificate ε (∞ when nothing
    /// is certified).
    #[inline(always)]
    pub fn finish(&self, model: RowModel, o: &mut [f64]) -> f64 {
        let dv = o.len();
        if self.nterms == 0 || !self.zh.is_finite() {
            return f64::INFINITY;
        }
        let (kz, kn) = rounding_terms(self.theta, self.nterms, self.mmax);
        let (kz, kn) = (kz * self.scale, kn * self.scale);
        let et = self.theta.exp() * (1.0 + 4.0 * U64);
        let sub = (self.nterms + self.mmax + 4) as f64 * SUBNORMAL * 4.0;
        let e_z = self.ez * et + kz * self.zh + self.skipped + sub;
        let slack = bound_slack(self.nterms, dv);
        // E_N,c is the same for every component and the component bound increases with |ô_c| (each
        // rounded operation is monotone), so the largest |ô_c| gives the row's bound, bit for bit.
        let zh = self.zh;
        // Two passes without a loop-carried branch, so that both vectorise where this is inlined
        // into a per-ISA body ([`super::batch::tree_rows`]).
        for oc in o.iter_mut() {
            *oc /= zh;
        }
        let (finite, xmax) = crate::theory::fp::scan(o);
        if !finite {
            return f64::INFINITY;
        }
        let e_n = self.en_all * et
            + (kn + self.kn_extra * self.scale) * model.vmax * zh
            + self.en_abs
            + self.skipped * model.vmax
            + sub * (1.0 + model.vmax);
        let eps = component_bound(e_n, xmax, e_z, zh);
        if !eps.is_finite() {
            return f64::INFINITY;
        }
        eps * slack
    }
}

/// Bound of max_c Σ_j |v_jc| over a node's m inserted keys from the stored Â = max_c A_c: a sum of m
/// non-negative values, so true A_c ≤ Â(1 + 2γ_{m+1}); and ≤ m·Vmax.
#[inline]
pub fn node_abs_bound(amax: f64, m: usize, vmax: f64) -> f64 {
    (amax * (1.0 + 2.0 * gamma(m + 1, U64))).min(m as f64 * vmax)
}

impl Accum {
    /// Add every term of `terms` (leaf keys and nodes index `tree`; `v` the head's values by position).
    pub fn add_terms(&mut self, terms: &Terms, tree: &Tree, v: &[f32], vmax: f64, o: &mut [f64]) {
        let dv = o.len();
        for &(s, t) in &terms.leaf {
            let j = tree.perm[t as usize] as usize;
            self.add_exact(s, &v[j * dv..(j + 1) * dv], o);
        }
        for &(a, delta, id) in &terms.nodes {
            self.add_node(tree, a, delta, id as usize, vmax, o);
        }
    }
}
