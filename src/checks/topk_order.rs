//! Check of `topk.order` (theorem file `theorems/topk.order.yaml`): operation counts of a concrete
//! KeySelector + heap top-K + approximator ([`crate::theory::flops::sparse_query_counted`]) vs T,
//! fitted log-log slope per sequence against the claimed exponent, and the count at T = 1024, K = 16.
use super::Ctx;
use crate::Result;
use crate::registry::Theorem;
use crate::stats::loglog_slope;
use crate::theory::flops::{Selector, TABLE_HEAD_DIM, TABLE_HIDDEN, sparse_per_query, sparse_query_counted};
use crate::verdict::{Finding, Report, Verdict};

/// Mean counted operations per query over `queries` random queries, for sequence length t and K = k.
pub fn ops_per_query(t: usize, k: usize, queries: usize, seed: u64) -> (f64, u64) {
    let (h, hh) = (TABLE_HEAD_DIM as usize, TABLE_HIDDEN as usize);
    let mut rng = crate::rng::stream(seed, t as u64);
    let sel = Selector::random(&mut rng, h, hh, t);
    let mut total = 0u64;
    let mut min = u64::MAX;
    for _ in 0..queries {
        let x: Vec<f64> = crate::data::synthetic::vector(&mut rng, h, 1.0).iter().map(|&a| a as f64).collect();
        let (_, ops) = sparse_query_counted(&sel, &x, k);
        total += ops.0;
        min = min.min(ops.0);
    }
    (total as f64 / queries as f64, min)
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let e = thm.claimed_f64("sequence_exponent")?;
    let c1k = thm.claimed_f64("computations_1k")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let k = 16usize;
    let queries = if ctx.quick { 2 } else { 8 };
    let (mut xs, mut ys, mut yq) = (Vec::new(), Vec::new(), Vec::new());
    let mut below_closed = 0u64;
    let mut rows = Vec::new();
    for p in 13..=17u32 {
        let t = 1usize << p;
        let (q, min) = ops_per_query(t, k, queries, ctx.seed);
        let lower = sparse_per_query(t as u64, TABLE_HEAD_DIM, TABLE_HIDDEN, k as u64);
        if min < lower {
            below_closed += 1;
        }
        xs.push(t as f64);
        yq.push(q);
        ys.push(q * t as f64);
        rows.push(format!("T=2^{p}: {q:.0}/query (closed-form lower bound {lower}), {:.3e}/sequence", q * t as f64));
    }
    let fs = loglog_slope(&xs, &ys, 0.95).ok_or_else(|| crate::Error::Registry("slope fit failed".into()))?;
    let fq = loglog_slope(&xs, &yq, 0.95).ok_or_else(|| crate::Error::Registry("slope fit failed".into()))?;
    rep.findings.push(Finding::upper(
        "|fitted log-log slope of counted ops per sequence vs T − claimed exponent|",
        format!("T = 2^13…2^17, K = {k}: slope {:.3} [{:.3}, {:.3}] vs claimed {e}", fs.slope, fs.lo, fs.hi),
        (fs.slope - e).abs(),
        0.1,
        xs.len() as u64,
    ));
    let (q1k, _) = ops_per_query(1024, k, queries, ctx.seed);
    rep.findings.push(Finding::upper(
        "counted ops per sequence at T = 1024, K = 16 vs the claimed \"16K computations\"",
        format!("{:.3e} counted ({:.0} per query × 1024 queries)", q1k * 1024.0, q1k),
        q1k * 1024.0,
        c1k,
        1,
    ));
    rep.findings.push(Finding::upper(
        "sizes where the counted ops fall below the closed-form lower bound 2HT+T+2hH(K+2)+2H−K",
        "selector + heap selection + approximator",
        below_closed as f64,
        0.0,
        xs.len() as u64,
    ));
    rep.notes.push(format!(
        "per query: slope {:.3} [{:.3}, {:.3}] (Θ(T): the selector has T outputs); {}",
        fq.slope,
        fq.lo,
        fq.hi,
        rows.join("; ")
    ));
    rep.notes.push(format!(
        "true cost (h = H = {}, K keys): per query 2HT + T + 2hH(K+2) + 2H − K + (selection beyond T − K), per sequence Θ(T²) = 2HT² + O(T)",
        TABLE_HEAD_DIM
    ));
    let r = rep.conclude_all();
    Ok(if r.verdict == Verdict::Fails {
        let mut r = r;
        r.regime = Some(format!(
            "the sparse path is Θ(T) per query and Θ(T²) per sequence (fitted slope {:.2}); at T = 1024, K = 16 it counts {:.2e} operations, {:.0}× the claimed {c1k}",
            fs.slope,
            q1k * 1024.0,
            q1k * 1024.0 / c1k
        ));
        r
    } else {
        r
    })
}

/// Sweep measure: counted operations of the sparse path at one (T, K).
pub fn measure(p: &crate::sweep::Point, _thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let t = p.usize("t")?;
    let k = p.usize_at_least("k", 1)?;
    if t == 0 || t > 1 << 20 || k == 0 {
        return Err(crate::Error::invalid(format!("point {}", p.key), "need 1 ≤ t ≤ 2^20 and k ≥ 1"));
    }
    let (q, min) = ops_per_query(t, k, p.trials.clamp(1, 64) as usize, p.seed);
    let lower = sparse_per_query(t as u64, TABLE_HEAD_DIM, TABLE_HIDDEN, k as u64) as f64;
    Ok(crate::sweep::run::metrics([
        ("ops_per_query", q),
        ("ops_per_sequence", q * t as f64),
        ("lower_over_counted", lower / min as f64),
        ("ops_per_query_over_t", q / t as f64),
    ]))
}
