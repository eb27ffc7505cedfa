//! Check of `window.last10` (theorem file `theorems/window.last10.yaml`): the fixed last-w causal
//! window on every real head, KL(P_window‖P_base) = −log m, attention MSE and output error, against the
//! note's criteria.
use super::Ctx;
use crate::Result;
use crate::registry::Theorem;
use crate::theory::mask::{HeadData, evaluate, window};
use crate::verdict::{Report, Verdict, Worst};

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let w = thm.claimed_f64("window")?;
    let klmax = thm.claimed_f64("kl_max")?;
    let msemax = thm.claimed_f64("mse_max")?;
    if !(w >= 1.0 && w.fract() == 0.0) {
        return Err(crate::Error::Registry(format!(
            "theorems/{}.yaml: claimed.window must be a positive integer",
            thm.id
        )));
    }
    let w = w as usize;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut kl = Worst::new("mean KL(P_window‖P_base) = mean −log m over rows vs kl_max");
    let mut mse = Worst::new("attention-probability MSE (n×n) vs mse_max");
    let step = if ctx.quick { 2 } else { 1 };
    let mut lines = Vec::new();
    let (mut inf, mut total) = (0usize, 0usize);
    for h in ctx.real_heads()? {
        let hd = HeadData::from_real(h);
        let rows: Vec<usize> = (0..hd.n).step_by(step).collect();
        let e = evaluate(&hd, &rows, |i, _| window(i, w));
        kl.push(e.kl_mean, klmax, || format!("{} ({} rows)", h.label, e.rows));
        mse.push(e.mse, msemax, || format!("{} ({} rows)", h.label, e.rows));
        inf += e.infinite_forward_kl;
        total += e.rows;
        lines.push(format!(
            "{}: mean KL {:.3}, max KL {:.2}, MSE {:.2e}, mean ‖ô−o‖/‖o‖ {:.3}",
            h.label, e.kl_mean, e.kl_max, e.mse, e.out_rel
        ));
    }
    rep.findings = vec![kl.finish(), mse.finish()];
    rep.notes.push(format!("per head (window {w}, causal, {}): {}", ctx.data_label(), lines.join("; ")));
    rep.notes.push(format!("KL(P_base‖P_window) = +∞ on {inf} of {total} rows (every row with mass outside the window); the finite direction KL(P_window‖P_base) = −log m is reported"));
    let r = rep.conclude_all();
    Ok(if r.verdict == Verdict::Fails {
        let mut r = r;
        let f = &r.findings;
        r.regime = Some(format!(
            "worst head: mean KL {:.3} (criterion {klmax}), MSE {:.2e} (criterion {msemax})",
            f[0].value, f[1].value
        ));
        r
    } else {
        r
    })
}

/// Sweep measure: window w on one real head (dataset), all rows.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let klmax = thm.claimed_f64("kl_max")?;
    let msemax = thm.claimed_f64("mse_max")?;
    let w = p.usize_at_least("w", 1)?;
    let n = p.usize_or_at_least("n", 512, 1)?;
    let g = p.dataset.generate(n, p.usize_or_at_least("d", 32, 1)?, 32, p.seed)?;
    let w64 = |x: &[f32]| x.iter().map(|&a| a as f64).collect::<Vec<f64>>();
    let hd = HeadData { label: p.key.clone(), n: g.n, d: g.d, dv: g.dv, q: w64(&g.q), k: w64(&g.k), v: w64(&g.v) };
    let rows: Vec<usize> = (0..hd.n).collect();
    let e = evaluate(&hd, &rows, |i, _| window(i, w));
    Ok(crate::sweep::run::metrics([
        ("kl_mean", e.kl_mean),
        ("mse", e.mse),
        ("out_rel", e.out_rel),
        // NaN anywhere (non-finite data) is a NaN ratio, never a pass (f64::max drops a NaN).
        (
            "ratio",
            if [e.kl_mean, e.mse, e.out_rel].iter().any(|x| x.is_nan()) {
                f64::NAN
            } else {
                (e.kl_mean / klmax).max(e.mse / msemax)
            },
        ),
    ]))
}
