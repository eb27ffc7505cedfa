//! Check of `solver.feasibility` (`../shared/reference/solver-feasibility.md` reproduced): on real
//! heads, rows i in the second half, keys 0..=i in blocks of `block` consecutive positions; a block
//! is dropped while the summed *upper bound* of the dropped blocks' mass stays ≤ ε·Z (ε = 1e-2).
//! Work = kept keys + one evaluation per block, as a fraction of i + 1. Bounds: oracle
//! |b|·e^{max_b s} (not computable without the scores) and ball |b|·e^{q·c + ‖q‖r} (centroid c,
//! radius r). The ball bound's slack ln(ball) − ln(true block mass) is reported in nats. Claimed:
//! the median (over heads) of the median ball work fraction is ≥ `ball_work_fraction_min`, and the
//! median slack ≥ `ball_slack_nats_min`: ball-bound pruning certifies little on real heads.
use super::Ctx;
use crate::Result;
use crate::data::RealHead;
use crate::registry::Theorem;
use crate::theory::solver::ball_slack;
use crate::verdict::{Finding, Report, Worst};

/// Per row: (oracle work fraction, ball work fraction, slacks of the blocks in nats).
pub fn row_fractions(q: &[f64], k: &[f64], d: usize, i: usize, block: usize, eps: f64) -> (f64, f64, Vec<f64>) {
    let s: Vec<f64> = (0..=i).map(|j| k[j * d..(j + 1) * d].iter().zip(q).map(|(a, b)| a * b).sum()).collect();
    let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = s.iter().map(|x| (x - m).exp()).sum();
    let qn = q.iter().map(|x| x * x).sum::<f64>().sqrt();
    let (mut oracle, mut ball, mut slack) = (Vec::new(), Vec::new(), Vec::new());
    for b in (0..=i).step_by(block) {
        let e = (b + block).min(i + 1);
        let len = e - b;
        let mut c = vec![0.0; d];
        for j in b..e {
            for t in 0..d {
                c[t] += k[j * d + t] / len as f64;
            }
        }
        let r = (b..e).map(|j| (0..d).map(|t| (k[j * d + t] - c[t]).powi(2)).sum::<f64>().sqrt()).fold(0.0, f64::max);
        let qc: f64 = c.iter().zip(q).map(|(a, b)| a * b).sum();
        let mass: f64 = s[b..e].iter().map(|x| (x - m).exp()).sum();
        let smax = s[b..e].iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        oracle.push((len as f64 * (smax - m).exp(), len));
        ball.push((len as f64 * (qc + qn * r - m).exp(), len));
        slack.push(ball_slack(mass.ln(), len, qc - m, qn, r));
    }
    let nb = oracle.len();
    let frac = |mut v: Vec<(f64, usize)>| {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (mut acc, mut dropped) = (0.0, 0usize);
        for (bnd, len) in v {
            if acc + bnd > eps * z {
                break;
            }
            acc += bnd;
            dropped += len;
        }
        ((i + 1 - dropped) + nb) as f64 / (i + 1) as f64
    };
    (frac(oracle), frac(ball), slack)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

/// (median oracle fraction, median ball fraction, median slack) of one head.
pub fn head_summary(h: &RealHead, rows: usize, block: usize, eps: f64) -> (f64, f64, f64, f64) {
    let (q, k, _) = h.widen();
    let d = h.d;
    let (mut of, mut bf, mut sl) = (Vec::new(), Vec::new(), Vec::new());
    let step = (h.n / 2 / rows.max(1)).max(1);
    let mut min_slack = f64::INFINITY;
    for i in (h.n / 2..h.n).step_by(step) {
        let (o, b, s) = row_fractions(&q[i * d..(i + 1) * d], &k, d, i, block, eps);
        of.push(o);
        bf.push(b);
        min_slack = s.iter().cloned().fold(min_slack, f64::min);
        sl.extend(s);
    }
    (median(&mut of), median(&mut bf), median(&mut sl), min_slack)
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let fmin = thm.claimed_f64("ball_work_fraction_min")?;
    let smin = thm.claimed_f64("ball_slack_nats_min")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let rows = if ctx.quick { 8 } else { 32 };
    let (mut bfs, mut sls, mut ofs) = (Vec::new(), Vec::new(), Vec::new());
    let mut sound = Worst::new("−(ball slack) ≤ rounding (the ball bound is an upper bound)");
    for h in ctx.real_heads()? {
        let (o, b, s, mn) = head_summary(h, rows, 32, 1e-2);
        rep.notes.push(format!(
            "{}: median work fraction oracle {o:.3}, ball {b:.3}; median ball slack {s:.2} nats",
            h.label
        ));
        sound.push(-mn, 1e-9, || h.label.clone());
        ofs.push(o);
        bfs.push(b);
        sls.push(s);
    }
    let (bf, sl, of) = (median(&mut bfs), median(&mut sls), median(&mut ofs));
    rep.notes.push(format!(
        "{} ({} heads, {rows} rows each from the second half, blocks of 32, ε = 1e-2): median over heads — oracle work fraction {of:.3}, ball {bf:.3}, ball slack {sl:.2} nats",
        ctx.data_label(),
        bfs.len()
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
        sound.finish(),
    ];
    Ok(rep.conclude_all())
}

/// Sweep measure: a real (or any) dataset head, `rows` rows, blocks of `block`: median fractions
/// and slack, and `ratio` = ball_work_fraction_min / median ball fraction (≤ 1: the claim holds).
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let fmin = thm.claimed_f64("ball_work_fraction_min")?;
    let h = p.dataset.generate(p.usize_or("n", 512)?, p.usize_or("d", 64)?, 1, p.seed)?;
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
    let (o, b, s, _) = head_summary(&rh, p.usize_or("rows", 8)?, p.usize_or("block", 32)?, 1e-2);
    Ok([("oracle_fraction", o), ("ball_fraction", b), ("ball_slack_nats", s), ("ratio", fmin / b)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect())
}
