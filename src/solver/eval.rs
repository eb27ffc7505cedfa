//! The scalar tree walk of one row, for the frontier nodes a row of [`super::batch`] rejects: depth
//! first, higher centre score first. A node with m keys, centre score a and Δ = ‖q‖r (relative to the
//! running reference ρ and running estimate Ẑ_run of the row's partition function) is accepted when
//! $$e^{a−ρ} f(Δ)\,(\max_c A_c + V_{max} m) ≤ \text{tol}\cdot s\cdot\big(m e^{a−Δ−ρ} + Ẑ_{run} m/L\big),\qquad
//!   e^{a−ρ} f(Δ) ≤ \tfrac14\big(e^{a−Δ−ρ} + Ẑ_{run}/L\big)$$
//! (s = `share`, f(Δ) = e^{Δ} − 1): the error charged to a node is at most tol·s times its own
//! certified mass m e^{a−Δ} plus its share m/L of the mass found so far, so the accepted errors sum
//! to ≲ 2·s·tol·Z. This is a heuristic for *which* terms to take; soundness rests only on the
//! certificate ([`super::certificate::Accum`]), which recomputes every bound; the row falls back to
//! exact when ε > tol. Leaves are evaluated exactly. Work is counted in key-equivalents: one per
//! exact key and one per centre score.
use super::certificate::Terms;
use super::tree::Tree;
use crate::theory::solver::delta_scale;

/// Dot product of f64 rows with 8 partial sums (any summation order has the γ_d bound).
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    dot_with(a, b, |y| y)
}

/// q·k for an f32 key row (widened exactly), same summation order as [`dot`].
pub fn dot_f32(a: &[f64], b: &[f32]) -> f64 {
    dot_with(a, b, |y| y as f64)
}

#[inline(always)]
fn dot_with<T: Copy>(a: &[f64], b: &[T], w: impl Fn(T) -> f64) -> f64 {
    super::lanes::lanes_sum_pairs(a, b, |x, y| x * w(y))
}

/// A bound of e^Δ − 1 for decisions: Δ(1 + Δ) for Δ ≤ 1 (e^Δ − 1 ≤ Δ + (e − 2)Δ²), e^Δ − 1 beyond.
#[inline(always)]
pub fn decision_factor(delta: f64) -> f64 {
    if delta <= 1.0 { delta * (1.0 + delta) } else { delta.exp_m1() }
}

/// A node's own certified mass share plus the row's average: e(1 − Δ)_+ + Ẑ/L (e^{−Δ} ≥ 1 − Δ).
#[inline(always)]
pub fn own_mass(e: f64, delta: f64, z_per_key: f64) -> f64 {
    let h = 1.0 - delta;
    e * (if h > 0.0 { h } else { 0.0 }) + z_per_key
}

/// The budget rule (decisions only): a node of m keys with weight e = e^{â − ρ}, factor bound
/// `fd` and `err_scale` ≥ Â + Vmax·m is accepted when fd = 0, or e·fd·err_scale ≤ ts·m·own and
/// e·fd ≤ ¼·own (`own` from [`own_mass`], ts = tol·share). Branch-free, so it vectorises.
#[inline(always)]
pub fn budget_accepts(e: f64, fd: f64, err_scale: f64, m: f64, ts: f64, own: f64) -> bool {
    (fd == 0.0) | ((e * fd * err_scale <= ts * m * own) & (e * fd <= 0.25 * own))
}

/// Running log-domain partition function (decisions only): Ẑ_run·e^{ρ}.
pub struct Running {
    pub rho: f64,
    pub z: f64,
}

impl Running {
    pub fn add(&mut self, x: f64, m: f64) {
        if self.z == 0.0 {
            self.rho = x;
            self.z = m;
        } else if x > self.rho {
            self.z = self.z * (self.rho - x).exp() + m;
            self.rho = x;
        } else {
            self.z += m * (x - self.rho).exp();
        }
    }
}

/// Inputs of one row's traversal.
pub struct RowInput<'a> {
    pub q: &'a [f64],
    /// ‖q‖ rounded up.
    pub qnorm: f64,
    /// Keys [0, limit) are visible to this row.
    pub limit: usize,
    pub d: usize,
    pub vmax: f64,
    pub tol: f64,
    pub share: f64,
}

/// Depth-first walk from the nodes on `stack` (node id, centre score; popped from the end), with the
/// running partition estimate `run` (ρ, Ẑ_run; Ẑ_run = 0 for none). Appends leaf keys and accepted
/// nodes to `terms`; returns the work in key-equivalents.
pub fn walk(
    inp: &RowInput<'_>,
    tree: &Tree,
    terms: &mut Terms,
    stack: &mut Vec<(u32, f64)>,
    run: &mut Running,
) -> usize {
    let d = inp.d;
    let l = inp.limit as f64;
    let ts = inp.tol * inp.share;
    let mut work = 0;
    while let Some((id, a)) = stack.pop() {
        let i = id as usize;
        let m = tree.count[i] as usize;
        if m == 0 {
            continue;
        }
        let nd = tree.nodes[i];
        if nd.is_leaf() {
            for t in nd.lo as usize..nd.lo as usize + m {
                let s = dot_f32(inp.q, &tree.kperm[t * d..(t + 1) * d]);
                terms.leaf.push((s, t as u32));
                run.add(s, 1.0);
            }
            work += m;
            continue;
        }
        let delta = delta_scale(inp.qnorm) * nd.r;
        // Linear-domain test with one exp (decisions only).
        let f = decision_factor(delta);
        let mf = m as f64;
        let x = if run.z == 0.0 { 0.0 } else { a - run.rho };
        let accept = f == 0.0
            || (x <= 600.0 && {
                let ex = x.exp();
                budget_accepts(ex, f, tree.amax[i] + inp.vmax * mf, mf, ts, own_mass(ex, delta, run.z / l))
            });
        if accept {
            terms.nodes.push((a, delta, id));
            run.add(a, mf);
            continue;
        }
        let (lc, rc) = (nd.left, nd.right);
        let al = dot(inp.q, tree.centre(lc as usize));
        let ar = dot(inp.q, tree.centre(rc as usize));
        work += 2;
        if al >= ar {
            stack.push((rc, ar));
            stack.push((lc, al));
        } else {
            stack.push((lc, al));
            stack.push((rc, ar));
        }
    }
    work
}
