//! Check of `memory.table` (theorem file `theorems/memory.table.yaml`): the memory figures of note
//! 002 recomputed from T²d/2 and 16Td bytes, and the reduction T/32.
use super::Ctx;
use crate::registry::Theorem;
use crate::theory::flops::{table_memory_full, table_memory_sparse};
use crate::verdict::{Finding, Report, Verdict};
use crate::{Error, Result};

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let t = thm.claimed_list("seq_t")?;
    let full = thm.claimed_list("full_mb")?;
    let sparse = thm.claimed_list("sparse_mb")?;
    let red = thm.claimed_list("reduction")?;
    if t.is_empty() || [full.len(), sparse.len(), red.len()].iter().any(|&l| l != t.len()) {
        return Err(Error::Registry(format!(
            "theorems/{}.yaml: claimed lists must have equal, non-zero lengths",
            thm.id
        )));
    }
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    for i in 0..t.len() {
        if !(t[i] >= 1.0 && t[i].fract() == 0.0 && t[i] <= 1e7) {
            return Err(Error::Registry(format!(
                "theorems/{}.yaml: claimed.seq_t: {} is not a positive integer ≤ 1e7",
                thm.id, t[i]
            )));
        }
        let n = t[i] as u64;
        let (f, s) = (table_memory_full(n, n) / 1e6, table_memory_sparse(n, n) / 1e6);
        let row = format!("{n}d/{n}L");
        for (what, printed, formula) in
            [("full T²d/2 B", full[i], f), ("sparse 16Td B", sparse[i], s), ("reduction T/32", red[i], f / s)]
        {
            rep.findings.push(Finding::upper(
                format!("|printed − {what}|, row {row}"),
                format!("printed {printed}, formula {formula:.4}"),
                (printed - formula).abs(),
                0.05,
                1,
            ));
        }
        rep.notes.push(format!(
            "row {row}: full {f:.1} MB, sparse {s:.1} MB, reduction {:.1} = T/32; at one byte price per element (T²d vs 16Td elements) the reduction is T/16 = {:.0}",
            f / s,
            n as f64 / 16.0
        ));
    }
    let r = rep.conclude_all();
    Ok(if r.verdict == Verdict::Holds {
        let mut r = r;
        r.verdict = Verdict::HoldsInRegime;
        r.regime = thm.expected.regime.clone();
        r
    } else {
        r
    })
}
