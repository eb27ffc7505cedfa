//! A certified solver for causal (and strict-prefix) softmax attention.
//!
//! [`solve`] returns outputs X̂ (f64) and per row a certificate ε_i with
//! |X̂_i − X_i|_∞ ≤ ε_i ≤ tol, where X is the exact-arithmetic attention of the same f32 inputs.
//!
//! Design (modules):
//! * [`tree`]: one key tree over all n keys (largest-gap split on the widest coordinate, leaves ≤
//!   `leaf` keys or tight), with per-node sums (m, S = Σv, A = Σ|v|) *inserted* in position order;
//!   built by [`build`] (two streaming passes per level), with its top levels from a sample
//!   ([`skeleton`]) for n ≥ 2^15.
//! * Rows are processed in chunks of `band` rows; when chunk c starts, the tree holds keys
//!   [0, c·band), and row i sees the exact band [c·band, L(i)) plus the tree (L(i) = i + 1 causal,
//!   i strict prefix). Rows of a chunk run in parallel; then the chunk's keys are inserted (on
//!   persistent threads, [`workers`]; the output's pages faulted in ahead by [`pages`]).
//! * [`batch`]: a block of rows against the band and the frontier by GEMMs (float32 where the
//!   rounding floor allows, [`Prepared::f32_products`]); [`eval`]: the walk below rejected frontier
//!   nodes (exact leaf keys, accepted nodes).
//!   Two of the per-row frontier passes have AVX-512 forms ([`frontier_simd`], the same bits as
//!   the portable lane-split forms).
//! * [`certificate`]: pass 2 sums the terms with a fixed reference and certifies them
//!   (bounds and rounding model in [`crate::theory::solver`]); a row with ε > tol is recomputed
//!   exactly (its certificate is then the exact path's rounding bound).
//! * [`planner`]: a probe decides whether the tree pays ([`Plan`]); otherwise every row is exact.
//!
//! Why not dyadic (Fenwick) position blocks: a prefix [0, i) decomposes into O(log n) blocks, but
//! the small blocks near i cost their full size (their keys are too few to share a tight node), so
//! the per-row work is ≥ the sum of the small blocks; one tree over all keys with prefix-inserted
//! sums has per-row work independent of where i falls.
pub mod batch;
pub mod build;
pub mod certificate;
pub mod compare;
pub mod dense;
pub mod eval;
pub mod exp64;
pub mod frontier_simd;
pub mod head_scan;
pub mod lanes;
pub mod pages;
pub mod planner;
pub mod skeleton;
pub mod tree;
pub mod workers;

pub use planner::{Force, Plan};

use crate::reference::{Head, Mask};
use crate::theory::solver::score_error;
use crate::{Error, Result};
use eval::RowInput;
use rayon::prelude::*;

