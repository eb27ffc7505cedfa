//! The planner: decide early whether the tree can save work, so that the solver is never much slower
//! than the exact kernel.
//!
//! * n < 4·band: [`Plan::Exact`] (the band alone is most of the work).
//! * stage 1: the same probe at p = ⌊n/8⌋ (tree over the first n/8 keys, zeroth order); a work
//!   fraction > 0.9 there means nothing prunes: [`Plan::Exact`] at 1/4 of the stage-2 build cost; a
//!   fraction ≤ `max_work_fraction` means the tree already prunes at zeroth order with an eighth of
//!   the keys: [`Plan::Tree`] without the stage-2 probe (the full tree is built; a key structure
//!   that prunes on n/8 keys gives each row at most as many nodes on n — measured, clustered
//!   2^16 / 2^17: stage 1 0.033 / 0.017, stage 2 0.008 / 0.004); a fraction in between, with nodes
//!   that first-order terms could accept, repeats the n/8 probe with first-order moments and takes
//!   [`Plan::Tree`] (moments kept) if that passes (peaked 2^17: zeroth order 0.086–0.109, first
//!   order 0.015, and the solve 0.377 → 0.328 s without stage 2, session 15);
//! * stage 2: build a tree over the first p = ⌊n/2⌋ keys (rounded down to a multiple of the band;
//!   O(p·d·log p)), insert them, and run the tree path on up to `probe_rows` rows of the next band —
//!   rows whose prefix is the median prefix length, so their work fraction
//!   w = (work of the tree path, + L for rows that fall back) / L is representative of the rows that
//!   dominate the exact cost (the rows with i ≥ n/2 carry 3/4 of Σ L). If the mean fraction is
//!   ≤ `max_work_fraction` the plan is [`Plan::Tree`] (and the tree over all n keys is built), else
//!   [`Plan::Exact`]. The probe costs O(n·depth·dv + probe_rows·L), negligible against Σ L·d for
//!   n ≥ 4·band.
use super::batch::{Band, FrontierBlock, Outcome, Rows, Scratch, tree_rows};
use super::tree::Tree;
use super::{Prepared, SolverOptions};

/// What the solver does for a head.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Every row exact (with its rounding certificate); the reason.
    Exact { reason: String },
    /// Band + tree per row (fallback to exact per row when ε > tol); the deciding probe's work
    /// fraction (NaN when the tree was forced) and its stage (1: at n/8, 2: at n/2).
    Tree { probe_work_fraction: f64, stage: u8 },
}

impl Plan {
    pub fn label(&self) -> String {
        match self {
            Plan::Exact { reason } => format!("exact ({reason})"),
            Plan::Tree { probe_work_fraction, stage: 1 } => {
                format!("tree (probe work {probe_work_fraction:.3} at n/8)")
            }
            Plan::Tree { probe_work_fraction, .. } => format!("tree (probe work {probe_work_fraction:.3})"),
        }
    }
    pub fn is_tree(&self) -> bool {
        matches!(self, Plan::Tree { .. })
    }
}

/// Forced plans (tests, theorem checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Force {
    Tree,
    Exact,
}

/// Choose the plan; returns the tree (with no keys inserted) when the plan is [`Plan::Tree`].
/// The exact plan when it can be decided from n alone (no forced plan): n < 4·band, or the exact
/// band alone — on average band/2 keys per row against ≈ n/2 for exact attention at the probe's rows —
/// already exceeds the admissible work fraction, so no tree could pass the probe.
pub fn early_exact(n: usize, opts: &SolverOptions) -> Option<Plan> {
    if opts.force.is_some() {
        return None;
    }
    let band = opts.band.max(1);
    if n < 4 * band {
        return Some(Plan::Exact { reason: format!("n = {n} < 4·band = {}", 4 * band) });
    }
    if n < opts.min_tree_n {
        return Some(Plan::Exact { reason: format!("n = {n} < min_tree_n = {}", opts.min_tree_n) });
    }
    let f = band as f64 / n as f64;
    if f > opts.max_work_fraction {
        return Some(Plan::Exact { reason: format!("band/n = {f:.3} > max work fraction {}", opts.max_work_fraction) });
    }
    None
}

/// Also returns the seconds spent building trees.
pub fn plan(p: &Prepared<'_>, opts: &SolverOptions, tol: f64) -> (Plan, Option<Tree>, f64) {
    let mut build_secs = 0.0;
    let (plan, tree) = plan_timed(p, opts, tol, &mut build_secs);
    (plan, tree, build_secs)
}

