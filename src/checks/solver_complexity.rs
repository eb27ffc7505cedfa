//! Check of `solver.complexity`: the solver's work per row (key-equivalents: exact keys + centre
//! scores + ⌈d·dv/(d + dv)⌉ per first-order term, fallbacks included — a deterministic count, not a timing) against n. In the tight-cluster
//! regime the fitted slope of work per row vs n is ≤ `clustered_work_slope_max` (≈ constant work per
//! row: total O(n·(clusters·depth + band))); for isotropic Gaussian keys in d = 64 (no structure) the
//! planner chooses the exact path, so work per row grows like n (slope ≈ 1); so it does for keys
//! of a rank-4 subspace at ‖q‖ ≈ 2 (no ball small enough to certify holds a key, theorem file).
use super::Ctx;
use crate::Result;
use crate::reference::Mask;
use crate::registry::Theorem;
use crate::solver::{SolverOptions, solve};
use crate::stats::loglog_slope;
use crate::sweep::dataset::DatasetSpec;
use crate::theory::expansion::ideal_gaussian_saving;
use crate::verdict::{Finding, Report, Verdict};

/// (work per row, work fraction, plan label, max ε / tol) of one causal solve at tol = 1e-3·max|v|.
pub fn work_of(
    spec: &DatasetSpec,
    n: usize,
    d: usize,
    dv: usize,
    band: usize,
    seed: u64,
) -> Result<(f64, f64, String, f64)> {
    let h = spec.generate(n, d, dv, seed)?;
    let head = h.head()?;
    let tol = 1e-3 * crate::theory::fp::max_abs_f64(&h.v).max(1e-300);
    // The theorem is about the tree algorithm's certified work in key-equivalents, so the planner
    // admits the tree whenever it saves work (0.6) and skips its stage-1 give-up filter; the
    // defaults are time-cost choices for the f32 kernel on CPU (see SolverOptions).
    let opts = SolverOptions {
        band,
        max_work_fraction: 0.6,
        stage1_give_up: f64::INFINITY,
        min_tree_n: 0,
        ..Default::default()
    };
    let r = solve(&head, Mask::Causal, tol, &opts)?;
    Ok((
        r.stats.work as f64 / h.n as f64,
        r.stats.work as f64 / r.stats.exact_work.max(1) as f64,
        r.plan.label(),
        r.max_cert() / tol,
    ))
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let smax = thm.claimed_f64("clustered_work_slope_max")?;
    let gmin = thm.claimed_f64("unstructured_work_slope_min")?;
    let lmin = thm.claimed_f64("lowdim_work_slope_min")?;
    let dmax = thm.claimed_f64("lowdim_dual_tree_speedup_max")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let ns: Vec<usize> = if ctx.quick { vec![2048, 4096, 8192] } else { vec![2048, 4096, 8192, 16384, 32768] };
    let clustered = DatasetSpec::Clustered { clusters: 64, spread: 1e-4, scale: 2.0 };
    let gauss = DatasetSpec::Gaussian { scale: 4.0 };
    let lowdim = DatasetSpec::LowDim { rank: 4, noise: 1e-4, scale: 2.0 };
    let mut fits = Vec::new();
    for (spec, d, dv) in [(&clustered, 32usize, 8usize), (&gauss, 64, 8), (&lowdim, 64, 8)] {
        let mut ys = Vec::new();
        for &n in &ns {
            let (wpr, frac, plan, cr) = work_of(spec, n, d, dv, 64, ctx.seed)?;
            rep.notes.push(format!(
                "{} n={n} d={d}: work/row {wpr:.1}, work fraction {frac:.4}, max ε/tol {cr:.2}, plan {plan}",
                spec.label()
            ));
            ys.push(wpr);
        }
        let xs: Vec<f64> = ns.iter().map(|&n| n as f64).collect();
        fits.push(loglog_slope(&xs, &ys, 0.95).map(|f| f.slope).unwrap_or(f64::NAN));
    }
    // The covering argument of the theorem file, measured: how many other keys lie within
    // r* = 0.03/median ‖q‖ of a key of the rank-4 head (≈ 8e-4·n/2^17 predicted by the density bound).
    {
        let n = *ns.last().expect("ns is non-empty");
        let h = lowdim.generate(n, 64, 8, ctx.seed)?;
        let norm = |r: &[f32]| r.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>().sqrt();
        let mut qn: Vec<f64> = h.q.chunks_exact(64).map(norm).collect();
        qn.sort_by(f64::total_cmp);
        let rstar = 0.03 / qn[qn.len() / 2];
        let probes: Vec<usize> = (0..n).step_by((n / 64).max(1)).collect();
        let close: usize = probes
            .iter()
            .map(|&a| {
                let ka = &h.k[a * 64..(a + 1) * 64];
                h.k.chunks_exact(64)
                    .enumerate()
                    .filter(|(b, kb)| {
                        *b != a && {
                            let d2: f64 = ka.iter().zip(*kb).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum();
                            d2.sqrt() <= rstar
                        }
                    })
                    .count()
            })
            .sum();
        rep.notes.push(format!(
            "{} n={n}: other keys within r* = 0.03/median‖q‖ = {rstar:.4} of a key: {:.3} on average over {} keys (a certifiable node of ≥ 2 keys needs ≥ 1)",
            lowdim.label(),
            close as f64 / probes.len() as f64,
            probes.len()
        ));
    }
    // Beyond this solver: the cheapest dual-tree order-p expansion schedule (theory::expansion) on
    // the bench's rank-4 head, d = dv = 64, counted in multiply-adds against the exact cost.
    let dn = if ctx.quick { 1 << 16 } else { 1 << 17 };
    let (dual, share) = dual_tree_speedup(&lowdim, dn, 64, 64, DUAL_TREE_LEAF, 1e-3, ctx.seed)?;
    let ideal = ideal_gaussian_saving(dn, 4, 64, 64, 1e-3);
    // The smallest power of two n at which even the idealised model saves 20× (the target).
    let n20 = (10..=40u32).map(|e| 1usize << e).find(|&n| ideal_gaussian_saving(n, 4, 64, 64, 1e-3) >= 20.0);
    rep.notes.push(format!(
        "{} n={dn} d=dv=64: cheapest dual-tree order-p schedule (ball trees split at the midpoint of the principal axis, leaves {DUAL_TREE_LEAF}, F = C(p+4, 4)) saves {dual:.3}× in multiply-adds at tol 1e-3 (expanded share of pairs {share:.3}); the idealised model (theory::expansion::ideal_gaussian_saving, computed) allows {ideal:.2}× and first reaches 20× at n = {}",
        lowdim.label(),
        n20.map_or("> 2^40".to_string(), |n| format!("2^{}", n.trailing_zeros()))
    ));
    if !ctx.quick {
        for (n, tol) in [(1usize << 16, 1e-3), (1 << 17, 1e-2), (1 << 18, 1e-3)] {
            let (x, sh) = dual_tree_speedup(&lowdim, n, 64, 64, DUAL_TREE_LEAF, tol, ctx.seed)?;
            rep.notes.push(format!(
                "{} n={n} d=dv=64: dual-tree schedule saves {x:.3}× at tol {tol:e} (expanded share {sh:.3})",
                lowdim.label()
            ));
        }
    }
    rep.findings = vec![
        Finding::upper(
            "slope of work/row vs n, tight clusters (64 centres, spread 1e-4, ‖q‖≈2, d=32)",
            format!("n = {ns:?}"),
            fits[0],
            smax,
            ns.len() as u64,
        ),
        Finding::lower(
            "slope of work/row vs n, isotropic Gaussian d=64, ‖q‖≈‖k‖≈4",
            format!("n = {ns:?}"),
            fits[1],
            gmin,
            ns.len() as u64,
        ),
        Finding::lower(
            "slope of work/row vs n, rank-4 keys and queries in d=64, ‖q‖≈‖k‖≈2",
            format!("n = {ns:?}"),
            fits[2],
            lmin,
            ns.len() as u64,
        ),
        Finding::upper(
            "multiply-add saving of the cheapest dual-tree order-p Taylor schedule, rank-4 head, d = dv = 64, tol 1e-3",
            format!("n = {dn}, ball-tree leaves of {DUAL_TREE_LEAF}, monomials in k = 4 variables"),
            dual,
            dmax,
            1,
        ),
        Finding::upper(
            "dual-tree schedule's saving against the idealised model's (no partition has smaller nodes on average)",
            format!("n = {dn}, rank 4, d = dv = 64, tol 1e-3"),
            dual,
            ideal,
            1,
        ),
    ];
    let ok = rep.findings.iter().all(Finding::ok);
    rep.verdict = if ok { Verdict::HoldsInRegime } else { Verdict::Fails };
    rep.regime = Some(format!(
        "work per row ≈ n^{:.2} for tight key clusters (‖q‖·radius ≪ tol/max|v|): total ≈ O(n·(clusters·depth + band)); unstructured d = 64 keys: exact, n^{:.2} per row (total n²); rank-4 keys at ‖q‖ ≈ 2: exact, n^{:.2} per row (a dual-tree order-p expansion saves {dual:.2}× in multiply-adds at n = {dn})",
        fits[0], fits[1], fits[2]
    ));
    Ok(rep)
}