/// Tuning of the solver (none of it affects soundness).
#[derive(Debug, Clone)]
pub struct SolverOptions {
    /// Rows per chunk = width of the exact near-diagonal band, when the tree keeps first-order
    /// moments (their insertion costs d·dv per key and a pass over each touched node's M̂, so fewer
    /// chunks pay: peaked n = 2^17, best of 4 solves, 192 rows 0.459 s, 256 rows 0.427 s, 384 rows
    /// 0.462 s, 512 rows 0.471 s).
    pub band: usize,
    /// The chunk width when the tree keeps no first-order moments, at most `band`: insertion is then
    /// cheap, so a narrower exact band pays (clustered n = 2^17, min of 3×3 solves: 256 rows
    /// 0.314 s, 128 rows 0.292 s, 64 rows 0.288 s).
    pub light_band: usize,
    /// Maximum keys per leaf.
    pub leaf: usize,
    /// Fraction s of tol·(mass) a node may use (see [`eval`]).
    pub share: f64,
    /// Rows sampled by the planner's probe.
    pub probe_rows: usize,
    /// The tree plan is used when the probe's work fraction is at most this. A key-equivalent of the
    /// batched tree path (f64 GEMM scores and numerators, one exp and the acceptance test per frontier
    /// node, walks) costs ≈ 7× a key of the tiled f32 kernel (`bench solver --regime clustered
    /// --n 131072`: work fraction 0.0059 in 0.7 s of evaluation against 18 s exact, both under load),
    /// and the tree build and probe cost O(n·d·log n) on top; 0.05 keeps the tree plan to where it pays.
    pub max_work_fraction: f64,
    /// Below this n the plan is exact without probing. `bench solver --n 8192,16384` with 2^13
    /// here (2-core AVX-512 CPU, session 4): at 16384 the tree plan gave 2.3× (clustered) and 1.8×
    /// (peaked) and the probes cost unstructured heads 0.9× (bounded, real-stats); at 8192 the
    /// probes alone made every regime 0.8× (peaked: tree rejected at 0.061). Hence 2^14.
    pub min_tree_n: usize,
    /// Stage 1 of the planner gives up (exact plan) when the probe at n/8 does more than this fraction
    /// of the exact work (∞: no stage 1) — a time-cost filter, see [`planner`].
    pub stage1_give_up: f64,
    /// Traversals start at the highest nodes with max‖q‖·r ≤ this many nats (0: at the root).
    pub frontier_nats: f64,
    /// A node with max‖q‖·r ≤ this many nats is a leaf whatever its size (0: leaves by size only):
    /// its keys are already indistinguishable at the queries' scale, so splitting it only costs
    /// build and insertion time (`bench solver --regime clustered --n 131072`: build + insertion
    /// 0.19 s → 0.12 s, same work fraction 0.0059). A walked leaf is summed key by key, so a
    /// rejected tight leaf costs its size; soundness does not depend on the tree's shape.
    pub leaf_nats: f64,
    /// Keep first-order moments of the frontier nodes (D, M) and use them where the zeroth-order
    /// bound rejects a node ([`batch`]).
    pub first_order: bool,
    /// Allow the tree path's float32 block products where their rounding floor
    /// ([`crate::theory::solver::f32_products_floor`]) is at most [`F32_PRODUCTS_SHARE`] of tol/V_max.
    pub f32_products: bool,
    /// Force a plan (tests and theorem checks).
    pub force: Option<Force>,
    /// Threads of the chunk loop on persistent threads ([`workers`]); 0: the pool's size when
    /// called from outside the pool, 1 from one of its threads (an outer parallel loop, such as a
    /// sweep's, already holds the cores). Any value gives the same bits.
    pub threads: usize,
    /// Fuse the tree path's per-row frontier passes where the CPU has AVX-512 (the same bits as
    /// the separate passes, which run elsewhere or with `false`; [`batch`]).
    pub fused_passes: bool,
}

/// The share of tol/V_max the float32 block products' rounding floor may take.
pub const F32_PRODUCTS_SHARE: f64 = 0.25;

impl Default for SolverOptions {
    fn default() -> Self {
        SolverOptions {
            band: 256,
            light_band: 64,
            leaf: 16,
            share: 0.4,
            probe_rows: 32,
            max_work_fraction: 0.05,
            stage1_give_up: 0.9,
            min_tree_n: 1 << 14,
            frontier_nats: 1.0,
            leaf_nats: 1e-2,
            first_order: true,
            f32_products: true,
            force: None,
            threads: 0,
            fused_passes: true,
        }
    }
}

/// Counters of one solve.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Work in key-equivalents (exact keys + centre scores + [`batch::first_order_work`] per
    /// first-order term), fallbacks included.
    pub work: u64,
    /// Σ_i L(i): the exact path's work.
    pub exact_work: u64,
    /// Rows that fell back to exact.
    pub fallback_rows: usize,
    /// Seconds spent planning: the input check and head statistics (one pass, [`head_scan`]),
    /// building trees, probing.
    pub plan_secs: f64,
    /// Of which building trees (tree plan or a probed exact plan).
    pub build_secs: f64,
    /// First-order node terms used (tree plan).
    pub first_order_terms: usize,
    /// Seconds spent inserting keys into the tree (tree plan).
    pub insert_secs: f64,
    /// Seconds spent updating the frontier block after each chunk's insertion (tree plan).
    pub gather_secs: f64,
    /// The tree path ran its block products in float32.
    pub f32_products: bool,
    /// Rows of the tree path whose frontier passes ran fused ([`batch`], AVX-512).
    pub fused_rows: usize,
}

/// The result: `rows × dv` outputs (rows as in [`Mask::rows`]) and one certificate per row.
#[derive(Debug, Clone)]
pub struct Solved {
    pub out: Vec<f64>,
    pub cert: Vec<f64>,
    pub rows: std::ops::Range<usize>,
    pub dv: usize,
    pub plan: Plan,
    pub stats: Stats,
}

impl Solved {
    pub fn max_cert(&self) -> f64 {
        self.cert.iter().cloned().fold(0.0, f64::max)
    }
}

