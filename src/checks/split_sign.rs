//! Check of `split.sign`: the split is exact; relative errors ±ε on the two sign groups move the
//! numerator by at most ε·Σw|v| (attained with opposite signs) and the output by at most
//! (2ε/(1−ε))·Σw|v|/Z; adversarial values (cancellation, mixed signs, zeros, huge magnitudes) and the
//! real heads. Also measures how much the split amplifies relative errors on real data:
//! Σw|v| / |Σwv|.
use super::Ctx;
use crate::Result;
use crate::data::synthetic;
use crate::registry::Theorem;
use crate::theory::fp::{U64, gamma};
use crate::theory::split::{numerator_bound, output_bound, sign_split};
use crate::verdict::{Finding, Report, Worst};
use rand::RngExt;

/// Worst ratio |N̂ − N| / (c·ε·Σw|v|) over the four sign patterns of the group errors, and the
/// output ratio; returns (numerator ratio, output ratio, Σw|v|/|Σwv|).
fn one_case(w: &[f64], v: &[f64], eps: f64, coef: f64) -> (f64, f64, f64) {
    let (mut np, mut nm, mut z, mut swav) = (0.0, 0.0, 0.0, 0.0);
    for (wj, vj) in w.iter().zip(v) {
        let (p, m) = sign_split(*vj);
        np += wj * p;
        nm += wj * m;
        z += wj;
        swav += wj * vj.abs();
    }
    let n = np - nm;
    // Rounding of these f64 sums (γ_{n} relative to the sum of magnitudes), added to the bounds.
    let round = gamma(w.len() + 2, U64) * swav * 4.0;
    let (mut worst_n, mut worst_o) = (0.0f64, 0.0f64);
    for (sp, sm, sz) in [(1.0, -1.0, 1.0), (-1.0, 1.0, -1.0), (1.0, 1.0, -1.0), (-1.0, -1.0, 1.0), (1.0, -1.0, -1.0)] {
        let nh = np * (1.0 + sp * eps) - nm * (1.0 + sm * eps);
        let zh = z * (1.0 + sz * eps);
        worst_n = worst_n.max((nh - n).abs() / (coef * numerator_bound(eps, swav) + round));
        let ob = output_bound(eps, swav, z) + round / z * 4.0;
        worst_o = worst_o.max((nh / zh - n / z).abs() / ob);
    }
    (worst_n, worst_o, if n != 0.0 { swav / n.abs() } else { f64::INFINITY })
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let coef = thm.claimed_f64("numerator_coef")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut exact = Worst::new("split v⁺ − v⁻ − v (must be 0)");
    let mut num = Worst::new("|N̂ − N| / (coef·ε·Σw|v|)");
    let mut out = Worst::new("|ô − o| / ((2ε/(1−ε))·Σw|v|/Z)");
    let mut tight = 0.0f64;
    let mut rng = crate::rng::stream(ctx.seed, 11);
    let specials =
        [0.0, -0.0, 1.0, -1.0, f64::MIN_POSITIVE, -f64::MIN_POSITIVE, 5e-324, f64::MAX, -f64::MAX, 1e300, -1e300];
    for &x in &specials {
        let (p, m) = sign_split(x);
        exact.push(((p - m) - x).abs(), 0.0, || format!("v = {x:e}"));
    }
    for t in 0..ctx.trials(5000) {
        let n = [1, 2, 3, 10, 100][t % 5];
        let eps = synthetic::log_uniform(&mut rng, 1e-12, 0.5);
        let w: Vec<f64> = (0..n).map(|_| synthetic::log_uniform(&mut rng, 1e-6, 1.0)).collect();
        let kind = t % 4;
        let mut v: Vec<f64> = (0..n).map(|_| synthetic::uniform(&mut rng, -1.0, 1.0)).collect();
        match kind {
            // Cancellation: shift v so that Σwv ≈ 0.
            0 => {
                let sw: f64 = w.iter().sum();
                let mean = w.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>() / sw;
                v.iter_mut().for_each(|x| *x -= mean);
            }
            // Zeros mixed in.
            1 => v.iter_mut().for_each(|x| {
                if rng.random_range(0..3) == 0 {
                    *x = 0.0
                }
            }),
            // Huge and tiny magnitudes.
            2 => v.iter_mut().for_each(|x| *x *= synthetic::log_uniform(&mut rng, 1e-200, 1e200)),
            _ => {}
        }
        for x in &v {
            let (p, m) = sign_split(*x);
            exact.push(((p - m) - x).abs(), 0.0, || format!("v = {x:e}"));
        }
        let (rn, ro, _) = one_case(&w, &v, eps, coef);
        tight = tight.max(rn);
        num.push(rn, 1.0, || format!("random n={n} ε={eps:.1e} kind {kind}"));
        out.push(ro, 1.0, || format!("random n={n} ε={eps:.1e} kind {kind}"));
    }
    // Real heads: softmax weights of causal rows, every value component; ε = 1e-3.
    let mut amp = Vec::new();
    let step = if ctx.quick { 16 } else { 2 };
    for h in ctx.real_heads()? {
        let (q, k, v) = h.widen();
        let dv = h.dv();
        for i in (0..h.n).step_by(step) {
            let s: Vec<f64> = (0..=i)
                .map(|j| q[i * h.d..(i + 1) * h.d].iter().zip(&k[j * h.d..(j + 1) * h.d]).map(|(a, b)| a * b).sum())
                .collect();
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let w: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
            for c in 0..dv {
                let vc: Vec<f64> = (0..=i).map(|j| v[j * dv + c]).collect();
                let (rn, ro, a) = one_case(&w, &vc, 1e-3, coef);
                num.push(rn, 1.0, || format!("{} row {i} component {c}", h.label));
                out.push(ro, 1.0, || format!("{} row {i} component {c}", h.label));
                amp.push(a);
            }
        }
    }
    amp.sort_by(f64::total_cmp);
    if !amp.is_empty() {
        let pick = |f: f64| amp[((amp.len() - 1) as f64 * f) as usize];
        rep.notes.push(format!(
            "real causal rows ({}): amplification Σw|v|/|Σwv| of a relative group error — median {:.2}, 90th percentile {:.1}, 99th {:.1}, max {:.3e} over {} (row, component) pairs: a relative error ε per sign group is an error of up to that many ε relative to the output",
            ctx.data_label(),
            pick(0.5),
            pick(0.9),
            pick(0.99),
            amp[amp.len() - 1],
            amp.len()
        ));
    }
    rep.notes
        .push(format!("the bound is attained: worst |N̂ − N|/(ε·Σw|v|) = {tight:.6} with opposite-sign group errors"));
    rep.findings = vec![
        exact.finish(),
        num.finish(),
        out.finish(),
        Finding::lower("tightness: worst ratio reaches 1 − 1e-9", "opposite-sign group errors", tight, 1.0 - 1e-9, 1),
    ];
    Ok(rep.conclude_all())
}

/// Sweep measure: `trials` random cases of n terms (the dataset's values as v, its first key
/// coordinate as log-weights) at relative error `eps`.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let coef = thm.claimed_f64("numerator_coef")?;
    let eps = p.f64("eps")?;
    let n = p.usize_or_at_least("n", 64, 1)?;
    let h = p.dataset.generate(n, 1.max(p.usize_or_at_least("d", 1, 1)?), 1, p.seed)?;
    let d = h.d;
    let w: Vec<f64> = (0..h.n).map(|j| (h.k[j * d] as f64).clamp(-50.0, 50.0).exp()).collect();
    let v: Vec<f64> = h.v.iter().step_by(h.dv).map(|&x| x as f64).collect();
    let (rn, ro, a) = one_case(&w, &v, eps, coef);
    Ok(crate::sweep::run::metrics([
        ("num_ratio", rn),
        ("out_ratio", ro),
        ("max_ratio", rn.max(ro)),
        ("amplification", a),
    ]))
}
