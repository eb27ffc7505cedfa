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
//! * weights e^{x} of whole rows by the vectorised [`super::exp64::exp_neg_f64_slice`] (its error is
//!   part of θ, [`crate::theory::solver::weight_theta`]);
//! * rejected nodes are walked; if a walked leaf key scores above ρ₀ the row's reference is raised
//!   to ρ = max(ρ₀, walked scores) and its weights are recomputed, so every summed exponent is ≤ 0.
//!
//! The certificate is [`Accum::finish`] with the same terms as the scalar path, except that the node
//! factor is bounded through f(Δ) = e^{Δ} − 1 ≤ Δ·f(Δ_max)/Δ_max for 0 ≤ Δ ≤ Δ_max ((e^{x} − 1)/x
//! increases), one exp per row instead of one per node; T counts every band key, every frontier
//! node (exact zeros for rejected ones) and every walked term.
use super::Prepared;
use super::certificate::{Accum, RowModel, SKIP_BELOW, Terms, node_abs_bound};
use super::dense::{gemm_ab, gemm_ab_f32, gemm_abt, gemm_abt_f32};
use super::eval::{Running, budget_accepts, dot, own_mass, walk};
use super::exp64::exp_neg_f64;
use super::frontier_simd;
use super::lanes::{LANES, fold_lanes, lanes_max, lanes_min, lanes_sum, lanes_sum_above, shifted_exp};
use super::tree::Tree;
use crate::reference::widen_into;
use crate::theory::fp::U64;
use crate::theory::solver::{
    delta_scale, first_order_rounding, first_order_scale, first_order_underflow, node_factor, numerator_rounding_f32,
    numerator_underflow_f32, score_error_f32,
};

/// First-order node terms are used only for Δ ≤ this ([`first_order_scale`] stays ≤ 3).
pub const FIRST_ORDER_MAX_DELTA: f64 = 0.25;

/// The first-order node factor with its rounding: e^Δ − 1 − Δ + γ₃₂(m+d+4)·Δ (rounded up).
fn first_factor(delta: f64, m: usize, d: usize) -> f64 {
    (node_factor(delta, true) + first_order_rounding(m, d) * delta) * (1.0 + 4.0 * U64)
}

/// The tree's frontier nodes with at least one inserted key, contiguously: built once per probe
/// ([`FrontierBlock::gather`]) or kept across the solve's chunks ([`FrontierBlock::sync`]: a node
/// enters when it receives its first key, and only the nodes an insertion touched are updated —
/// centres and radii never change).
#[derive(Debug, Default)]
pub struct FrontierBlock {
    /// Keep the float64 centres and sums (`z`, `s`: the float64 block products); without, they stay
    /// empty and only their f32 roundings are kept.
    pub wide: bool,
    pub ids: Vec<u32>,
    /// Centres, F × d (when `wide`), and rounded to f32 (the float32 block products).
    pub z: Vec<f64>,
    /// The f32 centres transposed, d × `cap` (column f = centre f, zero beyond the block's
    /// length): gemm reads them in place ([`super::dense::gemm_ab_f32`] with `ldb` = `cap`).
    pub zt32: Vec<f32>,
    /// Columns of `zt32`: a multiple of [`ZT_COLS`] ≥ len.
    pub cap: usize,
    /// Inserted value sums S, F × dv (when `wide`), and rounded to f32.
    pub s: Vec<f64>,
    pub s32: Vec<f32>,
    pub m: Vec<f64>,
    pub r: Vec<f64>,
    /// min(max_c A_c(1 + 2γ), m V_max) ([`node_abs_bound`]).
    pub absb: Vec<f64>,
    pub mmax: usize,
    /// Frontier index → slot in this block (u32::MAX: not in it yet).
    slot: Vec<u32>,
}

impl FrontierBlock {
    /// An empty block; `wide`: keep the float64 centres and sums too.
    pub fn new(wide: bool) -> FrontierBlock {
        FrontierBlock { wide, ..Default::default() }
    }

    /// Every non-empty frontier node, in frontier order.
    pub fn gather(tree: &Tree, vmax: f64, wide: bool) -> FrontierBlock {
        let mut fb = FrontierBlock::new(wide);
        let all: Vec<u32> = (0..tree.frontier.len() as u32).collect();
        fb.sync(tree, vmax, &all);
        fb
    }