/// The head widened once, with row constants.
pub struct Prepared<'a> {
    pub n: usize,
    pub d: usize,
    pub dv: usize,
    pub mask: Mask,
    pub k32: &'a [f32],
    pub v32: &'a [f32],
    /// Q as given (f32); the f64 paths widen the rows of their block (exact, so the same values).
    pub q32: &'a [f32],
    /// K and V widened to f64, built on first use (the f64 exact path).
    kvw: std::sync::OnceLock<(Vec<f64>, Vec<f64>)>,
    pub qnorm: Vec<f64>,
    /// max_i ‖q_i‖ (rounded up).
    pub qmax: f64,
    pub kmax: f64,
    pub vmax: f64,
}

impl<'a> Prepared<'a> {
    /// The prepared head, and whether its pass also established [`Head::check_values`]
    /// ([`head_scan`]; false: undecided, run the check).
    fn new(h: &Head<'a, f32>, mask: Mask) -> (Self, bool) {
        let (n, d, dv) = (h.nq, h.d, h.dv);
        let head_scan::HeadScan { qnorm, qmax, kmax, vmax, checked } = head_scan::scan_head(h);
        let p = Prepared {
            n,
            d,
            dv,
            mask,
            k32: h.k,
            v32: h.v,
            kvw: std::sync::OnceLock::new(),
            q32: h.q,
            qnorm,
            qmax,
            kmax,
            vmax,
        };
        (p, checked)
    }
    /// K and V widened to f64 (n × d, n × dv), built on first use, on the calling thread: a widening
    /// on the pool could, from inside the solve's parallel regions, run another task of the solve that
    /// re-enters the cell (the rows' float64 fallback calls this from any block).
    pub fn kv_wide(&self) -> (&[f64], &[f64]) {
        let (k, v) = self.kvw.get_or_init(|| {
            let widen = |x: &[f32]| {
                let mut out = vec![0.0f64; x.len()];
                crate::reference::widen_into(x, &mut out);
                out
            };
            (widen(self.k32), widen(self.v32))
        });
        (k, v)
    }
    /// Rows `rows` of Q widened to f64 into `out` (replaced), row-major.
    pub fn widen_q_rows(&self, rows: impl IntoIterator<Item = usize>, out: &mut Vec<f64>) {
        out.clear();
        for i in rows {
            out.extend(self.q32[i * self.d..(i + 1) * self.d].iter().map(|&x| x as f64));
        }
    }
    /// The inputs of row i, whose widened query is `q`.
    pub fn row_input<'b>(&'b self, q: &'b [f64], i: usize, limit: usize, tol: f64, share: f64) -> RowInput<'b> {
        RowInput { q, qnorm: self.qnorm[i], limit, d: self.d, vmax: self.vmax, tol, share }
    }
    pub fn eta(&self, i: usize) -> f64 {
        score_error(self.d, self.qnorm[i], self.kmax)
    }
    /// Whether the tree path may use float32 block products at `tol` for blocks of at most `terms`
    /// products: allowed, no f32 overflow possible (‖q‖K ≤ 10³⁰, n·V_max ≤ 10³⁰), and the rounding
    /// floor at most [`F32_PRODUCTS_SHARE`] of tol/V_max.
    pub fn f32_products(&self, tol: f64, terms: usize, opts: &SolverOptions) -> bool {
        let floor = crate::theory::solver::f32_products_floor(self.d, self.qmax, self.kmax, terms);
        opts.f32_products
            && self.qmax * self.kmax <= 1e30
            && self.n as f64 * self.vmax <= 1e30
            && floor * self.vmax <= F32_PRODUCTS_SHARE * tol
    }
}

/// Rows per batched block of the tree path ([`batch::tree_rows`]).
pub const BATCH_ROWS: usize = 32;

/// Recompute the query rows `redo` (sorted) on the blocked float64 exact path
/// ([`dense::exact_rows`]), in parallel over blocks; output row r = i − `row0`.
fn fallback_rows(p: &Prepared<'_>, redo: &[usize], row0: usize, out: &mut [f64], cert: &mut [f64]) {
    let dv = p.dv;
    // Widened once here, before the parallel blocks (which would otherwise wait on its cell).
    p.kv_wide();
    let res: Vec<(f64, Vec<f64>)> =
        redo.par_chunks(dense::EXACT_BLOCK).flat_map_iter(|blk| dense::exact_rows(p, blk)).collect();
    for (&i, (eps, o)) in redo.iter().zip(res) {
        let r = i - row0;
        out[r * dv..(r + 1) * dv].copy_from_slice(&o);
        cert[r] = eps;
    }
}

