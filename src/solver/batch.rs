//! Tree path for a block of consecutive rows, batched: the rows' scores against the exact band and
//! against the tree's frontier nodes come from two float64 GEMMs, the numerators from two more, and
//! only the frontier nodes a row does not accept are walked one by one ([`super::eval::walk`]).
//!
//! For row i of the block (reference ρ₀ = the largest band or frontier-centre score):
//! * frontier node f (m_f inserted keys, centre score â_f, Δ_f = ‖q_i‖r_f) gets the weight
//!   e_f = e^{â_f − ρ₀}; the certified lower estimate of the row's mass is
//!   $$Z_{low} = Σ_{band} e^{ŝ_j − ρ₀} + Σ_f m_f e_f (1 − Δ_f)_+ ;$$
//! * f is accepted when e_f f(Δ_f)(Â_f + V_{max} m_f) ≤ tol·s·m_f(e_f(1 − Δ_f)_+ + Z_{low}/L) and
//!   e_f f(Δ_f) ≤ ¼(e_f(1 − Δ_f)_+ + Z_{low}/L) (the budget rule of [`super::eval`], with the whole
//!   band and frontier known up front instead of a running estimate) — decisions only;
//! * rejected nodes are walked; if a walked leaf key scores above ρ₀ the row's reference is raised
//!   to ρ = max(ρ₀, walked scores) and its weights are recomputed, so every summed exponent is ≤ 0.
//!
//! The certificate is [`Accum::finish`] with the same terms as the scalar path, except that the node
//! factor is bounded through f(Δ) = e^{Δ} − 1 ≤ Δ·f(Δ_max)/Δ_max for 0 ≤ Δ ≤ Δ_max ((e^{x} − 1)/x
//! increases), one exp per row instead of one per node; T counts every band key, every frontier
//! node (exact zeros for rejected ones) and every walked term.
use super::Prepared;
use super::certificate::{Accum, RowModel, SKIP_BELOW, Terms, node_abs_bound};
use super::dense::{gemm_ab, gemm_abt};
use super::eval::{Running, walk};
use super::tree::Tree;
use crate::theory::fp::U64;
use crate::theory::solver::{first_order_rounding, first_order_scale, node_factor};

/// First-order node terms are used only for Δ ≤ this ([`first_order_scale`] stays ≤ 3).
pub const FIRST_ORDER_MAX_DELTA: f64 = 0.25;

/// The first-order node factor with its rounding: e^Δ − 1 − Δ + γ_{m+d+4}·Δ (rounded up).
fn first_factor(delta: f64, m: usize, d: usize) -> f64 {
    (node_factor(delta, true) + first_order_rounding(m, d) * delta) * (1.0 + 4.0 * U64)
}

/// The tree's frontier nodes with at least one inserted key, gathered contiguously once per chunk.
#[derive(Debug, Default)]
pub struct FrontierBlock {
    pub ids: Vec<u32>,
    /// Centres, F × d.
    pub z: Vec<f64>,
    /// Inserted value sums S, F × dv.
    pub s: Vec<f64>,
    pub m: Vec<f64>,
    pub r: Vec<f64>,
    /// min(max_c A_c(1 + 2γ), m V_max) ([`node_abs_bound`]).
    pub absb: Vec<f64>,
    pub mmax: usize,
}