    /// Bring the nodes of frontier indices `touched` up to date with `tree` (appending those that
    /// are new and non-empty).
    pub fn sync(&mut self, tree: &Tree, vmax: f64, touched: &[u32]) {
        let (d, dv) = (tree.d, tree.dv);
        if self.slot.len() != tree.frontier.len() {
            self.slot = vec![u32::MAX; tree.frontier.len()];
        }
        for &fi in touched {
            let i = tree.frontier[fi as usize] as usize;
            let m = tree.count[i] as usize;
            if m == 0 {
                continue;
            }
            let at = match self.slot[fi as usize] {
                u32::MAX => {
                    self.slot[fi as usize] = self.ids.len() as u32;
                    self.ids.push(i as u32);
                    if self.wide {
                        self.z.extend_from_slice(&tree.z[i * d..(i + 1) * d]);
                        self.s.extend_from_slice(&tree.s[i * dv..(i + 1) * dv]);
                    }
                    let f = self.ids.len() - 1;
                    if f >= self.cap {
                        let cap = (2 * self.cap).max(ZT_COLS * 4).div_ceil(ZT_COLS) * ZT_COLS;
                        let mut zt = vec![0f32; d * cap];
                        for c in 0..d {
                            zt[c * cap..c * cap + self.cap]
                                .copy_from_slice(&self.zt32[c * self.cap..(c + 1) * self.cap]);
                        }
                        (self.zt32, self.cap) = (zt, cap);
                    }
                    for (c, &x) in tree.z[i * d..(i + 1) * d].iter().enumerate() {
                        self.zt32[c * self.cap + f] = x as f32;
                    }
                    self.s32.extend(tree.s[i * dv..(i + 1) * dv].iter().map(|&x| x as f32));
                    self.m.push(0.0);
                    self.r.push(tree.nodes[i].r);
                    self.absb.push(0.0);
                    self.ids.len() - 1
                }
                a => {
                    let a = a as usize;
                    if self.wide {
                        self.s[a * dv..(a + 1) * dv].copy_from_slice(&tree.s[i * dv..(i + 1) * dv]);
                    }
                    for (x, &y) in self.s32[a * dv..(a + 1) * dv].iter_mut().zip(&tree.s[i * dv..(i + 1) * dv]) {
                        *x = y as f32;
                    }
                    a
                }
            };
            self.m[at] = m as f64;
            self.absb[at] = node_abs_bound(tree.amax[i], m, vmax);
            self.mmax = self.mmax.max(m);
        }
    }
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Column granularity of [`FrontierBlock::zt32`]: the float32 vector width of AVX-512, so that the
/// score GEMM's column count is a multiple of it and gemm does not pack the centres.
pub const ZT_COLS: usize = 16;

/// The exact band of a chunk: keys and values [lo, lo + k.len()/d) widened to f64 (n_b × d, n_b × dv).
pub struct Band<'a> {
    pub lo: usize,
    /// The f32 inputs.
    pub k32: &'a [f32],
    pub v32: &'a [f32],
    /// Widened (empty for float32 block products).
    pub k: &'a [f64],
    pub v: &'a [f64],
}

impl<'a> Band<'a> {
    /// Keys and values [lo, hi) of `p` with buffers already widened by [`Band::widen`] (unused for
    /// `f32_products`).
    pub fn view(
        p: &'a Prepared<'_>,
        lo: usize,
        hi: usize,
        kb: &'a [f64],
        vb: &'a [f64],
        f32_products: bool,
    ) -> Band<'a> {
        let (ks, vs) = (&p.k32[lo * p.d..hi * p.d], &p.v32[lo * p.dv..hi * p.dv]);
        if f32_products {
            Band { lo, k32: ks, v32: vs, k: &[], v: &[] }
        } else {
            Band { lo, k32: ks, v32: vs, k: kb, v: vb }
        }
    }
    /// Keys and values [lo, hi) of `p`, widened into the buffers unless `f32_products`.
    pub fn widen(
        p: &'a Prepared<'_>,
        lo: usize,
        hi: usize,
        kb: &'a mut Vec<f64>,
        vb: &'a mut Vec<f64>,
        f32_products: bool,
    ) -> Band<'a> {
        if !f32_products {
            let (ks, vs) = (&p.k32[lo * p.d..hi * p.d], &p.v32[lo * p.dv..hi * p.dv]);
            kb.resize(ks.len(), 0.0);
            vb.resize(vs.len(), 0.0);
            widen_into(ks, kb);
            widen_into(vs, vb);
        }
        Band::view(p, lo, hi, kb, vb, f32_products)
    }
}

/// What [`tree_rows`] did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    /// Work in key-equivalents.
    pub work: usize,
    /// First-order node terms used.
    pub first_order_terms: usize,
    /// Without moments: nodes rejected at zeroth order with Δ ≤ [`FIRST_ORDER_MAX_DELTA`], which
    /// first-order terms might have accepted.
    pub first_order_candidates: usize,
    /// Rows whose every frontier node was accepted by the fused pass (`Rows::fused`).
    pub fused_rows: usize,
}

impl std::ops::Add for Outcome {
    type Output = Outcome;
    fn add(self, o: Outcome) -> Outcome {
        Outcome {
            work: self.work + o.work,
            first_order_terms: self.first_order_terms + o.first_order_terms,
            first_order_candidates: self.first_order_candidates + o.first_order_candidates,
            fused_rows: self.fused_rows + o.fused_rows,
        }
    }
}

/// Per-thread buffers.
#[derive(Default)]
pub struct Scratch {
    a: Vec<f64>,
    wf: Vec<f64>,
    /// 0 rejected (walked), 1 accepted (zeroth order), 2 accepted (first order); f64 so that the
    /// passes over it vectorise with the other frontier arrays.
    acc: Vec<f64>,
    /// First-order numerator corrections, rows × dv.
    n1: Vec<f64>,
    sb: Vec<f64>,
    pb: Vec<f64>,
    nb: Vec<f64>,
    /// Per row of the block: walked terms, and the certificate accumulator with its model.
    terms: Vec<Terms>,
    accs: Vec<(Accum, RowModel)>,
    /// Per row of the block: L(i).
    lim: Vec<usize>,
    stack: Vec<(u32, f64)>,
    /// Δ_f = ‖q‖r_f (rounded up) of the current row.
    delta: Vec<f64>,
    /// First-order terms of the block as (frontier index f, row t, weight w), and the rows w·q_t
    /// and products (w·q_t)ᵀM̂_f of one node's group.
    fo: Vec<(u32, u32, f64)>,
    /// The block's queries in f64.
    qb: Vec<f64>,
    fo_x: Vec<f32>,
    fo_y: Vec<f32>,
    /// Per row of the block: the maximum of its frontier scores, from the widening pass (fused
    /// passes with float32 products; empty otherwise).
    amax: Vec<f64>,
    /// Float32 block products: scores, weights and numerators.
    a32: Vec<f32>,
    s32: Vec<f32>,
    w32: Vec<f32>,
    n32: Vec<f32>,
}

