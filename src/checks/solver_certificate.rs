//! Check of `solver.certificate`: on adversarial and random heads, every row of the solver's output
//! satisfies |X̂_i − X_ref,i|_∞ ≤ cert_factor·ε_i + (float64 oracle's rounding bound), and ε_i ≤ tol.
//! Both the forced tree path (tiny band and leaves, so nodes are accepted even at small n) and the
//! planned path are checked, for the causal and the strict-prefix masks.
use super::Ctx;
use crate::Result;
use crate::data::synthetic::{self, SynthHead};
use crate::reference::Mask;
use crate::registry::Theorem;
use crate::solver::{Force, SolverOptions, compare, solve};
use crate::sweep::dataset::DatasetSpec;
use crate::verdict::{Report, Worst};

fn scaled(mut h: SynthHead, sq: f32, sk: f32, sv: f32) -> SynthHead {
    h.q.iter_mut().for_each(|x| *x *= sq);
    h.k.iter_mut().for_each(|x| *x *= sk);
    h.v.iter_mut().for_each(|x| *x *= sv);
    h
}

/// The adversarial heads (name, head): ‖k‖ up to 1e3, duplicate and near-duplicate keys, all-zero,
/// constant and cancelling v, n = 1, d = 1, tiny and huge magnitudes, tight clusters.
pub fn adversarial(seed: u64) -> Vec<(String, SynthHead)> {
    let mut rng = crate::rng::stream(seed, 41);
    let g = |rng: &mut rand_pcg::Pcg64Mcg, n, d, dv, s| synthetic::gaussian(rng, n, d, dv, s);
    let mut out = Vec::new();
    out.push(("‖k‖≈1e3, ‖q‖≈1".into(), scaled(g(&mut rng, 96, 8, 3, 1.0), 1.0, 1e3, 1.0)));
    out.push(("‖k‖≈1e3, ‖q‖≈1e-3 (flat)".into(), scaled(g(&mut rng, 96, 8, 3, 1.0), 1e-3, 1e3, 1.0)));
    let mut dup = g(&mut rng, 80, 4, 2, 1.0);
    let k0: Vec<f32> = dup.k[..4].to_vec();
    for j in 0..80 {
        dup.k[j * 4..(j + 1) * 4].copy_from_slice(&k0);
    }
    out.push(("all keys identical".into(), dup.clone()));
    let mut near = dup.clone();
    let noise = synthetic::vector(&mut rng, 80 * 4, 1e-6);
    near.k.iter_mut().zip(noise).for_each(|(a, b)| *a += b);
    out.push(("near-duplicate keys (1e-6)".into(), near));
    let mut zero = g(&mut rng, 64, 6, 3, 2.0);
    zero.v.iter_mut().for_each(|x| *x = 0.0);
    out.push(("all-zero v".into(), zero));
    let mut cst = g(&mut rng, 64, 6, 3, 2.0);
    cst.v.iter_mut().for_each(|x| *x = 3.25);
    out.push(("constant v".into(), cst));
    // Cancelling: pairs of identical keys with opposite values.
    let mut canc = g(&mut rng, 96, 5, 2, 2.0);
    for j in (0..96).step_by(2) {
        let (a, b) = canc.k.split_at_mut((j + 1) * 5);
        b[..5].copy_from_slice(&a[j * 5..]);
        let (va, vb) = canc.v.split_at_mut((j + 1) * 2);
        vb[0] = -va[j * 2];
        vb[1] = -va[j * 2 + 1];
    }
    out.push(("mixed-sign cancelling v".into(), canc));
    out.push(("n = 1".into(), g(&mut rng, 1, 4, 2, 1.0)));
    out.push(("d = 1".into(), g(&mut rng, 120, 1, 1, 3.0)));
    out.push(("tiny magnitudes (q,k·1e-3, v·1e-30)".into(), scaled(g(&mut rng, 64, 8, 2, 1.0), 1e-3, 1e-3, 1e-30)));
    out.push(("huge v (1e30)".into(), scaled(g(&mut rng, 64, 8, 2, 1.0), 1.0, 1.0, 1e30)));
    out.push(("scores ≈ 1e6 (‖q‖,‖k‖≈1e3)".into(), scaled(g(&mut rng, 64, 8, 2, 1.0), 1e3, 1e3, 1.0)));
    if let Ok(h) = (DatasetSpec::Clustered { clusters: 3, spread: 1e-4, scale: 2.0 }).generate(160, 8, 3, seed ^ 5) {
        out.push(("tight clusters".into(), h));
    }
    out
}

