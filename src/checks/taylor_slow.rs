//! Check of `taylor.slow`: the degree N(t, ε) of a Taylor polynomial of exp with relative error ≤ ε
//! (exactly a Poisson tail for t > 0) lies between t − lower_offset and max(upper_slope·t, ln 1/ε):
//! linear in |t|. The Poisson identity itself is checked against direct f64 Taylor sums. The real
//! heads give the |q·k| and row score ranges the polynomial would have to cover.
use super::Ctx;
use crate::Result;
use crate::registry::Theorem;
use crate::theory::taylor::{degree_needed, degree_sufficient_negative, poisson_tail};
use crate::verdict::{Report, Worst};

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let off = thm.claimed_f64("lower_offset")?;
    let slope = thm.claimed_f64("upper_slope")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut lo = Worst::new("t − lower_offset vs N(t, ε) (N must not be smaller)");
    let mut hi = Worst::new("N(t, ε) vs max(upper_slope·t, ln 1/ε)");
    let mut statrs_diff = 0.0f64;
    let ts: Vec<f64> =
        if ctx.quick { vec![0.5, 1.0, 3.0, 10.0, 40.0, 138.0] } else { (0..=400).map(|i| i as f64 * 0.5).collect() };
    for &t in &ts {
        for eps in [1e-2, 1e-3, 1e-6, 1e-12] {
            let n = degree_needed(t, eps) as f64;
            lo.push(t - off, n, || format!("t={t} ε={eps:e}: N={n}"));
            hi.push(n, (slope * t).max((1.0 / eps).ln()), || format!("t={t} ε={eps:e}: N={n}"));
            let (a, b) = (poisson_tail(t, n as u64), crate::theory::taylor::poisson_tail_statrs(t, n as u64));
            if a > 0.0 {
                statrs_diff = statrs_diff.max((a - b).abs() / a);
            }
        }
    }
    // Real heads: |q·k| over causal pairs, and the score range per row (what exp must cover after
    // max subtraction).
    let (mut all, mut ranges) = (Vec::new(), Vec::new());
    for h in ctx.real_heads()? {
        let (q, k, _) = h.widen();
        let step = if ctx.quick { 4 } else { 1 };
        for i in (0..h.n).step_by(step) {
            let s: Vec<f64> = (0..=i)
                .map(|j| q[i * h.d..(i + 1) * h.d].iter().zip(&k[j * h.d..(j + 1) * h.d]).map(|(a, b)| a * b).sum())
                .collect();
            let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let mn = s.iter().cloned().fold(f64::INFINITY, f64::min);
            ranges.push(mx - mn);
            all.extend(s.iter().map(|x| x.abs()));
        }
    }
    if !all.is_empty() {
        all.sort_by(f64::total_cmp);
        ranges.sort_by(f64::total_cmp);
        let q = |v: &Vec<f64>, f: f64| v[((v.len() - 1) as f64 * f) as usize];
        let (tmax, rmax, r50) = (q(&all, 1.0), q(&ranges, 1.0), q(&ranges, 0.5));
        rep.notes.push(format!(
            "real heads ({}): |q·k| median {:.2}, 99th percentile {:.2}, max {:.2}; degree for relative error 1e-3 at the max: {} (t > 0); row score range (after max subtraction exp must cover [−range, 0]) median {:.1}, max {:.1} nats — a sufficient degree for t = −range at 1e-3: {} (median row), {} (widest row)",
            ctx.data_label(),
            q(&all, 0.5),
            q(&all, 0.99),
            tmax,
            degree_needed(tmax, 1e-3),
            r50,
            rmax,
            degree_sufficient_negative(-r50, 1e-3),
            degree_sufficient_negative(-rmax, 1e-3)
        ));
    }
    rep.notes.push(format!("cross-check: the directly summed Poisson tail and statrs' Poisson survival function agree to a relative {statrs_diff:.1e} at the degrees found"));
    rep.findings = vec![lo.finish(), hi.finish()];
    Ok(rep.conclude_all())
}

/// Sweep measure: N(t, ε) at the point's t and eps, with its two bounds.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let (t, eps) = (p.f64("t")?, p.f64("eps")?);
    // ε = 0 needs an infinite degree (the search for it never ended).
    if !(eps > 0.0 && eps < 1.0) {
        return Err(crate::Error::invalid(
            format!("point {}", p.key),
            format!("parameter `eps` = {eps}: expected 0 < ε < 1"),
        ));
    }
    let n = degree_needed(t, eps) as f64;
    let upper = (thm.claimed_f64("upper_slope")? * t).max((1.0 / eps).ln());
    Ok(crate::sweep::run::metrics([
        ("degree", n),
        ("upper_bound", upper),
        ("ratio_upper", n / upper),
        ("degree_negative_sufficient", degree_sufficient_negative(-t, eps) as f64),
    ]))
}