per_isa! {
    /// Rows `lo..hi` (consecutive query rows, all with ≥ 1 visible key) on the tree path: the tree
    /// holds keys [0, band.lo), row i sees [band.lo, L(i)) exactly (`band` must cover them). Writes
    /// each row's output into `out` ((hi − lo) × dv) and its certificate into `cert` (∞ where the
    /// row must fall back).
    pub fn tree_rows(job: &Rows<'_>, out: &mut [f64], cert: &mut [f64], sc: &mut Scratch) -> Outcome = tree_rows_body;
}

/// A block of consecutive rows for [`tree_rows`] and what it reads: the prepared head, the tree with
/// keys [0, band.lo) inserted and its gathered frontier, the chunk's exact band, tol and the share s.
#[derive(Clone, Copy)]
pub struct Rows<'a> {
    pub p: &'a Prepared<'a>,
    pub tree: &'a Tree,
    pub fb: &'a FrontierBlock,
    pub band: &'a Band<'a>,
    pub lo: usize,
    pub hi: usize,
    pub tol: f64,
    pub share: f64,
    /// Scores and numerators of the block by float32 GEMMs (module doc of [`crate::theory::solver`]).
    pub f32_products: bool,
    /// Fuse the per-row frontier passes where the CPU has AVX-512 ([`frontier_simd`]; the same bits
    /// as the separate passes): [`super::SolverOptions::fused_passes`].
    pub fused: bool,
}