/// Ball-tree leaf size of the dual-tree count (32 saved 1.42× against 1.41× at n = 2^17 on the
/// rank-4 head of seed 302, in twice the time; all three in `sweeps/solver.complexity.dual_tree.yaml`).
pub const DUAL_TREE_LEAF: usize = 64;

/// (saving factor exact/work, expanded share of pairs) of [`dual_tree_expansion_work`] on a generated
/// head at tol = tol_rel·max|v|; monomials in k = the rank of a low-dimensional spec (the most
/// favourable count), else in d.
pub fn dual_tree_speedup(
    spec: &DatasetSpec,
    n: usize,
    d: usize,
    dv: usize,
    leaf: usize,
    tol_rel: f64,
    seed: u64,
) -> Result<(f64, f64)> {
    let h = spec.generate(n, d, dv, seed)?;
    let k = match spec {
        DatasetSpec::LowDim { rank, .. } => (*rank).max(1) as u32,
        _ => d as u32,
    };
    let cost = DualTreeCost { d, dv, k, eps: crate::theory::expansion::uniform_budget(tol_rel), p_max: 40 };
    let (work, exact, share) = dual_tree_expansion_work(&h.q, &h.k, d, leaf.max(1), cost);
    Ok((exact / work, share))
}

/// Sweep measure: work per row and work fraction of a planned causal solve, tol = 1e-3·max|v|; with
/// a `leaf` parameter instead the dual-tree count ([`dual_tree_speedup`], d = dv = the point's d) and
/// its ratio to the claimed `lowdim_dual_tree_speedup_max`.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let leaf = p.usize_or("leaf", 0)?;
    if leaf > 0 {
        let d = p.usize_or_at_least("d", 64, 1)?;
        let (x, share) = dual_tree_speedup(
            &p.dataset,
            p.usize_or_at_least("n", 1024, 1)?,
            d,
            d,
            leaf,
            p.f64_or("tol", 1e-3)?,
            p.seed,
        )?;
        let claim = thm.claimed_f64("lowdim_dual_tree_speedup_max")?;
        return Ok(crate::sweep::run::metrics([
            ("dual_tree_speedup", x),
            ("expanded_share", share),
            ("speedup_over_claim", x / claim),
        ]));
    }
    let (wpr, frac, _, cr) = work_of(
        &p.dataset,
        p.usize_or_at_least("n", 1024, 1)?,
        p.usize_or_at_least("d", 32, 1)?,
        p.usize_or_at_least("dv", 8, 1)?,
        p.usize_or_at_least("band", 64, 1)?,
        p.seed,
    )?;
    Ok(crate::sweep::run::metrics([("work_per_row", wpr), ("work_fraction", frac), ("max_cert_over_tol", cr)]))
}