fn plan_timed(p: &Prepared<'_>, opts: &SolverOptions, tol: f64, build_secs: &mut f64) -> (Plan, Option<Tree>) {
    let n = p.n;
    let band = opts.band.max(1);
    match opts.force {
        Some(Force::Exact) => return (Plan::Exact { reason: "forced".into() }, None),
        Some(Force::Tree) => {
            let mut t = build(p, opts, n, build_secs);
            if opts.first_order {
                t.enable_moments(MOMENT_BUDGET);
            }
            return (Plan::Tree { probe_work_fraction: f64::NAN, stage: 0 }, Some(t));
        }
        None => {}
    }
    if let Some(plan) = early_exact(n, opts) {
        return (plan, None);
    }
    // Stage 1, a cheap give-up test: a tree over the first n/8 keys, probed at rows n/8 …; if even
    // there the tree path does more than 90 % of the exact work, nothing prunes (isotropic or
    // low-dimensional-but-spread keys) and the full probe is skipped.
    let s1 = (n / 8 / band) * band;
    if s1 >= 2 * band && opts.stage1_give_up.is_finite() {
        let mut t1 = build(p, opts, s1, build_secs);
        // Zeroth order first: enabling moments allocates F·d·(1 + dv) values and re-inserts the keys
        // (low_dim n = 16384: plan 8–18 ms with, 5 ms without, against a 88 ms kernel), and a head
        // that needs first-order terms still prunes at zeroth order far below the give-up threshold
        // (peaked n = 32768: stage-2 fraction 0.094 without moments); moments only below it.
        let zeroth = probe_once(p, opts, tol, &mut t1, s1);
        if zeroth.0 > opts.stage1_give_up {
            let f1 = zeroth.0;
            return (
                Plan::Exact { reason: format!("probe work fraction at n/8 {f1:.3} > {}", opts.stage1_give_up) },
                None,
            );
        }
        // Between the two thresholds, with nodes that first-order terms could accept: the same probe
        // with moments, still at n/8 (its insertion costs (n/8)·d·dv, against (n/2)·d·dv, twice, for
        // stage 2's). If it passes, the solve's tree keeps moments. Peaked n = 2^17: stage 1 at
        // zeroth order 0.086–0.109 sent it to stage 2; with moments here 0.015, and the solve
        // without stage 2 takes 0.328 s instead of 0.377 s (session 15).
        let (f1, oc1) = with_moments_if_short(p, opts, tol, &mut t1, s1, zeroth, opts.max_work_fraction);
        if f1 <= opts.max_work_fraction {
            let mut t = build(p, opts, n, build_secs);
            if oc1.first_order_terms > 0 {
                t.enable_moments(MOMENT_BUDGET);
            }
            return (Plan::Tree { probe_work_fraction: f1, stage: 1 }, Some(t));
        }
    }
    // Stage 2: the full tree with the keys [0, start) inserted, probed at rows start …; if it passes,
    // its sums are reset and it is the solve's tree (with first-order moments only when the probe
    // used them).
    let start = (n / 2 / band) * band;
    let mut t = build(p, opts, n, build_secs);
    let (frac, oc) = probe(p, opts, tol, &mut t, start, opts.max_work_fraction);
    if frac <= opts.max_work_fraction {
        t.reset();
        if oc.first_order_terms == 0 {
            t.moments = None;
        }
        (Plan::Tree { probe_work_fraction: frac, stage: 2 }, Some(t))
    } else {
        (Plan::Exact { reason: format!("probe work fraction {frac:.3} > {}", opts.max_work_fraction) }, None)
    }
}

/// Stage 1's tree over the first n/8 keys (a probe's only, then dropped) gets its top levels from a
/// sample from this many keys on, i.e. from n = 2^16; the solve's trees from
/// [`super::skeleton::SKELETON_MIN`] = 2^15. Session 16, 2-core Xeon (`bench solver --n
/// 16384,131072 --exact-max 16384 --reps 10`, alternating builds): with 2^13 for every tree,
/// clustered 2^17 went 0.179/0.183 s → 0.169/0.172 s (stage-1 build 0.009 → 0.006 s), but the
/// solve's own tree at n = 2^14 then had a skeleton too and that solve went 0.0276 → 0.0316 s
/// (work fraction 0.0346 → 0.0361); hence the skeleton earlier for probe trees only.
pub const PROBE_SKELETON_MIN: usize = 1 << 13;