#[inline(always)]
fn tree_rows_body(job: &Rows<'_>, out: &mut [f64], cert: &mut [f64], sc: &mut Scratch) -> Outcome {
    let Rows { p, tree, fb, band, lo, hi, tol, share, f32_products, fused } = *job;
    let (d, dv, n) = (p.d, p.dv, p.n);
    let band_lo = band.lo;
    let r = hi - lo;
    let nf = fb.len();
    // The block's queries widened (exact); taken out of the scratch while its other buffers are used.
    let mut qbuf = std::mem::take(&mut sc.qb);
    p.widen_q_rows(lo..hi, &mut qbuf);
    let qb = &qbuf[..];
    sc.lim.clear();
    sc.lim.extend((lo..hi).map(|i| p.mask.keys(i, n).end));
    let lmax = sc.lim.iter().cloned().max().unwrap_or(band_lo).max(band_lo);
    let nbk = lmax - band_lo;
    sc.a.resize(r * nf, 0.0);
    sc.wf.resize(r * nf, 0.0);
    // Every entry of a row's acceptance codes is written by accept_zeroth before it is read.
    sc.acc.resize(r * nf, 0.0);
    sc.n1.clear();
    sc.n1.resize(r * dv, 0.0);
    let first = tree.moments.is_some();
    sc.sb.resize(r * nbk, 0.0);
    sc.pb.resize(r * nbk, 0.0);
    sc.amax.clear();
    if f32_products {
        let q32 = &p.q32[lo * d..hi * d];
        let nfp = nf.div_ceil(ZT_COLS) * ZT_COLS;
        sc.a32.resize(r * nfp, 0.0);
        sc.s32.resize(r * nbk, 0.0);
        gemm_ab_f32(r, nfp, d, q32, d, &fb.zt32, fb.cap, &mut sc.a32, false);
        gemm_abt_f32(r, nbk, d, q32, &band.k32[..nbk * d], &mut sc.s32);
        // Widened row by row; with the fused passes each row's maximum comes from the same pass.
        for (a, a32) in sc.a.chunks_exact_mut(nf.max(1)).zip(sc.a32.chunks_exact(nfp.max(1))).take(r) {
            match frontier_simd::widen_max(&a32[..nf], a, fused && frontier_simd::available()) {
                Some(mx) => sc.amax.push(mx),
                None => widen_into(&a32[..nf], a),
            }
        }
        widen_into(&sc.s32, &mut sc.sb);
    } else {
        assert!(fb.wide, "float64 block products need a wide frontier block");
        gemm_abt(r, nf, d, qb, &fb.z, &mut sc.a);
        gemm_abt(r, nbk, d, qb, &band.k[..nbk * d], &mut sc.sb);
    }
    let (mut work, mut first_terms, mut candidates, mut fused_rows) = (0usize, 0usize, 0usize, 0usize);
    sc.delta.resize(nf, 0.0);
    sc.accs.clear();
    sc.fo.clear();
    if sc.terms.len() < r {
        sc.terms.resize_with(r, Terms::default);
    }
    let fb_mmax = fb.mmax.max(1);
    let simd = frontier_simd::available();
    // The weights rounded to f32 for the numerator GEMM: frontier part (r × nf) row by row below,
    // band part (r × nbk) after the rows.
    // Every entry is written before the numerator GEMM reads it (no clearing).
    if f32_products {
        sc.w32.resize(r * nf + r * nbk, 0.0);
    }
    let fused = fused && simd;
    for t in 0..r {
        let i = lo + t;
        let l = sc.lim[t];
        let nb = l - band_lo;
        let qn = p.qnorm[i];
        let arow = &sc.a[t * nf..(t + 1) * nf];
        let srow = &sc.sb[t * nbk..t * nbk + nb];
        let amax = if sc.amax.len() == r { sc.amax[t] } else { lanes_max(arow) };
        let rho0 = amax.max(lanes_max(srow));
        // Decisions: weights relative to ρ₀, certified lower mass Z_low.
        let wrow = &mut sc.wf[t * nf..(t + 1) * nf];
        let pbrow = &mut sc.pb[t * nbk..t * nbk + nb];
        shifted_exp(srow, rho0, pbrow);
        let zf = if fused {
            frontier_weights_low_mass(delta_scale(qn), fb, arow, rho0, wrow, &mut sc.delta)
        } else {
            shifted_exp(arow, rho0, wrow);
            frontier_low_mass(delta_scale(qn), fb, wrow, &mut sc.delta)
        };
        let zlow = lanes_sum(pbrow) + zf;
        let inp = p.row_input(&qb[t * d..(t + 1) * d], i, l, tol, share);
        let ts = tol * share;
        let lf = l as f64;
        let terms = &mut sc.terms[t];
        terms.clear();
        sc.stack.clear();
        let accrow = &mut sc.acc[t * nf..(t + 1) * nf];
        // Zeroth-order acceptance, branch-free (f(Δ) ≤ Δ(1 + Δ) for Δ ≤ 1; larger Δ: second pass).
        // Fused (float32 products): the test and the sums of every node accepted in one pass, which
        // gives up (None) at the first node not accepted; the general path then runs.
        let fast = if fused && f32_products {
            let w32row = &mut sc.w32[t * nf..(t + 1) * nf];
            accept_all_and_sum(fb, wrow, &sc.delta, arow, zlow / lf, ts, p.vmax, rho0 + SKIP_BELOW, w32row)
        } else {
            None
        };
        let undecided =
            if fast.is_some() { 0 } else { accept_zeroth(fb, wrow, &sc.delta, zlow / lf, ts, p.vmax, accrow) };
        if undecided > 0 {
            for f in 0..nf {
                if accrow[f] != 0.0 {
                    continue;
                }
                let (e, delta) = (wrow[f], sc.delta[f]);
                let own = own_mass(e, delta, zlow / lf);
                let test = |fd: f64| budget_accepts(e, fd, fb.absb[f] + p.vmax * fb.m[f], fb.m[f], ts, own);
                candidates += (!first && delta <= FIRST_ORDER_MAX_DELTA) as usize;
                accrow[f] = if delta > 1.0 && test(delta.exp_m1()) {
                    1.0
                } else if first && delta <= FIRST_ORDER_MAX_DELTA && test(first_factor(delta, fb.m[f] as usize, d)) {
                    2.0
                } else {
                    sc.stack.push((fb.ids[f], arow[f]));
                    0.0
                };
            }
        }
        work += nb + nf;
        if !sc.stack.is_empty() {
            sc.stack.sort_unstable_by(|a, b| a.1.total_cmp(&b.1));
            let mut run = Running { rho: rho0, z: zlow };
            work += walk(&inp, tree, terms, &mut sc.stack, &mut run);
        }
        let rho = terms.leaf.iter().map(|x| x.0).chain(terms.nodes.iter().map(|x| x.0)).fold(rho0, f64::max);
        let eta = if f32_products { score_error_f32(d, p.qnorm[i], p.kmax) } else { p.eta(i) };
        let model = RowModel { eta, vmax: p.vmax };
        let mut acc = Accum::new(rho, model);
        if f32_products {
            acc.kn_extra = numerator_rounding_f32(nf + nb);
            acc.en_abs = numerator_underflow_f32(n, nf + nb, p.vmax);
        }
        if rho != rho0 {
            shifted_exp(srow, rho, pbrow);
            shifted_exp(arow, rho, wrow);
        }
        // Band weights (terms below SKIP_BELOW are zeroed and counted as skipped).
        // One cut for both passes, so that every term is either summed or skipped.
        let cut = rho + SKIP_BELOW;
        acc.zh += lanes_sum_above(srow, cut, pbrow);
        if nb > 0 && lanes_min(srow) < cut {
            for &s in srow {
                if s < cut {
                    acc.skip_exact(s - rho);
                }
            }
        }
        sc.pb[t * nbk + nb..(t + 1) * nbk].fill(0.0);
        acc.nterms += nb + nf;
        // Frontier weights: zeroth-order accepted nodes in one branch-free pass (others zeroed),
        // then first-order and skipped nodes one by one.
        acc.mmax = acc.mmax.max(fb_mmax);
        let all_accepted = fast.is_some();
        fused_rows += all_accepted as usize;
        let ZerothSums { mut zm, zmd, zad, dmax, special } = match fast {
            // No node walked, so ρ = ρ₀ and the cut is the one the fused pass used.
            Some(z) => z,
            None => zeroth_order_sums(fb, arow, cut, &sc.delta, accrow, wrow, simd),
        };
        if special > 0 && all_accepted {
            // Every node accepted at zeroth order: the special ones are those below the cut (their
            // f32 weights are already 0), skipped in frontier order as in the loop below.
            for ((&x, &dl), &m) in arow.iter().zip(&sc.delta[..nf]).zip(&fb.m[..nf]) {
                if x < cut {
                    acc.skip_node(x - rho, dl, m as usize);
                }
            }
        } else if special > 0 {
            let qrow = &qb[t * d..(t + 1) * d];
            for f in 0..nf {
                if accrow[f] == 0.0 {
                    continue;
                }
                let x = arow[f] - rho;
                let delta = sc.delta[f];
                if arow[f] < cut {
                    acc.skip_node(x, delta, fb.m[f] as usize);
                    wrow[f] = 0.0;
                    continue;
                }
                if accrow[f] != 2.0 {
                    continue;
                }
                // First order: Ẑ gains w·q·D̂, N̂ gains w·M̂ᵀq; errors with f = e^Δ − 1 − Δ + γΔ.
                let w = exp_neg_f64(x);
                wrow[f] = w;
                let (dm, _) = tree.node_moments(fb.ids[f] as usize).expect("first-order node has moments");
                let fd = first_factor(delta, fb.m[f] as usize, d);
                let z1 = dot(qrow, dm);
                acc.zh += w * z1;
                // N̂ gains w·M̂ᵀq: collected, one GEMM per node after the rows (first_order_numerators).
                sc.fo.push((f as u32, t as u32, w));
                acc.nterms += 1;
                first_terms += 1;
                acc.scale = acc.scale.max(first_order_scale(delta));
                zm += w * fb.m[f];
                acc.ez += w * fb.m[f] * fd;
                acc.en_all += w * (fd * fb.absb[f] + first_order_underflow(fb.m[f], d, p.qnorm[i]));
            }
        }
        // f(Δ) ≤ g·Δ with g = f(Δ_max)/Δ_max (rounded up: node_factor's 1 + 64u, and 2u for the division).
        let g = if dmax > 0.0 { node_factor(dmax, false) / dmax * (1.0 + 2.0 * U64) } else { 0.0 };
        acc.zh += zm;
        acc.ez += g * zmd;
        acc.en_all += g * zad;
        sc.accs.push((acc, model));
        if f32_products && !all_accepted {
            for (x, &y) in sc.w32[t * nf..(t + 1) * nf].iter_mut().zip(&sc.wf[t * nf..(t + 1) * nf]) {
                *x = y as f32;
            }
        }
    }
    first_order_numerators(tree, fb, p.q32, lo, d, dv, sc);
    // Numerators: N = W·S_F + P·V_band.
    // Written whole by the first product (or the widening of the f32 one).
    sc.nb.resize(r * dv, 0.0);
    if f32_products {
        for (x, &y) in sc.w32[r * nf..].iter_mut().zip(&sc.pb) {
            *x = y as f32;
        }
        let (w32, p32) = sc.w32.split_at(r * nf);
        sc.n32.resize(r * dv, 0.0);
        gemm_ab_f32(r, dv, nf, w32, nf, &fb.s32, dv, &mut sc.n32, false);
        gemm_ab_f32(r, dv, nbk, p32, nbk, &band.v32[..nbk * dv], dv, &mut sc.n32, true);
        widen_into(&sc.n32, &mut sc.nb);
    } else {
        gemm_ab(r, dv, nf, &sc.wf, nf, &fb.s, &mut sc.nb, false);
        gemm_ab(r, dv, nbk, &sc.pb, nbk, &band.v[..nbk * dv], &mut sc.nb, true);
    }
    for (t, &(mut acc, model)) in sc.accs.iter().enumerate() {
        let o = &mut out[t * dv..(t + 1) * dv];
        for ((o, &a), &b) in o.iter_mut().zip(&sc.nb[t * dv..(t + 1) * dv]).zip(&sc.n1[t * dv..(t + 1) * dv]) {
            *o = a + b;
        }
        acc.add_terms(&sc.terms[t], tree, p.v32, p.vmax, o);
        cert[t] = acc.finish(model, o);
    }
    // A first-order term costs a d × dv product (M̂ᵀq, in first_order_numerators): counted as
    // ⌈d·dv/(d + dv)⌉ key-equivalents so that the planner sees it (clustered, tol 1e-4: 256 such
    // terms per row cost 4× the exact kernel while the node count alone said work 0.012).
    work += first_terms * first_order_work(d, dv);
    sc.qb = qbuf;
    Outcome { work, first_order_terms: first_terms, first_order_candidates: candidates, fused_rows }
}