/// A node of a ball tree: points `perm[start..end]`, their centroid and radius (max distance to it).
struct Ball {
    start: usize,
    end: usize,
    radius: f64,
    kids: Option<(usize, usize)>,
}

/// A ball tree over the n rows of `x` (n × d, f32; distances in f64): each node split at the midpoint
/// of its points' range along their principal axis, down to `leaf` points per node (or points that
/// do not separate). The radius is the largest distance to the node's centroid. Splitting at the
/// median instead (or along the direction of two far points) gave wider nodes and savings of 1.16×
/// (1.29×) instead of 1.41× at n = 2^17 on the rank-4 head of seed 302.
fn ball_tree(x: &[f32], d: usize, leaf: usize) -> Vec<Ball> {
    fn row(x: &[f32], d: usize, i: usize) -> &[f32] {
        &x[i * d..(i + 1) * d]
    }
    fn dist2(a: &[f32], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(&p, &c)| (p as f64 - c).powi(2)).sum()
    }

    fn build(x: &[f32], d: usize, perm: &mut [usize], start: usize, nodes: &mut Vec<Ball>, leaf: usize) -> usize {
        let m = perm.len();
        let mut c = vec![0.0f64; d];
        for &i in perm.iter() {
            for (cl, &v) in c.iter_mut().zip(row(x, d, i)) {
                *cl += v as f64 / m as f64;
            }
        }
        let r2 = perm.iter().map(|&i| dist2(row(x, d, i), &c)).fold(0.0f64, f64::max);
        let id = nodes.len();
        nodes.push(Ball { start, end: start + m, radius: r2.sqrt(), kids: None });
        if m > leaf {
            // Principal axis of the node's points (power iteration on the centred second moment
            // of at most AXIS_SAMPLE of them, evenly strided: only the split direction depends on it).
            let mut dir: Vec<f64> = (0..d).map(|l| 1.0 + (l as f64 * 0.618_034).fract()).collect();
            let stride = m.div_ceil(AXIS_SAMPLE);
            for _ in 0..POWER_STEPS {
                let mut next = vec![0.0f64; d];
                for &i in perm.iter().step_by(stride) {
                    let r = row(x, d, i);
                    let t: f64 = r.iter().zip(&c).zip(&dir).map(|((&v, &cl), &u)| (v as f64 - cl) * u).sum();
                    for ((nl, &v), &cl) in next.iter_mut().zip(r).zip(&c) {
                        *nl += t * (v as f64 - cl);
                    }
                }
                let norm = next.iter().map(|t| t * t).sum::<f64>().sqrt();
                if !(norm > 0.0) {
                    break;
                }
                dir = next.into_iter().map(|t| t / norm).collect();
            }
            let proj = |i: usize| row(x, d, i).iter().zip(&dir).map(|(&v, &t)| v as f64 * t).sum::<f64>();
            // Split at the midpoint of the projections' range (cells of equal extent, so that the
            // dense core and the sparse tails part early), not at the median.
            let (lo, hi) = perm.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &i| {
                let t = proj(i);
                (lo.min(t), hi.max(t))
            });
            let mid = 0.5 * (lo + hi);
            let mut h = 0;
            for j in 0..m {
                if proj(perm[j]) < mid {
                    perm.swap(h, j);
                    h += 1;
                }
            }
            if h == 0 || h == m {
                return id;
            }
            let (lo, hi) = perm.split_at_mut(h);
            let l = build(x, d, lo, start, nodes, leaf);
            let r = build(x, d, hi, start + h, nodes, leaf);
            nodes[id].kids = Some((l, r));
        }
        id
    }
    let mut perm: Vec<usize> = (0..x.len() / d).collect();
    let mut nodes = Vec::new();
    build(x, d, &mut perm, 0, &mut nodes, leaf);
    nodes
}