impl FrontierBlock {
    pub fn gather(tree: &Tree, vmax: f64) -> FrontierBlock {
        let (d, dv) = (tree.d, tree.dv);
        let mut fb = FrontierBlock::default();
        for &id in &tree.frontier {
            let i = id as usize;
            let m = tree.count[i] as usize;
            if m == 0 {
                continue;
            }
            fb.ids.push(id);
            fb.z.extend_from_slice(&tree.z[i * d..(i + 1) * d]);
            fb.s.extend_from_slice(&tree.s[i * dv..(i + 1) * dv]);
            fb.m.push(m as f64);
            fb.r.push(tree.nodes[i].r);
            fb.absb.push(node_abs_bound(tree.amax[i], m, vmax));
            fb.mmax = fb.mmax.max(m);
        }
        fb
    }
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Per-thread buffers.
#[derive(Default)]
pub struct Scratch {
    a: Vec<f64>,
    wf: Vec<f64>,
    /// 0 rejected (walked), 1 accepted (zeroth order), 2 accepted (first order).
    acc: Vec<u8>,
    /// First-order numerator corrections, rows × dv.
    n1: Vec<f64>,
    sb: Vec<f64>,
    pb: Vec<f64>,
    nb: Vec<f64>,
    terms: Terms,
    stack: Vec<(u32, f64)>,
    /// Δ_f = ‖q‖r_f (rounded up) of the current row.
    delta: Vec<f64>,
}

/// Rows `lo..hi` (consecutive query rows, all with ≥ 1 visible key) on the tree path: the tree holds
/// keys [0, band_lo), row i sees [band_lo, L(i)) exactly. Writes each row's output into `out`
/// ((hi − lo) × dv) and its certificate into `cert` (∞ where the row must fall back). Returns the
/// work in key-equivalents and the number of first-order node terms used.
#[allow(clippy::too_many_arguments)]
pub fn tree_rows(
    p: &Prepared<'_>,
    tree: &Tree,
    fb: &FrontierBlock,
    lo: usize,
    hi: usize,
    band_lo: usize,
    tol: f64,
    share: f64,
    out: &mut [f64],
    cert: &mut [f64],
    sc: &mut Scratch,
) -> (usize, usize) {
    let (d, dv, n) = (p.d, p.dv, p.n);
    let r = hi - lo;
    let nf = fb.len();
    let qb = &p.qw[lo * d..hi * d];
    let lim: Vec<usize> = (lo..hi).map(|i| p.mask.keys(i, n).end).collect();
    let lmax = lim.iter().cloned().max().unwrap_or(band_lo).max(band_lo);
    let nbk = lmax - band_lo;
    sc.a.resize(r * nf, 0.0);
    sc.wf.resize(r * nf, 0.0);
    sc.acc.clear();
    sc.acc.resize(r * nf, 0);
    sc.n1.clear();
    sc.n1.resize(r * dv, 0.0);
    let first = tree.moments.is_some();
    sc.sb.resize(r * nbk, 0.0);
    sc.pb.resize(r * nbk, 0.0);
    gemm_abt(r, nf, d, qb, &fb.z, &mut sc.a);
    gemm_abt(r, nbk, d, qb, &p.kw[band_lo * d..lmax * d], &mut sc.sb);
    let (mut work, mut first_terms) = (0usize, 0usize);
    sc.delta.resize(nf, 0.0);
    let mut accs: Vec<(Accum, RowModel)> = Vec::with_capacity(r);
    let mut extras: Vec<Terms> = Vec::with_capacity(r);
    for t in 0..r {
        let i = lo + t;
        let l = lim[t];
        let nb = l - band_lo;
        let qn = p.qnorm[i];
        let arow = &sc.a[t * nf..(t + 1) * nf];
        let srow = &sc.sb[t * nbk..t * nbk + nb];
        let rho0 = arow.iter().chain(srow).cloned().fold(f64::NEG_INFINITY, f64::max);
        // Decisions: weights relative to ρ₀, certified lower mass Z_low.
        let wrow = &mut sc.wf[t * nf..(t + 1) * nf];
        let mut zlow = 0.0f64;
        for (w, &s) in sc.pb[t * nbk..t * nbk + nb].iter_mut().zip(srow) {
            *w = (s - rho0).exp();
            zlow += *w;
        }
        for f in 0..nf {
            let e = (arow[f] - rho0).exp();
            wrow[f] = e;
            let delta = qn * fb.r[f] * (1.0 + 4.0 * U64);
            sc.delta[f] = delta;
            zlow += fb.m[f] * e * (1.0 - delta).max(0.0);
        }
        let inp = p.row_input(i, l, tol, share);
        let ts = tol * share;
        let lf = l as f64;
        let terms = &mut sc.terms;
        terms.clear();
        sc.stack.clear();
        let accrow = &mut sc.acc[t * nf..(t + 1) * nf];
        for f in 0..nf {
            let e = wrow[f];
            let delta = sc.delta[f];
            let fd = if delta <= 1.0 { delta * (1.0 + delta) } else { delta.exp_m1() };
            let own = e * (1.0 - delta).max(0.0) + zlow / lf;
            let test = |fd: f64| {
                fd == 0.0 || (e * fd * (fb.absb[f] + p.vmax * fb.m[f]) <= ts * fb.m[f] * own && e * fd <= 0.25 * own)
            };
            accrow[f] = if test(fd) {
                1
            } else if first && delta <= FIRST_ORDER_MAX_DELTA && test(first_factor(delta, fb.m[f] as usize, d)) {
                2
            } else {
                sc.stack.push((fb.ids[f], arow[f]));
                0
            };
        }
        work += nb + nf;
        if !sc.stack.is_empty() {
            sc.stack.sort_unstable_by(|a, b| a.1.total_cmp(&b.1));
            let mut run = Running { rho: rho0, z: zlow };
            work += walk(&inp, tree, terms, &mut sc.stack, &mut run);
        }
        let rho = terms.leaf.iter().map(|x| x.0).chain(terms.nodes.iter().map(|x| x.0)).fold(rho0, f64::max);
        let model = RowModel { eta: p.eta(i), vmax: p.vmax };
        let mut acc = Accum::new(rho, model);
        // Band weights.
        for (w, &s) in sc.pb[t * nbk..t * nbk + nb].iter_mut().zip(srow) {
            let x = s - rho;
            if x < SKIP_BELOW {
                acc.skip_exact(x);
                *w = 0.0;
            } else {
                if rho != rho0 {
                    *w = x.exp();
                }
                acc.zh += *w;
            }
        }
        sc.pb[t * nbk + nb..(t + 1) * nbk].fill(0.0);
        acc.nterms += nb + nf;
        // Frontier weights.
        let mut dmax = 0.0f64;
        let (mut zm, mut zmd, mut zad) = (0.0f64, 0.0f64, 0.0f64);
        let qrow = &qb[t * d..(t + 1) * d];
        let n1 = &mut sc.n1[t * dv..(t + 1) * dv];
        for f in 0..nf {
            if accrow[f] == 0 {
                wrow[f] = 0.0;
                continue;
            }
            let x = arow[f] - rho;
            let delta = sc.delta[f];
            if x < SKIP_BELOW {
                acc.skip_node(x, delta, fb.m[f] as usize);
                wrow[f] = 0.0;
                continue;
            }
            if rho != rho0 {
                wrow[f] = x.exp();
            }
            let w = wrow[f];
            acc.mmax = acc.mmax.max(fb.m[f] as usize);
            if accrow[f] == 2 {
                // First order: Ẑ gains w·q·D̂, N̂ gains w·M̂ᵀq; errors with f = e^Δ − 1 − Δ + γΔ.
                let (dm, mm) = tree.node_moments(fb.ids[f] as usize).expect("first-order node has moments");
                let fd = first_factor(delta, fb.m[f] as usize, d);
                let z1: f64 = qrow.iter().zip(dm).map(|(a, b)| a * b).sum();
                acc.zh += w * z1;
                for (l, &ql) in qrow.iter().enumerate() {
                    let wq = w * ql;
                    for (o, &m) in n1.iter_mut().zip(&mm[l * dv..(l + 1) * dv]) {
                        *o += wq * m;
                    }
                }
                acc.nterms += 1;
                first_terms += 1;
                acc.scale = acc.scale.max(first_order_scale(delta));
                zm += w * fb.m[f];
                acc.ez += w * fb.m[f] * fd;
                acc.en_all += w * fd * fb.absb[f];
                continue;
            }
            dmax = dmax.max(delta);
            zm += w * fb.m[f];
            zmd += w * fb.m[f] * delta;
            zad += w * fb.absb[f] * delta;
        }
        // f(Δ) ≤ g·Δ with g = f(Δ_max)/Δ_max (rounded up: node_factor's 1 + 64u, and 2u for the division).
        let g = if dmax > 0.0 { node_factor(dmax, false) / dmax * (1.0 + 2.0 * U64) } else { 0.0 };
        acc.zh += zm;
        acc.ez += g * zmd;
        acc.en_all += g * zad;
        accs.push((acc, model));
        extras.push(std::mem::take(terms));
    }
    // Numerators: N = W·S_F + P·V_band.
    sc.nb.clear();
    sc.nb.resize(r * dv, 0.0);
    gemm_ab(r, dv, nf, &sc.wf, nf, &fb.s, &mut sc.nb, false);
    gemm_ab(r, dv, nbk, &sc.pb, nbk, &p.vw[band_lo * dv..lmax * dv], &mut sc.nb, true);
    for (t, ((mut acc, model), ex)) in accs.into_iter().zip(extras).enumerate() {
        let o = &mut out[t * dv..(t + 1) * dv];
        for ((o, &a), &b) in o.iter_mut().zip(&sc.nb[t * dv..(t + 1) * dv]).zip(&sc.n1[t * dv..(t + 1) * dv]) {
            *o = a + b;
        }
        acc.add_terms(&ex, tree, p.vmax, o);
        cert[t] = acc.finish(model, o);
        sc.terms = ex;
    }
    (work, first_terms)
}