/// Key-equivalents charged for one first-order node term: ⌈d·dv/(d + dv)⌉ (a key costs d + dv
/// multiply-adds, the term d·dv).
pub fn first_order_work(d: usize, dv: usize) -> usize {
    (d * dv).div_ceil((d + dv).max(1)).max(1)
}

/// n₁[t] += w·(M̂_fᵀq_t) for every first-order term (f, t, w) of the block: grouped by node (sorted
/// by (f, t), so each row receives its terms in increasing f, whatever the thread count), one float32
/// GEMM per node over the rows q_t of its group (the query rows are the f32 inputs: exact), then the
/// f64 product with w. Each (M̂ᵀq)_c is a float32 dot product of length d — the model of
/// [`crate::theory::solver::first_order_rounding`] (γ₃₂(m + d + 4) per term, and
/// [`first_order_underflow`] absolute).
#[inline(always)]
fn first_order_numerators(
    tree: &Tree,
    fb: &FrontierBlock,
    q32: &[f32],
    lo: usize,
    d: usize,
    dv: usize,
    sc: &mut Scratch,
) {
    if sc.fo.is_empty() {
        return;
    }
    sc.fo.sort_unstable_by_key(|&(f, t, _)| (f, t));
    let mut g0 = 0;
    while g0 < sc.fo.len() {
        let f = sc.fo[g0].0;
        let g1 = g0 + sc.fo[g0..].iter().take_while(|x| x.0 == f).count();
        let k = g1 - g0;
        sc.fo_x.clear();
        for &(_, t, _) in &sc.fo[g0..g1] {
            sc.fo_x.extend_from_slice(&q32[(lo + t as usize) * d..(lo + t as usize + 1) * d]);
        }
        sc.fo_y.resize(k * dv, 0.0);
        let (_, mm) = tree.node_moments(fb.ids[f as usize] as usize).expect("first-order node has moments");
        gemm_ab_f32(k, dv, d, &sc.fo_x, d, mm, dv, &mut sc.fo_y, false);
        for (&(_, t, w), y) in sc.fo[g0..g1].iter().zip(sc.fo_y.chunks_exact(dv)) {
            for (o, &yc) in sc.n1[t as usize * dv..(t as usize + 1) * dv].iter_mut().zip(y) {
                *o += w * yc as f64;
            }
        }
        g0 = g1;
    }
    sc.fo.clear();
}