/// Power-iteration steps for a node's principal axis.
const POWER_STEPS: usize = 12;
/// Points a node's principal axis is estimated from.
const AXIS_SAMPLE: usize = 1024;

/// Cost model of [`dual_tree_expansion_work`].
#[derive(Debug, Clone, Copy)]
pub struct DualTreeCost {
    /// Score dimension d (exact cost per query–key pair: d + dv multiply-adds).
    pub d: usize,
    /// Value dimension dv (an expanded pair costs (m_A + m_B)·F·(dv + 1) multiply-adds).
    pub dv: usize,
    /// Dimension k of the monomials: F = C(p + k, k).
    pub k: u32,
    /// Per-weight relative error every expanded pair must meet ([`crate::theory::expansion::uniform_budget`]).
    pub eps: f64,
    /// Highest order tried.
    pub p_max: u32,
}

/// Multiply-adds of the cheapest dual-tree schedule over ball trees of the queries and the keys
/// (all n × n pairs, no mask), against the exact n²(d + dv): each node pair is computed exactly,
/// expanded to the smallest order p with ε_p(R_A R_B) ≤ eps (cost (m_A + m_B)·C(p + k, k)·(dv + 1):
/// the moments of the key node and their evaluation at each query, counting neither the monomials
/// nor the exponentials, in the expansion's favour), or split at its larger-radius node, whichever
/// is cheapest (a minimum over all such schedules, by recursion). Returns (work, exact work, share
/// of the pairs that the cheapest schedule expands).
pub fn dual_tree_expansion_work(q: &[f32], k: &[f32], d: usize, leaf: usize, c: DualTreeCost) -> (f64, f64, f64) {
    use crate::theory::expansion::{monomials, order_from_thresholds, order_thresholds};
    let (ta, tb) = rayon::join(|| ball_tree(q, d, leaf), || ball_tree(k, d, leaf));
    let per_pair = (c.d + c.dv) as f64;
    // Returns (cost, expanded pairs).
    fn go(ta: &[Ball], tb: &[Ball], ia: usize, ib: usize, c: &DualTreeCost, th: &[f64], per_pair: f64) -> (f64, f64) {
        let (a, b) = (&ta[ia], &tb[ib]);
        let (ma, mb) = ((a.end - a.start) as f64, (b.end - b.start) as f64);
        let exact = ma * mb * per_pair;
        let mut best = (exact, 0.0);
        // No sub-pair can beat its exact cost once ma·mb·(d + dv) ≤ (ma + mb)(dv + 1): the ratio
        // ma·mb/(ma + mb) only shrinks on sub-pairs.
        if exact <= (ma + mb) * (c.dv + 1) as f64 {
            return best;
        }
        if let Some(p) = order_from_thresholds(th, a.radius * b.radius) {
            let e = (ma + mb) * monomials(p, c.k) as f64 * (c.dv + 1) as f64;
            if e < best.0 {
                best = (e, ma * mb);
            }
        }
        let split = match (a.kids, b.kids) {
            (Some((l, r)), Some(_)) if a.radius >= b.radius => Some([(l, ib), (r, ib)]),
            (_, Some((l, r))) => Some([(ia, l), (ia, r)]),
            (Some((l, r)), None) => Some([(l, ib), (r, ib)]),
            (None, None) => None,
        };
        if let Some(kids) = split {
            let left = || go(ta, tb, kids[0].0, kids[0].1, c, th, per_pair);
            let right = || go(ta, tb, kids[1].0, kids[1].1, c, th, per_pair);
            // Large pairs in parallel; the sum below is taken in the same order either way.
            let (x, y) = if ma * mb > 1e7 { rayon::join(left, right) } else { (left(), right()) };
            if x.0 + y.0 < best.0 {
                best = (x.0 + y.0, x.1 + y.1);
            }
        }
        best
    }
    let (nq, nk) = ((q.len() / d) as f64, (k.len() / d) as f64);
    let th = order_thresholds(c.eps, c.p_max);
    let (work, expanded) = go(&ta, &tb, 0, 0, &c, &th, per_pair);
    (work, nq * nk * per_pair, expanded / (nq * nk))
}
