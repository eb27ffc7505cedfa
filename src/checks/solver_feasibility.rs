//! Check of `solver.feasibility` (`../shared/reference/solver-feasibility.md` reproduced): on real
//! heads, rows i in the second half, keys 0..=i in blocks of `block` consecutive positions; a block
//! is dropped while the summed *upper bound* of the dropped blocks' mass stays ≤ ε·Z (ε = 1e-2).
//! Work = kept keys + one evaluation per block, as a fraction of i + 1. Bounds: oracle
//! |b|·e^{max_b s} (not computable without the scores) and ball |b|·e^{q·c + ‖q‖r} (centroid c,
//! radius r), box |b|·e^{Σ_l max(q_l lo_l, q_l hi_l)} (per-coordinate key range) and principal-axis
//! box (the box of the keys' coordinates along the block's singular vectors; [`row_fractions`]), and
//! the smallest of the three. The slacks ln(bound) − ln(true block mass) are reported in nats. Claimed:
//! the median (over heads) of the median ball work fraction is ≥ `ball_work_fraction_min`, and the
//! median slack ≥ `ball_slack_nats_min`: ball-bound pruning certifies little on real heads; nor
//! does the smallest of the ball, box and principal-axis box bounds (`best_work_fraction_min`).
//! Per-key pruning ([`perkey`]): progressive principal-subspace bounds per key, and exact scores
//! with exact heavy hitters; claimed: on the median head the cheapest such schedule keeps a median
//! work fraction ≥ `perkey_work_fraction_min` (1/3: no 3× there); the most peaked head is reported.
pub mod perkey;

use super::Ctx;
use crate::Result;
use crate::data::RealHead;
use crate::registry::Theorem;
use crate::stats::median;
use crate::theory::solver::ball_slack as ball_slack_nats;
use crate::verdict::{Finding, Report, Worst};
use perkey::{key_principal, row_perkey};

/// One row's measurements ([`row_fractions`]).
#[derive(Debug, Clone, Default)]
pub struct RowFractions {
    /// Work fractions with the oracle, ball, box, principal-axis box and min(ball, box, pca) bounds.
    pub oracle: f64,
    pub ball: f64,
    pub boxed: f64,
    pub pca: f64,
    pub best: f64,
    /// Slacks of the blocks in nats: ball, box and principal-axis box bounds.
    pub ball_slack: Vec<f64>,
    pub box_slack: Vec<f64>,
    pub pca_slack: Vec<f64>,
}

/// The query-independent geometry of one block of keys: centre, radius, per-coordinate range, and
/// its principal axes (right singular vectors of the centred keys) with the range of the keys'
/// coordinates along them and the largest residual off their span (≈ 0: rounding).
#[derive(Debug, Clone)]
pub struct BlockGeom {
    c: Vec<f64>,
    r: f64,
    lo: Vec<f64>,
    hi: Vec<f64>,
    axes: Vec<f64>,
    ylo: Vec<f64>,
    yhi: Vec<f64>,
    resid: f64,
}

fn block_geom(k: &[f64], d: usize, b: usize, e: usize) -> BlockGeom {
    let len = e - b;
    let mut c = vec![0.0; d];
    let (mut lo, mut hi) = (vec![f64::INFINITY; d], vec![f64::NEG_INFINITY; d]);
    for j in b..e {
        for t in 0..d {
            let x = k[j * d + t];
            c[t] += x / len as f64;
            lo[t] = lo[t].min(x);
            hi[t] = hi[t].max(x);
        }
    }
    let x: Vec<f64> = (b..e).flat_map(|j| (0..d).map(move |t| (j, t))).map(|(j, t)| k[j * d + t] - c[t]).collect();
    let r = x.chunks_exact(d).map(|row| row.iter().map(|v| v * v).sum::<f64>().sqrt()).fold(0.0, f64::max);
    let vt = nalgebra::DMatrix::from_row_slice(len, d, &x).svd(false, true).v_t.expect("v_t was requested");
    let na = vt.nrows();
    let axes: Vec<f64> = (0..na).flat_map(|a| (0..d).map(move |t| (a, t))).map(|(a, t)| vt[(a, t)]).collect();
    let (mut ylo, mut yhi, mut resid) = (vec![f64::INFINITY; na], vec![f64::NEG_INFINITY; na], 0.0f64);
    for row in x.chunks_exact(d) {
        let mut res = row.to_vec();
        for a in 0..na {
            let ax = &axes[a * d..(a + 1) * d];
            let y: f64 = ax.iter().zip(row).map(|(u, v)| u * v).sum();
            ylo[a] = ylo[a].min(y);
            yhi[a] = yhi[a].max(y);
            res.iter_mut().zip(ax).for_each(|(rv, u)| *rv -= y * u);
        }
        resid = resid.max(res.iter().map(|v| v * v).sum::<f64>().sqrt());
    }
    BlockGeom { c, r, lo, hi, axes, ylo, yhi, resid }
}