/// Δ_f = c·r_f into `delta`, and Σ_f m_f e_f (1 − Δ_f)_+ (the frontier's certified lower mass).
#[inline(always)]
/// The portable form, run where the passes are not fused ([`frontier_weights_low_mass`] is its
/// AVX-512 form together with the weights).
fn frontier_low_mass(c: f64, fb: &FrontierBlock, e: &[f64], delta: &mut [f64]) -> f64 {
    let n8 = frontier_simd::lane_part(fb);
    let mut acc = [0.0; LANES];
    for (((dc, rc), mc), ec) in delta[..n8]
        .chunks_exact_mut(LANES)
        .zip(fb.r[..n8].chunks_exact(LANES))
        .zip(fb.m[..n8].chunks_exact(LANES))
        .zip(e[..n8].chunks_exact(LANES))
    {
        for l in 0..LANES {
            let dl = c * rc[l];
            dc[l] = dl;
            acc[l] += mc[l] * own_mass(ec[l], dl, 0.0);
        }
    }
    low_mass_tail(c, fb, e, delta, n8, fold_lanes(acc))
}

/// The frontier's tail `n8..` of [`frontier_low_mass`], one node at a time after the lanes' total
/// `tot`: Δ_f = c·r_f into `delta`, and tot + Σ m_f e_f (1 − Δ_f)_+.
#[inline(always)]
fn low_mass_tail(c: f64, fb: &FrontierBlock, e: &[f64], delta: &mut [f64], n8: usize, mut tot: f64) -> f64 {
    for f in n8..fb.len() {
        let dl = c * fb.r[f];
        delta[f] = dl;
        tot += fb.m[f] * own_mass(e[f], dl, 0.0);
    }
    tot
}

/// [`shifted_exp`] of the frontier scores and [`frontier_low_mass`] in one pass ([`frontier_simd`],
/// AVX-512 only: the caller checked [`frontier_simd::available`]); the same bits as the two.
#[inline(always)]
fn frontier_weights_low_mass(c: f64, fb: &FrontierBlock, a: &[f64], rho: f64, w: &mut [f64], delta: &mut [f64]) -> f64 {
    let (nf, n8) = (fb.len(), frontier_simd::lane_part(fb));
    let acc = frontier_simd::weights_low_mass(c, fb, a, rho, w, delta, true).expect("AVX-512 checked by the caller");
    shifted_exp(&a[n8..nf], rho, &mut w[n8..nf]);
    low_mass_tail(c, fb, w, delta, n8, fold_lanes(acc))
}

/// A row whose every frontier node passes the zeroth-order test: [`accept_zeroth`] (all 1) and
/// [`zeroth_order_sums`] with those codes in one pass, the kept weights rounded to f32 into `w32`
/// (AVX-512 only: the caller checked [`frontier_simd::available`]). `None` when some node is not
/// accepted (`w32` then holds garbage the caller overwrites). The same bits as the separate passes.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn accept_all_and_sum(
    fb: &FrontierBlock,
    e: &[f64],
    delta: &[f64],
    a: &[f64],
    zl: f64,
    ts: f64,
    vmax: f64,
    cut: f64,
    w32: &mut [f32],
) -> Option<ZerothSums> {
    let (nf, n8) = (fb.len(), frontier_simd::lane_part(fb));
    // The tail first (cheap, and its test is needed before the lanes' sums are worth anything).
    if (n8..nf).any(|f| !accepts_zeroth(e[f], delta[f], fb.m[f], fb.absb[f], vmax, ts, zl)) {
        return None;
    }
    let (zm, zmd, zad, dm, below) =
        frontier_simd::accept_and_sum(fb, e, delta, a, zl, ts, vmax, cut, w32, true).expect("AVX-512 checked")?;
    for f in n8..nf {
        w32[f] = if a[f] >= cut { e[f] as f32 } else { 0.0 };
    }
    let tail = zeroth_tail(fb, e, delta, n8, |f| a[f] >= cut);
    let below_tail = (n8..nf).filter(|&f| a[f] < cut).count();
    Some(ZerothSums::combine((zm, zmd, zad, dm), tail, below + below_tail))
}

/// The frontier's tail `n8..` of the zeroth-order sums, one node at a time: node f adds w_f (its
/// weight in `w`, with Δ_f) where `keep(f)`; (Σ w m, Σ w m Δ, Σ w Â Δ, max Δ).
#[inline(always)]
fn zeroth_tail(fb: &FrontierBlock, w: &[f64], delta: &[f64], n8: usize, keep: impl Fn(usize) -> bool) -> [f64; 4] {
    let (mut tm, mut tmd, mut tad, mut tdm) = (0.0f64, 0.0, 0.0, 0.0f64);
    for f in n8..fb.len() {
        let k = keep(f);
        let wv = if k { w[f] } else { 0.0 };
        let d = if k { delta[f] } else { 0.0 };
        tm += wv * fb.m[f];
        tmd += wv * fb.m[f] * d;
        tad += wv * fb.absb[f] * d;
        tdm = if d > tdm { d } else { tdm };
    }
    [tm, tmd, tad, tdm]
}

/// The zeroth-order test of one node (weight e, Δ, m keys, bound Â): Δ ≤ 1 and the budget rule with
/// f(Δ) ≤ Δ(1 + Δ), against the row's share `zl` of the certified mass. Branch-free.
#[inline(always)]
fn accepts_zeroth(e: f64, dl: f64, m: f64, absb: f64, vmax: f64, ts: f64, zl: f64) -> bool {
    (dl <= 1.0) & budget_accepts(e, dl * (1.0 + dl), absb + vmax * m, m, ts, own_mass(e, dl, zl))
}