/// Most f64 values kept for first-order moments (F·d·(1 + dv); 32 MB).
const MOMENT_BUDGET: usize = 1 << 22;

/// Work fraction of the tree path on one batch of rows [start, start + 32) with the keys [0, start)
/// inserted into `t` (rows that fall back count their full prefix), and what the rows did.
/// The probe runs first without first-order moments (their insertion costs d·dv per key); when its
/// fraction exceeds `target` and some rejected node could have used them, the moments are enabled,
/// the keys re-inserted and the probe repeated.
fn probe(p: &Prepared<'_>, opts: &SolverOptions, tol: f64, t: &mut Tree, start: usize, target: f64) -> (f64, Outcome) {
    let first = probe_once(p, opts, tol, t, start);
    with_moments_if_short(p, opts, tol, t, start, first, target)
}

/// The second half of [`probe`]: given the probe's result without moments, repeat it with moments
/// when it misses `target` and some rejected node could have used them.
fn with_moments_if_short(
    p: &Prepared<'_>,
    opts: &SolverOptions,
    tol: f64,
    t: &mut Tree,
    start: usize,
    (frac, oc): (f64, Outcome),
    target: f64,
) -> (f64, Outcome) {
    if frac <= target || oc.first_order_candidates == 0 || !opts.first_order {
        return (frac, oc);
    }
    t.reset();
    if !t.enable_moments(MOMENT_BUDGET) {
        t.insert_range(p.k32, p.v32, start);
        return (frac, oc);
    }
    probe_once(p, opts, tol, t, start)
}

fn probe_once(p: &Prepared<'_>, opts: &SolverOptions, tol: f64, t: &mut Tree, start: usize) -> (f64, Outcome) {
    let (n, band) = (p.n, opts.band.max(1));
    t.insert_range(p.k32, p.v32, start);
    let hi = (start + band.min(super::BATCH_ROWS)).min(n);
    let lo = start.max(p.mask.rows(n).start);
    if lo >= hi {
        return (1.0, Outcome::default());
    }
    let f32_products = p.f32_products(tol, t.frontier.len() + band, opts);
    let fb = FrontierBlock::gather(t, p.vmax, !f32_products);
    let mut out = vec![0.0; (hi - lo) * p.dv];
    let mut cert = vec![0.0; hi - lo];
    let (mut kb, mut vb) = (Vec::new(), Vec::new());
    let band = Band::widen(p, start, hi, &mut kb, &mut vb, f32_products);
    let job = Rows {
        p,
        tree: t,
        fb: &fb,
        band: &band,
        lo,
        hi,
        tol,
        share: opts.share,
        f32_products,
        fused: opts.fused_passes,
    };
    let oc = tree_rows(&job, &mut out, &mut cert, &mut Scratch::default());
    let mut work = oc.work as f64;
    let mut exact = 0.0;
    for (i, e) in (lo..hi).zip(&cert) {
        let l = p.mask.keys(i, n).end as f64;
        exact += l;
        if !(*e <= tol) {
            work += l;
        }
    }
    (work / exact.max(1.0), oc)
}

/// Build the tree over the keys [0, nk) (leaves: ≤ `leaf` keys, or r ≤ leaf_nats / max_i ‖q_i‖)
/// and set its frontier at r ≤ frontier_nats / max_i ‖q_i‖
/// (no first-order moments: [`probe`] enables them on demand).
fn build(p: &Prepared<'_>, opts: &SolverOptions, nk: usize, secs: &mut f64) -> Tree {
    let t0 = std::time::Instant::now();
    let qmax = p.qmax;
    let tight_r = if qmax > 0.0 { opts.leaf_nats / qmax } else { 0.0 };
    // A tree over a prefix only serves a probe and is dropped: it may take a skeleton earlier.
    let skel = if nk < p.n { PROBE_SKELETON_MIN } else { super::skeleton::SKELETON_MIN };
    let mut t = Tree::build_with_skeleton_from(&p.k32[..nk * p.d], nk, p.d, p.dv, opts.leaf, tight_r, skel);
    *secs += t0.elapsed().as_secs_f64();
    if opts.frontier_nats > 0.0 && qmax > 0.0 {
        t.set_frontier(opts.frontier_nats / qmax);
    }
    t
}