/// Per row: work fractions and slacks. Bounds of a block's scores: ball q·c + ‖q‖r; box
/// Σ_l max(q_l lo_l, q_l hi_l) (the exact maximum of q·k over the per-coordinate key range);
/// principal-axis box q·c + Σ_a max(p_a ylo_a, p_a yhi_a) + ‖q‖·resid with p = Vᵀq (the box of the
/// keys' coordinates along the block's principal axes V, and the keys' residual off their span).
pub fn row_fractions(q: &[f64], k: &[f64], d: usize, i: usize, block: usize, eps: f64) -> RowFractions {
    let s = row_scores(q, k, d, i);
    row_fractions_cached(q, &s, k, d, block, eps, &mut std::collections::HashMap::new())
}

/// The scores q·k_j of keys 0..=i (row-major k, width d).
pub fn row_scores(q: &[f64], k: &[f64], d: usize, i: usize) -> Vec<f64> {
    k[..(i + 1) * d].chunks_exact(d).map(|kj| kj.iter().zip(q).map(|(a, b)| a * b).sum()).collect()
}

/// [`row_fractions`] of row i = s.len() − 1 from its scores `s` ([`row_scores`]), with the block
/// geometries of earlier rows of the same keys in `cache`.
pub fn row_fractions_cached(
    q: &[f64],
    s: &[f64],
    k: &[f64],
    d: usize,
    block: usize,
    eps: f64,
    cache: &mut std::collections::HashMap<(usize, usize), BlockGeom>,
) -> RowFractions {
    let i = s.len() - 1;
    let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = s.iter().map(|x| (x - m).exp()).sum();
    let qn = q.iter().map(|x| x * x).sum::<f64>().sqrt();
    let (mut oracle, mut ball, mut boxed, mut pca, mut best) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut out = RowFractions::default();
    for b in (0..=i).step_by(block) {
        let e = (b + block).min(i + 1);
        let len = e - b;
        let g = cache.entry((b, e)).or_insert_with(|| block_geom(k, d, b, e));
        let qc: f64 = g.c.iter().zip(q).map(|(a, b)| a * b).sum();
        let qbox: f64 = (0..d).map(|t| (q[t] * g.lo[t]).max(q[t] * g.hi[t])).sum();
        let na = g.ylo.len();
        let qpca: f64 = qc
            + (0..na)
                .map(|a| {
                    let pa: f64 = g.axes[a * d..(a + 1) * d].iter().zip(q).map(|(u, v)| u * v).sum();
                    (pa * g.ylo[a]).max(pa * g.yhi[a])
                })
                .sum::<f64>()
            + qn * g.resid;
        let mass: f64 = s[b..e].iter().map(|x| (x - m).exp()).sum();
        let smax = s[b..e].iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lf = len as f64;
        let (bb, xb, pb) = (lf * (qc + qn * g.r - m).exp(), lf * (qbox - m).exp(), lf * (qpca - m).exp());
        oracle.push((lf * (smax - m).exp(), len));
        ball.push((bb, len));
        boxed.push((xb, len));
        pca.push((pb, len));
        best.push((bb.min(xb).min(pb), len));
        out.ball_slack.push(ball_slack_nats(mass.ln(), len, qc - m, qn, g.r));
        out.box_slack.push(lf.ln() + qbox - m - mass.ln());
        out.pca_slack.push(lf.ln() + qpca - m - mass.ln());
    }
    let nb = oracle.len();
    let frac = |v: Vec<(f64, usize)>| ((i + 1 - most_keys_dropped(v, eps * z)) + nb) as f64 / (i + 1) as f64;
    out.oracle = frac(oracle);
    out.ball = frac(ball);
    out.boxed = frac(boxed);
    out.pca = frac(pca);
    out.best = frac(best);
    out
}