/// Outputs of at least this many values are faulted in ahead ([`pages::prefaulted_zeros`]): 4 MiB.
const PREFAULT_MIN: usize = 1 << 19;

/// One block of rows of the tree plan ([`batch::tree_rows`]), then its rows whose certificate
/// exceeds tol recomputed on the float64 path; returns the block's outcome and (fallback rows,
/// their exact work). [`workers`] runs its blocks through here.
pub fn solve_block(
    job: &batch::Rows<'_>,
    out: &mut [f64],
    cert: &mut [f64],
    sc: &mut batch::Scratch,
) -> (batch::Outcome, (usize, u64)) {
    let oc = batch::tree_rows(job, out, cert, sc);
    (oc, block_fallback(job.p, job.lo, out, cert, job.tol))
}

/// Recompute on the float64 path ([`dense::exact_rows`]) the rows of one block (first row `lo`;
/// outputs `out`, certificates `cert`) whose certificate exceeds `tol`; returns (rows, their exact
/// work). Per block, so that the float64 path sees the same groups of rows whatever the threads.
fn block_fallback(p: &Prepared<'_>, lo: usize, out: &mut [f64], cert: &mut [f64], tol: f64) -> (usize, u64) {
    let dv = p.dv;
    let redo: Vec<usize> = (lo..lo + cert.len()).filter(|&i| !(cert[i - lo] <= tol)).collect();
    if redo.is_empty() {
        return (0, 0);
    }
    for (&i, (eps, o)) in redo.iter().zip(dense::exact_rows(p, &redo)) {
        let r = i - lo;
        out[r * dv..(r + 1) * dv].copy_from_slice(&o);
        cert[r] = eps;
    }
    (redo.len(), redo.iter().map(|&i| p.mask.keys(i, p.n).end as u64).sum())
}

