//! Check of `flops.count` (theorem file `theorems/flops.count.yaml`): an instrumented naive attention
//! ([`crate::theory::flops::counted_attention`]) counts every operation; the count must equal the
//! closed form 4T²d + 4T² − 2T, and is held against the claimed coef·T²d with the lower-order
//! tolerance 2/d + 1/T of the derivation.
use super::Ctx;
use crate::Result;
use crate::registry::Theorem;
use crate::stats::loglog_slope;
use crate::theory::flops::{counted_attention, full_per_sequence};
use crate::verdict::{Report, Verdict, Worst};

fn widen(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&a| a as f64).collect()
}

/// Count of one (T, d) shape on a Gaussian head drawn from `seed`.
pub fn count(t: usize, d: usize, seed: u64) -> u64 {
    let h = crate::data::synthetic::gaussian(&mut crate::rng::seeded(seed), t, d, d, 1.0);
    counted_attention(&widen(&h.q), &widen(&h.k), &widen(&h.v), t, d, d, 1.0 / (d as f64).sqrt()).1.0
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let coef = thm.claimed_f64("full_coef")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let ts: &[usize] = if ctx.quick { &[4, 16, 64, 128] } else { &[4, 16, 64, 256, 512] };
    let ds: &[usize] = if ctx.quick { &[4, 16, 64] } else { &[4, 16, 64, 128] };
    let mut exact = Worst::new("|counted − (4T²d + 4T² − 2T)|");
    let mut claim = Worst::new("|count/(coef·T²d) − 1| vs 2/d + 1/T");
    let mut ratios = Vec::new();
    let (mut xs_t, mut ys_t) = (Vec::new(), Vec::new());
    for (a, &t) in ts.iter().enumerate() {
        for (b, &d) in ds.iter().enumerate() {
            let c = count(t, d, ctx.seed ^ ((a * 97 + b) as u64));
            let closed = full_per_sequence(t as u64, d as u64);
            exact.push((c as f64 - closed as f64).abs(), 0.0, || {
                format!("T={t} d={d}: counted {c}, closed form {closed}")
            });
            let r = c as f64 / (coef * (t * t) as f64 * d as f64);
            claim.push((r - 1.0).abs(), 2.0 / d as f64 + 1.0 / t as f64, || {
                format!("T={t} d={d}: count {c} = {r:.4}·coef·T²d")
            });
            ratios.push(format!("T={t},d={d}: {:.3}", c as f64 / ((t * t) as f64 * d as f64)));
            if d == *ds.last().unwrap_or(&d) {
                xs_t.push(t as f64);
                ys_t.push(c as f64);
            }
        }
    }
    rep.findings.push(claim.finish());
    rep.findings.push(exact.finish());
    if let Some(f) = loglog_slope(&xs_t, &ys_t, 0.95) {
        rep.notes.push(format!(
            "log-log slope of the count vs T at d = {}: {:.3} [{:.3}, {:.3}] (O(T²) per sequence)",
            ds.last().unwrap_or(&0),
            f.slope,
            f.lo,
            f.hi
        ));
    }
    rep.notes.push(format!("count/(T²d) per shape (the leading coefficient is 4 = 2 for QKᵀ + 2 for PV; the note's 2T²d omits PV and softmax): {}", ratios.join(", ")));
    rep.notes.push("convention: 1 FLOP per scalar add/sub/mul/div/compare/exp; C(T,d) = 4T²d + 4T² − 2T non-causal, (4d+4)T(T+1)/2 − 2T causal".into());
    let r = rep.conclude_all();
    Ok(if r.verdict == Verdict::Fails {
        let mut r = r;
        r.regime = Some(format!("every shape measured: the count is ≈ {:.2}·T²d + O(T²), not {coef}·T²d", 4.0));
        r
    } else {
        r
    })
}

/// Sweep measure: the counted cost of one (T, d) shape against coef·T²d.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let coef = thm.claimed_f64("full_coef")?;
    let (t, d) = (p.usize("t")?, p.usize_at_least("d", 1)?);
    if t == 0 || d == 0 || t * t * d > 1 << 28 {
        return Err(crate::Error::invalid(format!("point {}", p.key), "need T ≥ 1, d ≥ 1 and T²d ≤ 2^28"));
    }
    let c = count(t, d, p.seed) as f64;
    let claimed = coef * (t * t) as f64 * d as f64;
    let tol = 2.0 / d as f64 + 1.0 / t as f64;
    Ok(crate::sweep::run::metrics([
        ("count", c),
        ("count_over_t2d", c / ((t * t) as f64 * d as f64)),
        ("ratio", ((c / claimed) - 1.0).abs() / tol),
        ("closed_form_error", (c - full_per_sequence(t as u64, d as u64) as f64).abs()),
    ]))
}