/// The most keys that blocks `(bound, len)` can drop with Σ bound ≤ `budget` over the dropped
/// blocks: every block has the largest length L but at most one shorter (the row's last, partial
/// block). Among blocks of equal length the cheapest k are the best k, so the optimum is the better
/// of "the cheapest full blocks that fit" and "the short block plus the cheapest full blocks that fit
/// beside it". A greedy pass in order of bound alone is not optimal once lengths differ (a cheap
/// short block taken first can leave no room for a full one), and then a tighter bound could drop
/// fewer keys than a looser one. This optimum is monotone: raising any block's bound never lets
/// more keys drop, so every valid bound keeps at least the oracle's keys (summing in increasing
/// order from the same start keeps this exact in floating point, rounding being monotone).
pub fn most_keys_dropped(v: Vec<(f64, usize)>, budget: f64) -> usize {
    let l = v.iter().map(|x| x.1).max().unwrap_or(0);
    let (mut full, short): (Vec<_>, Vec<_>) = v.into_iter().partition(|x| x.1 == l);
    assert!(short.len() <= 1, "at most one block shorter than the others, got {}", short.len());
    full.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Full blocks that fit after `start` is spent.
    let fitting = |start: f64| {
        let mut acc = start;
        full.iter()
            .take_while(|x| {
                acc += x.0;
                acc <= budget
            })
            .count()
    };
    let mut best = fitting(0.0) * l;
    if let Some(&(sb, sl)) = short.first()
        && sb <= budget
    {
        best = best.max(sl + fitting(sb) * l);
    }
    best
}

/// Medians over one head's rows (and, for slacks, blocks).
#[derive(Debug, Clone, Copy)]
pub struct HeadSummary {
    pub oracle: f64,
    pub ball: f64,
    pub boxed: f64,
    pub pca: f64,
    pub best: f64,
    pub ball_slack: f64,
    pub box_slack: f64,
    pub pca_slack: f64,
    /// The smallest slack of any bound (≥ 0 up to rounding: both are upper bounds).
    pub min_slack: f64,
    /// Per-key ([`perkey`]): medians of the oracle's kept-key fraction, of the exact-scores-plus-heavy-
    /// hitters work fraction and of the cheapest progressive schedule's work fraction.
    pub perkey_oracle_keys: f64,
    pub heavy_hitters: f64,
    pub progressive: f64,
    /// The largest (score − per-key bound) seen (≤ 0 up to rounding).
    pub perkey_violation: f64,
}

