//! Check of `linear.recurrence` (theorem file `theorems/linear.recurrence.yaml`).
//!
//! Causal linear attention with φ = elu + 1, recurrent form (d × dv state) against the quadratic
//! masked form, entry by entry, held against [`crate::theory::kernel::kernel_forms_bound`]; on
//! Gaussian heads of several sizes and scales and on every real head. The state size is read from
//! the recurrent implementation for n = 16 … 4096 and its growth exponent in n fitted.
use super::Ctx;
use crate::Result;
use crate::data::synthetic;
use crate::methods::linear::phi;
use crate::methods::performer::{kernel_attention_quadratic, kernel_attention_state};
use crate::reference::Mask;
use crate::registry::Theorem;
use crate::theory::fp::U64;
use crate::theory::kernel::kernel_forms_bound;
use crate::verdict::{Finding, Report, Worst};

/// Compare the recurrent and quadratic forms for given features; push every entry into `w`.
/// Returns the largest relative difference and the state floats of the recurrent form.
pub fn forms_worst(
    fq: &[f64],
    fk: &[f64],
    v: &[f32],
    m: usize,
    dv: usize,
    nq: usize,
    mask: Mask,
    w: &mut Worst,
    label: &str,
) -> (f64, usize) {
    let (rec, state) = kernel_attention_state(fq, fk, v, m, dv, nq, mask);
    let par = kernel_attention_quadratic(fq, fk, v, m, dv, nq, mask);
    let nk = fk.len() / m;
    let mut worst_rel = 0.0f64;
    for (r, i) in mask.rows(nq).enumerate() {
        let keys = mask.keys(i, nk);
        let a: Vec<f64> = keys.clone().map(|j| (0..m).map(|l| fq[i * m + l] * fk[j * m + l]).sum()).collect();
        let den: f64 = a.iter().sum();
        for c in 0..dv {
            let abs_avg = keys.clone().zip(&a).map(|(j, aj)| aj * (v[j * dv + c] as f64).abs()).sum::<f64>() / den;
            let (x, y) = (rec[r * dv + c], par[r * dv + c]);
            w.push((x - y).abs(), kernel_forms_bound(keys.len(), m, U64, abs_avg, y), || {
                format!("{label} row {i} col {c}")
            });
            if y != 0.0 {
                worst_rel = worst_rel.max((x - y).abs() / y.abs());
            }
        }
    }
    (worst_rel, state)
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let exponent = thm.claimed_f64("state_exponent_n")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut w = Worst::new("|recurrent − quadratic| vs 2×rounding bound (γ_{i+d+1}, f64)");
    let mut rng = crate::rng::stream(ctx.seed, 61);
    let sizes: &[usize] = if ctx.quick { &[16, 64, 256] } else { &[16, 64, 256, 1024] };
    let mut rel = 0.0f64;
    for &n in sizes {
        for d in [8, 32] {
            for scale in [1.0, 4.0] {
                let s = synthetic::gaussian(&mut rng, n, d, d, scale);
                for mask in [Mask::Causal, Mask::Full] {
                    let (r, _) = forms_worst(
                        &phi(&s.q),
                        &phi(&s.k),
                        &s.v,
                        d,
                        d,
                        n,
                        mask,
                        &mut w,
                        &format!("gaussian n={n} d={d} scale={scale} {mask:?}"),
                    );
                    rel = rel.max(r);
                }
            }
        }
    }
    for h in ctx.real_heads()? {
        let (r, _) = forms_worst(&phi(&h.q), &phi(&h.k), &h.v, h.d, h.dv(), h.n, Mask::Causal, &mut w, &h.label);
        rel = rel.max(r);
    }
    // State size of the recurrent form against n.
    let (d, dv) = (32, 32);
    let ns: Vec<usize> = (4..=12).step_by(if ctx.quick { 4 } else { 1 }).map(|e| 1 << e).collect();
    let mut states = Vec::new();
    for &n in &ns {
        let s = synthetic::gaussian(&mut rng, n, d, dv, 1.0);
        let (_, st) = kernel_attention_state(&phi(&s.q), &phi(&s.k), &s.v, d, dv, n, Mask::Causal);
        states.push(st as f64);
    }
    // Growth exponent between the smallest and largest n (exactly 0 when the sizes are equal).
    let fit = (states[states.len() - 1] / states[0]).ln() / (ns[ns.len() - 1] as f64 / ns[0] as f64).ln();
    let case = format!("state floats {:?} for n = {:?} (d = dv = {d}: d·dv + d = {})", states, ns, d * dv + d);
    rep.notes.push(format!(
        "largest relative difference between the two forms {rel:.2e}; the recurrent state holds d·dv + d floats for every n (the quadratic form holds n·d features and i weights per row); real data: {}",
        ctx.data_label()
    ));
    rep.findings = vec![
        w.finish(),
        Finding::upper("fitted exponent of state size in n ≤ claimed", case.clone(), fit, exponent, ns.len() as u64),
        Finding::lower("fitted exponent of state size in n ≥ claimed", case, fit, exponent, ns.len() as u64),
    ];
    Ok(rep.conclude_all())
}

/// Sweep measure: recurrent vs quadratic on one dataset head of n tokens, dimension d; metric
/// `max_ratio` = worst |difference| / bound.
pub fn measure(p: &crate::sweep::Point, _thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let (n, d) = (p.usize_at_least("n", 1)?, p.usize_at_least("d", 1)?);
    let h = p.dataset.generate(n, d, d, p.seed)?;
    let mut w = Worst::new("forms");
    let (rel, state) = forms_worst(&phi(&h.q), &phi(&h.k), &h.v, h.d, h.dv, h.n, Mask::Causal, &mut w, "");
    let f = w.finish();
    Ok(crate::sweep::run::metrics([
        ("max_ratio", f.ratio()),
        ("max_rel_diff", rel),
        ("state_floats", state as f64),
        ("n", h.n as f64),
    ]))
}