/// Zeroth-order acceptance of every frontier node with Δ ≤ 1 (the budget rule of the module doc,
/// with f(Δ) ≤ Δ(1 + Δ)): `acc[f]` = 1 accepted, 0 otherwise; returns the number not accepted.
#[inline(always)]
fn accept_zeroth(fb: &FrontierBlock, e: &[f64], delta: &[f64], zl: f64, ts: f64, vmax: f64, acc: &mut [f64]) -> usize {
    // Every slice cut to the frontier's length: no bounds checks in the loop, so it vectorises.
    let nf = fb.len();
    let (e, delta, mm, absb, acc) = (&e[..nf], &delta[..nf], &fb.m[..nf], &fb.absb[..nf], &mut acc[..nf]);
    let mut rejected = 0usize;
    for f in 0..nf {
        let ok = accepts_zeroth(e[f], delta[f], mm[f], absb[f], vmax, ts, zl);
        acc[f] = if ok { 1.0 } else { 0.0 };
        rejected += (!ok) as usize;
    }
    rejected
}

/// Sums over the zeroth-order accepted frontier nodes (acc = 1) with centre score ≥ `cut`.
struct ZerothSums {
    /// Σ w m, Σ w m Δ, Σ w Â Δ, max Δ.
    zm: f64,
    zmd: f64,
    zad: f64,
    dmax: f64,
    /// Nodes needing the one-by-one pass: first-order (acc = 2) or accepted below `cut`.
    special: usize,
}

/// [`ZerothSums`]; `w` is zeroed for every node not summed here.
#[inline(always)]
fn zeroth_order_sums(
    fb: &FrontierBlock,
    a: &[f64],
    cut: f64,
    delta: &[f64],
    acc: &[f64],
    w: &mut [f64],
    simd: bool,
) -> ZerothSums {
    let (nf, n8) = (fb.len(), frontier_simd::lane_part(fb));
    let (a, delta, acc, w, mm, absb) = (&a[..nf], &delta[..nf], &acc[..nf], &mut w[..nf], &fb.m[..nf], &fb.absb[..nf]);
    // One lane-split pass (lane l takes the entries ≡ l mod LANES; the tail is summed apart and
    // added last), branch-free so that it vectorises; `special` is counted per lane in f64.
    let (mut zm, mut zmd, mut zad, mut dm, mut sp) =
        ([0.0f64; LANES], [0.0; LANES], [0.0; LANES], [0.0; LANES], [0.0; LANES]);
    let mut special = 0usize;
    // The AVX-512 form does the lane part (same bits); the portable loop below then has none.
    let mut n8p = n8;
    if let Some(l) = frontier_simd::zeroth_sums(fb, a, cut, delta, acc, w, simd) {
        (zm, zmd, zad, dm, special) = l;
        n8p = 0;
    }
    // Whole-array steps on [f64; LANES] (each one a short fixed loop that vectorises on its own).
    #[inline(always)]
    fn lanes<F: Fn(usize) -> f64>(f: F) -> [f64; LANES] {
        std::array::from_fn(f)
    }
    let arr = |c: &[f64]| -> [f64; LANES] { <[f64; LANES]>::try_from(c).expect("chunks_exact") };
    for ((((ac, ax), (dc, wc)), mc), bc) in acc[..n8p]
        .chunks_exact(LANES)
        .zip(a[..n8p].chunks_exact(LANES))
        .zip(delta[..n8p].chunks_exact(LANES).zip(w[..n8p].chunks_exact_mut(LANES)))
        .zip(mm[..n8p].chunks_exact(LANES))
        .zip(absb[..n8p].chunks_exact(LANES))
    {
        // Masks as 0/1 factors (w, Δ ≥ 0 finite: x·1 = x and x·0 = +0, the values a select gives),
        // so that the lanes vectorise without branches.
        let (ac, ax, dc, mc, bc, w0) = (arr(ac), arr(ax), arr(dc), arr(mc), arr(bc), arr(wc));
        let one = lanes(|l| if ac[l] == 1.0 { 1.0 } else { 0.0 });
        let two = lanes(|l| if ac[l] == 2.0 { 1.0 } else { 0.0 });
        let keep = lanes(|l| if ax[l] >= cut { one[l] } else { 0.0 });
        let wv = lanes(|l| w0[l] * keep[l]);
        let dk = lanes(|l| dc[l] * keep[l]);
        let wm = lanes(|l| wv[l] * mc[l]);
        wc.copy_from_slice(&wv);
        zm = lanes(|l| zm[l] + wm[l]);
        zmd = lanes(|l| zmd[l] + wm[l] * dk[l]);
        zad = lanes(|l| zad[l] + wv[l] * bc[l] * dk[l]);
        dm = lanes(|l| if dk[l] > dm[l] { dk[l] } else { dm[l] });
        sp = lanes(|l| sp[l] + (two[l] + one[l] - keep[l]));
    }
    let keep = |f: usize| (acc[f] == 1.0) & (a[f] >= cut);
    let tail = zeroth_tail(fb, w, delta, n8, keep);
    let tsp = (n8..nf).filter(|&f| (acc[f] == 2.0) | ((acc[f] == 1.0) & (a[f] < cut))).count();
    for (f, wf) in w.iter_mut().enumerate().skip(n8) {
        if !keep(f) {
            *wf = 0.0;
        }
    }
    ZerothSums::combine((zm, zmd, zad, dm), tail, special + sp.iter().sum::<f64>() as usize + tsp)
}

