//! Check of `topk.crossover` (theorem file `theorems/topk.crossover.yaml`): the crossover length
//! of the consistent count of [`crate::theory::flops`], held against the claimed ~256 tokens.
use super::Ctx;
use crate::Result;
use crate::registry::Theorem;
use crate::theory::flops::*;
use crate::verdict::{Finding, Report, Verdict};

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let ct = thm.claimed_f64("crossover_t")?;
    let cd = thm.claimed_f64("crossover_d")?;
    if !(ct >= 1.0 && cd >= 1.0) {
        return Err(crate::Error::Registry(format!(
            "theorems/{}.yaml: claimed crossover_t and crossover_d must be ≥ 1",
            thm.id
        )));
    }
    let (h, hh, k) = (TABLE_HEAD_DIM, TABLE_HIDDEN, TABLE_K);
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let tmax = 1u64 << 24;
    let tc = crossover(|t| consistent_speedup(t, h, hh, k), tmax);
    let tcc = crossover(|t| consistent_speedup_causal(t, h, hh, k), tmax);
    let Some(tc) = tc else {
        return Err(crate::Error::Registry("no crossover below 2^24 tokens".into()));
    };
    let factor = (tc as f64 / ct).max(ct / tc as f64);
    rep.findings.push(Finding::upper(
        "max(T*/claimed, claimed/T*) for the consistent non-causal count (\"~\" = within a factor 2)",
        format!(
            "T* = {tc} (speedup {:.4} at T*, {:.4} at T*−1), claimed {ct}",
            consistent_speedup(tc, h, hh, k),
            consistent_speedup(tc - 1, h, hh, k)
        ),
        factor,
        2.0,
        1,
    ));
    let rows: Vec<String> = [64u64, 128, 256, 512, 1024, 2048]
        .iter()
        .map(|&t| {
            format!(
                "T={t}: {:.2} (causal {:.3})",
                consistent_speedup(t, h, hh, k),
                consistent_speedup_causal(t, h, hh, k)
            )
        })
        .collect();
    rep.notes.push(format!("consistent speedups (full 4hT+4T−2 vs sparse 2HT+T+2hH(K+2)+2H−K per query and head, h=H={h}, K={k}) at the table's T: {}", rows.join(", ")));
    rep.notes.push(format!(
        "asymptotic speedup (4h+4)/(2H+1) = {:.3}; the crossover does not depend on d (heads cancel), so the claimed {cd}d carries no information",
        (4 * h + 4) as f64 / (2 * hh + 1) as f64
    ));
    rep.notes.push(match tcc {
        Some(t) => format!("causal full attention (the note's nanoGPT): crossover at T = {t}, asymptotic speedup (2h+2)/(2H+1) = {:.4}", (2 * h + 2) as f64 / (2 * hh + 1) as f64),
        None => format!("causal full attention: no crossover below T = {tmax}"),
    });
    let r = rep.conclude_all();
    Ok(if r.verdict == Verdict::Fails {
        let mut r = r;
        r.regime = Some(format!(
            "consistent count: crossover at T = {tc} for every d ({:.2}× the claimed {ct}); causal: {}",
            tc as f64 / ct,
            tcc.map_or("none".into(), |t| t.to_string())
        ));
        r
    } else {
        r
    })
}

/// Sweep measure: consistent speedups at one T (parameters h, hidden, k optional), and
/// `claim_violation` = 1 when the claim "crossover ≈ crossover_t (within a factor 2)" is contradicted
/// at this T (speedup < 1 at T ≥ 2·crossover_t, or ≥ 1 at T ≤ crossover_t/2), else 0.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let ct = thm.claimed_f64("crossover_t")?;
    let t = p.usize("t")? as u64;
    let h = p.usize_or("h", TABLE_HEAD_DIM as usize)? as u64;
    let hh = p.usize_or("hidden", TABLE_HIDDEN as usize)? as u64;
    let k = p.usize_or_at_least("k", TABLE_K as usize, 1)? as u64;
    if t == 0 || h == 0 || hh == 0 {
        return Err(crate::Error::invalid(format!("point {}", p.key), "t, h and hidden must be ≥ 1"));
    }
    let sp = consistent_speedup(t, h, hh, k);
    let tf = t as f64;
    let violation = ((tf >= 2.0 * ct && sp < 1.0) || (tf <= ct / 2.0 && sp >= 1.0)) as u8 as f64;
    Ok(crate::sweep::run::metrics([
        ("claim_violation", violation),
        ("speedup", sp),
        ("speedup_causal", consistent_speedup_causal(t, h, hh, k)),
    ]))
}
