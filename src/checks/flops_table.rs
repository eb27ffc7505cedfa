//! Check of `flops.table` (theorem file `theorems/flops.table.yaml`): every figure of note 002's
//! Computational Analysis table recomputed from full = 2T²d and the reconstructed sparse formula of
//! [`crate::theory::flops`], each held against the printed value to half a unit of its last digit.
use super::Ctx;
use crate::registry::Theorem;
use crate::theory::flops::{TABLE_HEAD_DIM, TABLE_HIDDEN, TABLE_K, table_full, table_sparse};
use crate::verdict::{Finding, Report, Verdict};
use crate::{Error, Result};

/// The table's columns from the theorem file, checked for equal lengths and integer T, d.
pub fn rows(thm: &Theorem) -> Result<Vec<(u64, u64, f64, f64, f64)>> {
    let d = thm.claimed_list("model_d")?;
    let t = thm.claimed_list("seq_t")?;
    let f = thm.claimed_list("full_mflops")?;
    let s = thm.claimed_list("sparse_mflops")?;
    let sp = thm.claimed_list("speedup")?;
    let n = d.len();
    if [t.len(), f.len(), s.len(), sp.len()].iter().any(|&l| l != n) || n == 0 {
        return Err(Error::Registry(format!(
            "theorems/{}.yaml: claimed lists must have equal, non-zero lengths",
            thm.id
        )));
    }
    let int = |x: f64, what: &str| -> Result<u64> {
        if x >= 1.0 && x.fract() == 0.0 && x <= 1e7 {
            Ok(x as u64)
        } else {
            Err(Error::Registry(format!(
                "theorems/{}.yaml: claimed.{what}: {x} is not a positive integer ≤ 1e7",
                thm.id
            )))
        }
    };
    (0..n).map(|i| Ok((int(d[i], "model_d")?, int(t[i], "seq_t")?, f[i], s[i], sp[i]))).collect()
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut bad = Vec::new();
    for (d, t, full, sparse, speed) in rows(thm)? {
        let f = table_full(t, d) / 1e6;
        let s = table_sparse(t, TABLE_HEAD_DIM, TABLE_HIDDEN, TABLE_K) / 1e6;
        let row = format!("{d}d/{t}");
        let items = [
            (format!("|printed full − 2T²d| (MFLOPs), row {row}"), full, f, 0.05),
            (format!("|printed sparse − 2T(hH+HT+KhH+Hh)| (MFLOPs), row {row}"), sparse, s, 0.05),
            (format!("|printed speedup − full/sparse by the formulas|, row {row}"), speed, f / s, 0.005),
        ];
        for (name, printed, formula, tol) in items {
            let fi = Finding::upper(
                name,
                format!("printed {printed}, formula {formula:.4}"),
                (printed - formula).abs(),
                tol,
                1,
            );
            if !fi.ok() {
                bad.push(format!("{row}: printed {printed} vs {formula:.2}"));
            }
            rep.findings.push(fi);
        }
        rep.notes.push(format!(
            "row {row}: full 2T²d = {f:.1}M (printed {full}), sparse = {s:.1}M (printed {sparse}), speedup by the formulas {:.2} (printed {speed}; ratio of the printed columns {:.2}); 2T²d/printed full = {:.3}, i.e. the printed full figure is 2T²·{:.0}",
            f / s,
            full / sparse,
            f / full,
            full * 1e6 / (2.0 * (t * t) as f64)
        ));
    }
    rep.notes.push(format!(
        "sparse reconstruction: h = {TABLE_HEAD_DIM}, H = {TABLE_HIDDEN}, K = {TABLE_K}, 2 FLOPs per multiply-add, one head; it does not depend on d, while the full column counts all d dimensions (QKᵀ only) — see flops.count / topk.crossover for a consistent count"
    ));
    rep = rep.conclude_all();
    if rep.verdict == Verdict::Fails {
        rep.regime = Some(format!("rows not following the formulas: {}", bad.join("; ")));
    }
    Ok(rep)
}
