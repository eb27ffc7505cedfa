//! Check of `dist.decomposition` (theorem file `theorems/dist.decomposition.yaml`).
//!
//! Both forms of ‖q−k‖² are evaluated in f32 on f32 inputs (random vectors over many scales and
//! dimensions, the cancellation case k = q + e, and all query/key pairs of the real heads) and held
//! against the rounding bounds of [`crate::theory::dist`]; the exact value is computed in f64 from the
//! same inputs and its own γ^{(64)}_{d+2}D is added to the bound.
use super::Ctx;
use crate::Result;
use crate::data::synthetic;
use crate::registry::Theorem;
use crate::theory::dist::{direct_bound, expanded_bound, sqdist_direct, sqdist_expanded};
use crate::theory::fp::{U32, U64};
use crate::verdict::{Report, Worst};

/// Exact-enough D and the magnitudes the bounds need, from f32 inputs.
fn reference(q: &[f32], k: &[f32]) -> (f64, f64, f64, f64) {
    let (mut dd, mut qq, mut kk, mut aqk) = (0.0, 0.0, 0.0, 0.0);
    for (&a, &b) in q.iter().zip(k) {
        let (a, b) = (a as f64, b as f64);
        dd += (a - b) * (a - b);
        qq += a * a;
        kk += b * b;
        aqk += (a * b).abs();
    }
    (dd, qq, kk, aqk)
}

/// Accumulate one pair into the two trackers and the cancellation statistic.
struct Acc {
    expanded: Worst,
    direct: Worst,
    worst_rel_expanded: f64,
    worst_rel_direct: f64,
}

impl Acc {
    fn push(&mut self, q: &[f32], k: &[f32], coef: f32, label: &dyn Fn() -> String) {
        let d = q.len();
        let (dd, qq, kk, aqk) = reference(q, k);
        let ref_err = direct_bound(d, U64, dd);
        let e = sqdist_expanded(q, k, coef) as f64;
        let dr = sqdist_direct(q, k) as f64;
        self.expanded.push((e - dd).abs(), expanded_bound(d, U32, qq, kk, aqk) + ref_err, || label());
        self.direct.push((dr - dd).abs(), direct_bound(d, U32, dd) + ref_err, || label());
        if dd > 0.0 {
            self.worst_rel_expanded = self.worst_rel_expanded.max((e - dd).abs() / dd);
            self.worst_rel_direct = self.worst_rel_direct.max((dr - dd).abs() / dd);
        }
    }
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let coef = thm.claimed_f64("coef_inner")? as f32;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut acc = Acc {
        expanded: Worst::new("|expanded − D| vs γ_{d+2}(‖q‖²+‖k‖²+2Σ|qk|)"),
        direct: Worst::new("|direct − D| vs γ_{d+2}·D"),
        worst_rel_expanded: 0.0,
        worst_rel_direct: 0.0,
    };
    // Random vectors over scales 1e-3 … 1e3 and dimensions 1 … 256.
    let mut rng = crate::rng::stream(ctx.seed, 1);
    for t in 0..ctx.trials(20_000) {
        let d = [1, 2, 3, 7, 16, 32, 64, 128, 256][t % 9];
        let s = synthetic::log_uniform(&mut rng, 1e-3, 1e3);
        let q = synthetic::vector(&mut rng, d, s);
        let k = synthetic::vector(&mut rng, d, s);
        acc.push(&q, &k, coef, &|| format!("random d={d} scale={s:.3e} trial {t}"));
    }
    // Cancellation: k = q + e with ‖e‖/‖q‖ from 1e-7 to 1e-1.
    let mut canc = Acc {
        expanded: Worst::new("cancellation |expanded − D|"),
        direct: Worst::new("cancellation |direct − D|"),
        worst_rel_expanded: 0.0,
        worst_rel_direct: 0.0,
    };
    for t in 0..ctx.trials(5_000) {
        let d = [8, 32, 64][t % 3];
        let q = synthetic::vector(&mut rng, d, 1.0);
        let r = synthetic::log_uniform(&mut rng, 1e-7, 1e-1);
        let e = synthetic::vector(&mut rng, d, r);
        let k: Vec<f32> = q.iter().zip(&e).map(|(a, b)| a + b).collect();
        canc.push(&q, &k, coef, &|| format!("k = q + e, d={d}, ‖e‖/‖q‖≈{r:.1e}"));
    }
    // Real heads: every (query, key) pair (every 4th query in quick mode).
    let heads = ctx.real_heads()?;
    let step = if ctx.quick { 4 } else { 1 };
    for h in heads {
        for i in (0..h.n).step_by(step) {
            let q = &h.q[i * h.d..(i + 1) * h.d];
            for j in 0..h.n {
                let k = &h.k[j * h.d..(j + 1) * h.d];
                acc.push(q, k, coef, &|| format!("{} q{i} k{j}", h.label));
            }
        }
    }
    rep.notes.push(format!(
        "cancellation case: worst relative error of the expanded form {:.2e}, of the direct form {:.2e} (γ_{{66}} = {:.2e}); the expanded form loses all relative accuracy as q → k",
        canc.worst_rel_expanded,
        canc.worst_rel_direct,
        crate::theory::fp::gamma(66, U32)
    ));
    rep.notes.push(format!(
        "random and real pairs: worst relative error expanded {:.2e}, direct {:.2e}; real data: {}",
        acc.worst_rel_expanded,
        acc.worst_rel_direct,
        ctx.data_label()
    ));
    rep.findings = vec![acc.expanded.finish(), acc.direct.finish(), canc.expanded.finish(), canc.direct.finish()];
    Ok(rep.conclude_all())
}

/// Sweep measure: `trials` (q, k) pairs of dimension `d` from the point's dataset; ratios of the
/// measured errors of both f32 forms to their bounds.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let coef = thm.claimed_f64("coef_inner")? as f32;
    let d = p.usize_at_least("d", 1)?;
    let h = p.dataset.generate(p.trials as usize, d, 1, p.seed)?;
    let d = h.d;
    let mut acc =
        Acc { expanded: Worst::new("e"), direct: Worst::new("d"), worst_rel_expanded: 0.0, worst_rel_direct: 0.0 };
    for i in 0..h.n {
        acc.push(&h.q[i * d..(i + 1) * d], &h.k[i * d..(i + 1) * d], coef, &String::new);
    }
    let (e, dr) = (acc.expanded.finish(), acc.direct.finish());
    Ok(crate::sweep::run::metrics([
        ("max_ratio_expanded", e.ratio()),
        ("max_ratio_direct", dr.ratio()),
        ("max_ratio", e.ratio().max(dr.ratio())),
        ("max_rel_err_expanded", acc.worst_rel_expanded),
        ("max_rel_err_direct", acc.worst_rel_direct),
        ("trials", h.n as f64),
    ]))
}