/// Certified causal / strict-prefix attention of an f32 head: every row's certificate is ≤ `tol`
/// (an error when even the exact path's rounding bound exceeds `tol`).
pub fn solve(h: &Head<'_, f32>, mask: Mask, tol: f64, opts: &SolverOptions) -> Result<Solved> {
    h.check_shapes()?;
    if h.nq != h.nk {
        return Err(Error::invalid(
            "head",
            format!("the solver needs self-attention (nq = nk), got nq = {}, nk = {}", h.nq, h.nk),
        ));
    }
    if mask == Mask::Full {
        return Err(Error::invalid("mask", "the solver handles causal and strict-prefix masks, not full"));
    }
    if !(tol > 0.0 && tol.is_finite()) {
        return Err(Error::invalid("tol", format!("expected a positive finite tolerance, got {tol}")));
    }
    if opts.band == 0 || opts.leaf == 0 {
        return Err(Error::invalid("solver options", "band and leaf must be ≥ 1"));
    }
    let t0 = std::time::Instant::now();
    let early = planner::early_exact(h.nq, opts);
    // The prepared head (norms, maxima) is only built when a tree may be planned or a row needs the
    // f64 path; where it is built first, its pass is also the input check ([`head_scan`]).
    let prepared: std::cell::OnceCell<Prepared<'_>> = std::cell::OnceCell::new();
    let prepare = || {
        let (p, checked) = Prepared::new(h, mask);
        debug_assert!(!checked || h.check_values().is_ok());
        p
    };
    if early.is_some() {
        h.check_values()?;
    } else {
        let (p, checked) = Prepared::new(h, mask);
        if !checked {
            h.check_values()?;
        }
        let _ = prepared.set(p);
    }
    let rows = mask.rows(h.nq);
    let dv = h.dv;
    let len = rows.len() * dv;
    // Large outputs get their pages mapped ahead: chunk by chunk inside the tree plan's loop where
    // the kernel can populate a range (nothing then competes with the plan; [`pages`]), else on a
    // helper thread while the plan runs (its serial stretches leave a core idle).
    let lazy_pages = len >= PREFAULT_MIN && pages::can_populate();
    let ((plan, mut tree, build_secs), prefaulted) = std::thread::scope(|s| {
        let prefault = (early.is_none() && len >= PREFAULT_MIN && !lazy_pages)
            .then(|| s.spawn(move || pages::prefaulted_zeros(len)));
        let planned = match early {
            Some(plan) => (plan, None, 0.0),
            None => planner::plan(prepared.get().expect("prepared above when no early plan"), opts, tol),
        };
        (planned, prefault.and_then(|j| j.join().ok()))
    });
    let plan_secs = t0.elapsed().as_secs_f64();
    let mut stats = Stats { plan_secs, build_secs, ..Default::default() };
    stats.exact_work = rows.clone().map(|i| mask.keys(i, h.nk).end as u64).sum();
    let (out, cert) = match tree.as_mut() {
        None => {
            // Exact plan: the fast tiled f32 kernel with its a-priori certificate
            // (theory::rounding::cheap_block_bounds, theorem reference.f32_rounding); rows whose f32
            // certificate exceeds tol are recomputed on the float64 path.
            // The kernel widens each block's f32 results into the f64 output as the block finishes
            // (`attention_f32_wide_into`: the same values as widening its f32 output afterwards,
            // without the f32 buffer and a serial second pass). Session 15, `solve` on the shipped
            // MiniLM slice, kernel then bound: 0.84–0.86 against 0.83 with the f32 buffer; 0.88–0.90
            // against 0.72 under MALLOC_MMAP_THRESHOLD_=65536, where glibc maps that 128 KiB buffer
            // afresh on every call and it faults in page by page.
            let tiling = crate::reference::fast_f32::Tiling::for_rows(rows.len());
            let mut out = prefaulted.unwrap_or_else(|| vec![0.0; len]);
            let bounds = || crate::theory::rounding::cheap_block_bounds(h, mask, tiling, tol);
            // The a-priori bound is handed to the pool first (a spawned task) and the kernel's blocks
            // follow, so the bound overlaps both the workers' wake-up and the kernel. Session 15
            // (MiniLM n = 512, exact/solver ratio; docs/performance.md), one build in which every
            // order could be chosen: `solve` on the shipped slice 0.87 (kernel then bound 0.86,
            // `rayon::join(bounds, kernel)` 0.79), criterion `cpu_exact_plan_parts` 0.83 (0.79,
            // 0.86) — no order won in both. At this size the ratio moves by as much with the build's
            // code layout and the heap's (MALLOC_* variables): this commit's build gave 0.85 / 0.80.
            let mut bound = None;
            rayon::in_place_scope(|s| {
                let slot = &mut bound;
                s.spawn(move |_| *slot = Some(bounds()));
                crate::reference::fast_f32::attention_f32_wide_into(h, mask, tiling, &mut out);
            });
            let mut cert = bound.expect("the scope waits for the spawned bound");
            stats.work = stats.exact_work;
            let redo: Vec<usize> =
                cert.iter().enumerate().filter(|(_, e)| !(**e <= tol)).map(|(r, _)| rows.start + r).collect();
            if !redo.is_empty() {
                let p = prepared.get_or_init(prepare);
                fallback_rows(p, &redo, rows.start, &mut out, &mut cert);
                stats.fallback_rows += redo.len();
            }
            (out, cert)
        }
        Some(t) => {
            let p = prepared.get().expect("the tree plan prepares the head");
            let b = if t.moments.is_none() { opts.band.min(opts.light_band.max(1)) } else { opts.band };
            let opts = &SolverOptions { band: b, ..opts.clone() };
            let f32_products = p.f32_products(tol, t.frontier.len() + b, opts);
            stats.f32_products = f32_products;
            let threads = match opts.threads {
                0 if rayon::current_thread_index().is_some() => 1,
                0 => rayon::current_num_threads().max(1),
                t => t,
            };
            let lp = workers::Loop { p, opts, tol, rows: rows.clone(), f32_products, populate: lazy_pages };
            let mut out = prefaulted.unwrap_or_else(|| vec![0.0; len]);
            let mut cert = vec![0.0; rows.len()];
            workers::run(&lp, t, &mut out, &mut cert, &mut stats, threads);
            (out, cert)
        }
    };
    if let Some((r, e)) = cert.iter().enumerate().find(|(_, e)| !(**e <= tol)) {
        return Err(Error::invalid(
            "tol",
            format!(
                "tol = {tol:.3e} is below the float64 rounding floor of row {} (exact path certifies {e:.3e})",
                rows.start + r
            ),
        ));
    }
    Ok(Solved { out, cert, rows, dv, plan, stats })
}

#[cfg(test)]
mod tests;