impl ZerothSums {
    /// The lanes' partial sums (folded in the fixed lane order) plus the tail's, and `special`.
    #[inline(always)]
    fn combine(
        (zm, zmd, zad, dm): ([f64; LANES], [f64; LANES], [f64; LANES], [f64; LANES]),
        [tm, tmd, tad, tdm]: [f64; 4],
        special: usize,
    ) -> ZerothSums {
        ZerothSums {
            zm: fold_lanes(zm) + tm,
            zmd: fold_lanes(zmd) + tmd,
            zad: fold_lanes(zad) + tad,
            dmax: dm.iter().fold(tdm, |x, &y| if y > x { y } else { x }),
            special,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{FrontierBlock, frontier_low_mass, frontier_weights_low_mass, shifted_exp, zeroth_order_sums};
    use rand::RngExt;

    /// A frontier of `nf` nodes with random radii, counts and bounds, and a row's weights, scores
    /// and acceptance codes (0, 1, 2) around a cut.
    fn frontier(nf: usize, seed: u64) -> (FrontierBlock, Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut rng = crate::rng::seeded(seed);
        let mut fb = FrontierBlock::default();
        for _ in 0..nf {
            fb.m.push(rng.random_range(1..600) as f64);
            fb.r.push(if rng.random_bool(0.1) { 0.0 } else { rng.random_range(0.0..2.0) });
            fb.absb.push(rng.random_range(0.0..300.0));
            fb.ids.push(0);
        }
        let e: Vec<f64> = (0..nf).map(|_| rng.random_range(0.0..1.0f64).powi(3)).collect();
        let a: Vec<f64> = (0..nf).map(|_| rng.random_range(-800.0..0.0)).collect();
        let acc: Vec<f64> = (0..nf).map(|_| [0.0, 1.0, 1.0, 1.0, 2.0][rng.random_range(0..5usize)]).collect();
        (fb, e, a, acc)
    }

    #[test]
    fn transposed_centres_hold_every_frontier_centre_and_zeros_beyond() {
        use crate::solver::tree::Tree;
        let (n, d, dv) = (3000usize, 8usize, 4usize);
        let mut rng = crate::rng::seeded(9);
        let k: Vec<f32> = (0..n * d).map(|_| rng.random_range(-2.0..2.0f32)).collect();
        let v: Vec<f32> = (0..n * dv).map(|_| rng.random_range(-1.0..1.0f32)).collect();
        let mut tree = Tree::build(&k, n, d, dv, 4);
        tree.set_frontier(0.3);
        let mut fb = FrontierBlock::new(false);
        // Grown over several syncs, as in the solve (the capacity doubles as nodes enter).
        for end in [10, 200, 1000, n] {
            let touched = tree.insert_range_serial(&k, &v, end);
            fb.sync(&tree, 1.0, &touched);
            assert!(fb.cap.is_multiple_of(super::ZT_COLS) && fb.cap >= fb.len() && fb.zt32.len() == d * fb.cap);
            for c in 0..d {
                for f in 0..fb.cap {
                    let want = if f < fb.len() { tree.z[fb.ids[f] as usize * d + c] as f32 } else { 0.0 };
                    assert_eq!(fb.zt32[c * fb.cap + f].to_bits(), want.to_bits(), "end {end}, column {f}, dim {c}");
                }
            }
        }
        assert!(fb.len() > 64, "the test grows the capacity past its first size: {} nodes", fb.len());
    }

    #[test]
    fn the_simd_frontier_passes_give_the_portable_bits() {
        if !super::frontier_simd::available() {
            eprintln!("no AVX-512 on this CPU: only the portable frontier passes run here");
            return;
        }
        for (k, nf) in [0usize, 1, 7, 8, 9, 64, 255, 256, 1001].into_iter().enumerate() {
            let (fb, e, a, acc) = frontier(nf, 40 + k as u64);
            let c = 1.7;
            // Weights and low mass fused (AVX-512) against shifted_exp then the portable low mass.
            let rho = a.iter().cloned().fold(f64::NEG_INFINITY, f64::max).max(0.0);
            let (mut d0, mut d1) = (vec![0.0; nf], vec![0.0; nf]);
            let (mut e0, mut e1) = (vec![0.0; nf], vec![0.0; nf]);
            shifted_exp(&a, rho, &mut e0);
            let z0 = frontier_low_mass(c, &fb, &e0, &mut d0);
            let z1 = frontier_weights_low_mass(c, &fb, &a, rho, &mut e1, &mut d1);
            assert_eq!(z0.to_bits(), z1.to_bits(), "low mass, nf = {nf}");
            assert!(d0.iter().zip(&d1).all(|(x, y)| x.to_bits() == y.to_bits()), "Δ, nf = {nf}");
            assert!(e0.iter().zip(&e1).all(|(x, y)| x.to_bits() == y.to_bits()), "weights, nf = {nf}");
            let (mut w0, mut w1) = (e.clone(), e.clone());
            let s0 = zeroth_order_sums(&fb, &a, -400.0, &d0, &acc, &mut w0, false);
            let s1 = zeroth_order_sums(&fb, &a, -400.0, &d0, &acc, &mut w1, true);
            for (x, y, what) in
                [(s0.zm, s1.zm, "zm"), (s0.zmd, s1.zmd, "zmd"), (s0.zad, s1.zad, "zad"), (s0.dmax, s1.dmax, "dmax")]
            {
                assert_eq!(x.to_bits(), y.to_bits(), "{what}, nf = {nf}");
            }
            assert_eq!(s0.special, s1.special, "special, nf = {nf}");
            assert!(w0.iter().zip(&w1).all(|(x, y)| x.to_bits() == y.to_bits()), "weights, nf = {nf}");
        }
    }
}