/// [`HeadSummary`] of one head: `rows` rows from the second half, blocks of `block`.
pub fn head_summary(h: &RealHead, rows: usize, block: usize, eps: f64) -> HeadSummary {
    let (q, k, _) = h.widen();
    let d = h.d;
    let kp = key_principal(&k, h.n, d);
    let (mut ko, mut hh, mut pg, mut viol) = (Vec::new(), Vec::new(), Vec::new(), f64::NEG_INFINITY);
    let (mut of, mut bf, mut xf, mut pf, mut tf) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut sl, mut xl, mut pl) = (Vec::new(), Vec::new(), Vec::new());
    let step = (h.n / 2 / rows.max(1)).max(1);
    let mut min_slack = f64::INFINITY;
    let mut cache = std::collections::HashMap::new();
    for i in (h.n / 2..h.n).step_by(step) {
        let qi = &q[i * d..(i + 1) * d];
        let s = row_scores(qi, &k, d, i);
        let r = row_fractions_cached(qi, &s, &k, d, block, eps, &mut cache);
        let pk = row_perkey(&kp, qi, &s, h.dv(), eps);
        ko.push(pk.oracle_keys);
        hh.push(pk.heavy_hitters);
        pg.push(pk.progressive);
        viol = viol.max(pk.violation);
        of.push(r.oracle);
        bf.push(r.ball);
        xf.push(r.boxed);
        pf.push(r.pca);
        tf.push(r.best);
        min_slack = r.ball_slack.iter().chain(&r.box_slack).chain(&r.pca_slack).cloned().fold(min_slack, f64::min);
        sl.extend(r.ball_slack);
        xl.extend(r.box_slack);
        pl.extend(r.pca_slack);
    }
    HeadSummary {
        oracle: median(&mut of),
        ball: median(&mut bf),
        boxed: median(&mut xf),
        pca: median(&mut pf),
        best: median(&mut tf),
        ball_slack: median(&mut sl),
        box_slack: median(&mut xl),
        pca_slack: median(&mut pl),
        min_slack,
        perkey_oracle_keys: median(&mut ko),
        heavy_hitters: median(&mut hh),
        progressive: median(&mut pg),
        perkey_violation: viol,
    }
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let fmin = thm.claimed_f64("ball_work_fraction_min")?;
    let smin = thm.claimed_f64("ball_slack_nats_min")?;
    let tmin = thm.claimed_f64("best_work_fraction_min")?;
    let kmin = thm.claimed_f64("perkey_work_fraction_min")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let rows = if ctx.quick { 8 } else { 32 };
    let (mut bfs, mut sls, mut ofs, mut xfs, mut tfs, mut xls) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut pfs, mut pls) = (Vec::new(), Vec::new());
    let mut sound = Worst::new("−(ball, box and principal-axis box slack) ≤ rounding (all are upper bounds)");
    let mut ksound = Worst::new("score − per-key principal-subspace bound ≤ rounding (it is an upper bound)");
    let mut peaked = (f64::INFINITY, String::from("no heads"), 0.0);
    let (mut hhs, mut pgs) = (Vec::new(), Vec::new());
    for h in ctx.real_heads()? {
        let hs = head_summary(h, rows, 32, 1e-2);
        rep.notes.push(format!(
            "{}: median work fraction oracle {:.3}, ball {:.3}, box {:.3}, principal-axis box {:.3}, min of the three {:.3}; median slack ball {:.2}, box {:.2}, principal-axis box {:.2} nats",
            h.label, hs.oracle, hs.ball, hs.boxed, hs.pca, hs.best, hs.ball_slack, hs.box_slack, hs.pca_slack
        ));
        rep.notes.push(format!(
            "{}: per key — oracle keeps {:.3} of the keys, exact scores + heavy hitters {:.3}, cheapest progressive principal-subspace schedule {:.3} of the exact work",
            h.label, hs.perkey_oracle_keys, hs.heavy_hitters, hs.progressive
        ));
        sound.push(-hs.min_slack, 1e-9, || h.label.clone());
        ksound.push(hs.perkey_violation, 1e-9, || h.label.clone());
        if hs.progressive < peaked.0 || hs.progressive.is_nan() {
            peaked = (hs.progressive, h.label.clone(), hs.perkey_oracle_keys);
        }
        hhs.push(hs.heavy_hitters);
        pgs.push(hs.progressive);
        ofs.push(hs.oracle);
        bfs.push(hs.ball);
        sls.push(hs.ball_slack);
        xfs.push(hs.boxed);
        tfs.push(hs.best);
        xls.push(hs.box_slack);
        pfs.push(hs.pca);
        pls.push(hs.pca_slack);
    }
    let (bf, sl, of) = (median(&mut bfs), median(&mut sls), median(&mut ofs));
    let (xf, tf, xl) = (median(&mut xfs), median(&mut tfs), median(&mut xls));
    let (pf, pl) = (median(&mut pfs), median(&mut pls));
    rep.notes.push(format!(
        "{} ({} heads, {rows} rows each from the second half, blocks of 32, ε = 1e-2): median over heads — oracle work fraction {of:.3}, ball {bf:.3}, box {xf:.3}, principal-axis box {pf:.3}, min of the three {tf:.3}; slack ball {sl:.2}, box {xl:.2}, principal-axis box {pl:.2} nats",
        ctx.data_label(),
        bfs.len()
    ));
    let (hh, pg) = (median(&mut hhs), median(&mut pgs));
    rep.notes.push(format!(
        "{}: per key, median over heads — exact scores + heavy hitters {hh:.3}, cheapest progressive schedule {pg:.3} of the exact work (ranks {:?}, budget in quarters of ε·Z with the true Z: counts favour the method)",
        ctx.data_label(),
        perkey::levels(ctx.real_heads()?.first().map_or(64, |h| h.d))
    ));
    rep.notes.push(format!(
        "most peaked head for per-key pruning: {} — cheapest per-key schedule {:.3} of the exact work (at most {:.1}x in multiply-adds, before any loss of kernel efficiency), oracle keeps {:.3} of the keys",
        peaked.1,
        peaked.0,
        1.0 / peaked.0,
        peaked.2
    ));
    rep.findings = vec![
        Finding::lower(
            "median ball-bound work fraction (1 = exact cost)",
            ctx.data_label(),
            bf,
            fmin,
            bfs.len() as u64,
        ),
        Finding::lower("median ball-bound slack, nats", ctx.data_label(), sl, smin, sls.len() as u64),
        Finding::lower(
            "median work fraction with min(ball, box, principal-axis box) per block",
            ctx.data_label(),
            tf,
            tmin,
            tfs.len() as u64,
        ),
        Finding::lower(
            "median (over heads) work fraction of the cheapest per-key schedule (progressive principal-subspace bounds)",
            ctx.data_label(),
            pg,
            kmin,
            pgs.len() as u64,
        ),
        sound.finish(),
        ksound.finish(),
    ];
    Ok(rep.conclude_all())
}