/// Solve `h` under every mask and tolerance, with the tree forced and planned; push each row.
/// (rows checked, (case, tol) pairs refused because tol is below the exact path's rounding floor —
/// the documented contract: an error, never a certificate above tol).
fn check_head(
    label: &str,
    h: &SynthHead,
    factor: f64,
    tols: &[f64],
    w: &mut Worst,
    tolw: &mut Worst,
) -> Result<(usize, usize)> {
    let head = h.head()?;
    let vmax = crate::theory::fp::max_abs_f64(&h.v).max(1e-300);
    let (mut rows, mut refused) = (0, 0);
    for mask in [Mask::Causal, Mask::StrictPrefix] {
        for &t in tols {
            let tol = t * vmax;
            for opts in [
                SolverOptions { band: 4, leaf: 2, force: Some(Force::Tree), ..Default::default() },
                SolverOptions::default(),
            ] {
                let r = match solve(&head, mask, tol, &opts) {
                    Ok(r) => r,
                    Err(e) if e.to_string().contains("rounding floor") => {
                        refused += 1;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                for c in compare::check_rows(&head, mask, &r, None) {
                    rows += 1;
                    w.push(c.err - c.ref_bound, factor * c.cert, || {
                        format!("{label}, {mask:?}, tol {t:.0e}·max|v|, plan {}, row {}", r.plan.label(), c.row)
                    });
                    tolw.push(c.cert, tol, || format!("{label}, {mask:?}, row {}", c.row));
                }
            }
        }
    }
    Ok((rows, refused))
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let factor = thm.claimed_f64("cert_factor")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut w = Worst::new("|X̂ − X_ref|∞ − ref_bound vs cert_factor·ε (every row)");
    let mut tolw = Worst::new("ε_i vs tol");
    let tols: &[f64] = if ctx.quick { &[1e-1, 1e-5] } else { &[1e-1, 1e-3, 1e-5, 1e-8] };
    let (mut rows, mut refused) = (0, 0);
    let mut add = |r: (usize, usize)| {
        rows += r.0;
        refused += r.1;
    };
    for (label, h) in adversarial(ctx.seed) {
        add(check_head(&label, &h, factor, tols, &mut w, &mut tolw)?);
    }
    let mut rng = crate::rng::stream(ctx.seed, 42);
    for t in 0..ctx.trials(60) {
        let n = [17, 64, 150, 300][t % 4];
        let d = [1, 3, 8, 16][(t / 4) % 4];
        let scale = synthetic::log_uniform(&mut rng, 0.1, 20.0);
        let spec = if t % 2 == 0 {
            DatasetSpec::Gaussian { scale }
        } else {
            DatasetSpec::Clustered { clusters: 1 + t % 7, spread: synthetic::log_uniform(&mut rng, 1e-6, 1e-1), scale }
        };
        let h = spec.generate(n, d, 1 + t % 4, ctx.seed.wrapping_add(t as u64))?;
        add(check_head(&spec.label(), &h, factor, &tols[..1], &mut w, &mut tolw)?);
    }
    for h in ctx.real_heads()?.iter().take(if ctx.quick { 2 } else { usize::MAX }) {
        let sh = SynthHead { n: h.n, d: h.d, dv: h.dv(), q: h.q.clone(), k: h.k.clone(), v: h.v.clone() };
        add(check_head(&h.label, &sh, factor, &tols[..1], &mut w, &mut tolw)?);
    }
    rep.notes.push(format!("{refused} (case, mask, tol, options) solves refused with the rounding-floor error (tol below the exact path's certificate)"));
    rep.notes.push(format!("{rows} rows checked against the float64 oracle (its own rounding bound added); full sweep: attnproof sweep sweeps/solver.certificate.yaml"));
    rep.findings = vec![w.finish(), tolw.finish()];
    Ok(rep.conclude_all())
}

/// Sweep measure: `trials` heads of the point's dataset (n, d, dv = `dv` or 4), `tol` relative to max|v|,
/// `force` 1 (tree) or 0 (planned), causal mask: max over rows of (err − ref_bound)/(cert_factor·ε).
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let factor = thm.claimed_f64("cert_factor")?;
    let force = p.usize_or("force", 1)? == 1;
    let opts = if force {
        SolverOptions { band: 16, leaf: 4, force: Some(Force::Tree), ..Default::default() }
    } else {
        SolverOptions::default()
    };
    let (mut ratio, mut cert_tol, mut max_err, mut rows, mut work, mut exact, mut first) =
        (0.0f64, 0.0f64, 0.0f64, 0usize, 0u64, 0u64, 0usize);
    // One head per trial (seed = point seed + trial).
    for t in 0..p.trials.max(1) {
        let h = p.dataset.generate(
            p.usize_or_at_least("n", 256, 1)?,
            p.usize_or_at_least("d", 16, 1)?,
            p.usize_or_at_least("dv", 4, 1)?,
            p.seed.wrapping_add(t),
        )?;
        let head = h.head()?;
        let vmax = crate::theory::fp::max_abs_f64(&h.v).max(1e-300);
        let tol = p.f64_or("tol", 1e-3)? * vmax;
        let r = solve(&head, Mask::Causal, tol, &opts)?;
        for c in compare::check_rows(&head, Mask::Causal, &r, None) {
            let x = c.err - c.ref_bound;
            if x > 0.0 {
                ratio = ratio.max(x / (factor * c.cert));
            }
            max_err = max_err.max(c.err);
            rows += 1;
        }
        cert_tol = cert_tol.max(r.max_cert() / tol);
        work += r.stats.work;
        exact += r.stats.exact_work;
        first += r.stats.first_order_terms;
    }
    Ok(crate::sweep::run::metrics([
        ("max_ratio", ratio),
        ("max_cert_over_tol", cert_tol),
        ("max_err", max_err),
        ("rows", rows as f64),
        ("work_fraction", work as f64 / exact.max(1) as f64),
        ("first_order_terms", first as f64),
    ]))
}