/// Sweep measure: a real (or any) dataset head, `rows` rows, blocks of `block`: median fractions
/// and slack, and `ratio` = ball_work_fraction_min / median ball fraction (≤ 1: the claim holds).
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let fmin = thm.claimed_f64("ball_work_fraction_min")?;
    let h = p.dataset.generate(p.usize_or_at_least("n", 512, 1)?, p.usize_or_at_least("d", 64, 1)?, 1, p.seed)?;
    let rh = RealHead {
        label: p.dataset.label(),
        layer: 0,
        head: 0,
        n: h.n,
        d: h.d,
        q: h.q,
        k: h.k,
        v: h.v,
        out_full: None,
        out_causal: None,
    };
    let hs = head_summary(&rh, p.usize_or_at_least("rows", 8, 1)?, p.usize_or_at_least("block", 32, 1)?, 1e-2);
    Ok(crate::sweep::run::metrics([
        ("oracle_fraction", hs.oracle),
        ("ball_fraction", hs.ball),
        ("ball_slack_nats", hs.ball_slack),
        ("box_fraction", hs.boxed),
        ("best_fraction", hs.best),
        ("box_slack_nats", hs.box_slack),
        ("pca_fraction", hs.pca),
        ("pca_slack_nats", hs.pca_slack),
        ("perkey_oracle_keys", hs.perkey_oracle_keys),
        ("heavy_hitter_fraction", hs.heavy_hitters),
        ("perkey_fraction", hs.progressive),
        ("ratio", fmin / hs.ball),
    ]))
}

#[cfg(test)]
mod tests {
    use super::most_keys_dropped;
    use rand::RngExt;

    /// The brute-force optimum over every subset of the blocks.
    fn brute(v: &[(f64, usize)], budget: f64) -> usize {
        (0u32..1 << v.len())
            .filter_map(|set| {
                let picked = || v.iter().enumerate().filter(move |(t, _)| set >> t & 1 == 1).map(|(_, x)| *x);
                (picked().map(|x| x.0).sum::<f64>() <= budget).then(|| picked().map(|x| x.1).sum())
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn most_keys_dropped_is_the_optimum_where_the_greedy_order_is_not() {
        // Budget 1: by bound alone the short block (0.3, 1 key) goes first and the full one (0.8, 4
        // keys) no longer fits; the optimum drops the full block.
        assert_eq!(most_keys_dropped(vec![(0.3, 1), (0.8, 4)], 1.0), 4);
        // And its raised bounds never drop more keys (the property the theorem's bounds rely on).
        assert!(most_keys_dropped(vec![(0.9, 1), (0.8, 4)], 1.0) <= 4);
        let mut rng = crate::rng::seeded(17);
        for case in 0..2000 {
            let nb = 1 + case % 9;
            let l = 1 + case % 5;
            let mut v: Vec<(f64, usize)> = (0..nb).map(|_| (rng.random_range(0.0..1.0), l)).collect();
            if case % 2 == 0 {
                v.push((rng.random_range(0.0..1.0), rng.random_range(1..=l)));
            }
            let budget = rng.random_range(0.0..3.0);
            let got = most_keys_dropped(v.clone(), budget);
            assert_eq!(got, brute(&v, budget), "case {case}: {v:?}, budget {budget}");
            let raised: Vec<(f64, usize)> = v.iter().map(|&(b, n)| (b + rng.random_range(0.0..0.5), n)).collect();
            assert!(most_keys_dropped(raised, budget) <= got, "case {case}");
        }
    }
}
