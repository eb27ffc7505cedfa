//! Check of `split.scale_classes`: class counts against ⌊log_b(range)⌋ + count_offset, within-class
//! ratios below b, the midpoint replacement error against b^{midpoint_exponent} − 1, on random
//! log-ρ sets and on the real heads (ρ = e^{‖k‖²/2}·v±, in log domain).
use super::Ctx;
use crate::Result;
use crate::data::synthetic;
use crate::registry::Theorem;
use crate::theory::fp::{U64, gamma};
use crate::theory::split::{class_of, sign_split};
use crate::verdict::{Report, Worst};
use std::collections::BTreeMap;

/// Per-class (min, max) of log ρ, and the class sums with exact vs midpoint ρ.
struct Classes {
    count: usize,
    worst_ratio_over_b: f64,
    worst_mid_err: f64,
}

fn classify(log_rho: &[f64], g: &[f64], base: f64, mid_exp: f64) -> Classes {
    let mut cls: BTreeMap<i64, (f64, f64, f64, f64)> = BTreeMap::new(); // (min, max, Σρg, Σ mid·g)
    let lb = base.ln();
    for (&l, &gj) in log_rho.iter().zip(g) {
        let c = class_of(l, base);
        let mid = (c as f64 + mid_exp) * lb;
        // ρ_j g_j relative to the class midpoint (keeps everything in range).
        let e = cls.entry(c).or_insert((f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.0));
        e.0 = e.0.min(l);
        e.1 = e.1.max(l);
        e.2 += (l - mid).exp() * gj;
        e.3 += gj;
    }
    let mut worst_ratio_over_b: f64 = 0.0;
    let mut worst_mid_err: f64 = 0.0;
    for (_, (lo, hi, exact, mid)) in &cls {
        worst_ratio_over_b = worst_ratio_over_b.max((hi - lo) / lb);
        if *exact > 0.0 {
            worst_mid_err = worst_mid_err.max((mid / exact - 1.0).abs());
        }
    }
    Classes { count: cls.len(), worst_ratio_over_b, worst_mid_err }
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let base = thm.claimed_f64("base")?;
    let offset = thm.claimed_f64("count_offset")?;
    let mid_exp = thm.claimed_f64("midpoint_exponent")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut count = Worst::new("classes / (⌊log_b(ρmax/ρmin)⌋ + count_offset)");
    let mut ratio = Worst::new("log_b(max ρ / min ρ) inside a class (< 1)");
    let mut mid = Worst::new("|midpoint class sum / exact − 1| vs b^{midpoint_exponent} − 1");
    let mut rng = crate::rng::stream(ctx.seed, 12);
    // Rounding of the f64 class sums (n terms, one exp each): 2γ_{n+4}·b relative.
    let bound_mid = |n: usize| base.powf(mid_exp) - 1.0 + 2.0 * gamma(n + 4, U64) * base;
    for t in 0..ctx.trials(4000) {
        let n = [1, 2, 5, 50, 500][t % 5];
        let range = synthetic::log_uniform(&mut rng, 1e-3, 700.0);
        let off = synthetic::uniform(&mut rng, -300.0, 300.0);
        let l: Vec<f64> = (0..n).map(|_| off + synthetic::uniform(&mut rng, 0.0, range)).collect();
        let g: Vec<f64> = (0..n).map(|_| synthetic::log_uniform(&mut rng, 1e-3, 1.0)).collect();
        let c = classify(&l, &g, base, mid_exp);
        let lmax = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lmin = l.iter().cloned().fold(f64::INFINITY, f64::min);
        let b = ((lmax - lmin) / base.ln()).floor() + offset;
        count.push(c.count as f64 / b, 1.0, || format!("random n={n} range={range:.2} nats: {} classes", c.count));
        ratio.push(c.worst_ratio_over_b, 1.0, || format!("random n={n} range={range:.2}"));
        mid.push(c.worst_mid_err, bound_mid(n), || format!("random n={n} range={range:.2}"));
    }
    // Real heads: ρ_j = e^{‖k_j‖²/2}·v_j± per value component and sign.
    let (mut classes_total, mut groups, mut terms_total, mut max_range) = (0usize, 0usize, 0usize, 0.0f64);
    for h in ctx.real_heads()? {
        let (_, k, v) = h.widen();
        let dv = h.dv();
        let half_norm2: Vec<f64> = k.chunks_exact(h.d).map(|kj| kj.iter().map(|x| x * x).sum::<f64>() / 2.0).collect();
        for c in 0..dv {
            for sign in [0, 1] {
                let (mut l, mut g) = (Vec::new(), Vec::new());
                for j in 0..h.n {
                    let (p, m) = sign_split(v[j * dv + c]);
                    let x = if sign == 0 { p } else { m };
                    if x > 0.0 {
                        l.push(half_norm2[j] + x.ln());
                        g.push(1.0);
                    }
                }
                if l.is_empty() {
                    continue;
                }
                let cl = classify(&l, &g, base, mid_exp);
                let lmax = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lmin = l.iter().cloned().fold(f64::INFINITY, f64::min);
                max_range = max_range.max(lmax - lmin);
                let b = ((lmax - lmin) / base.ln()).floor() + offset;
                count.push(cl.count as f64 / b, 1.0, || format!("{} component {c} sign {sign}", h.label));
                ratio.push(cl.worst_ratio_over_b, 1.0, || format!("{} component {c} sign {sign}", h.label));
                mid.push(cl.worst_mid_err, bound_mid(l.len()), || format!("{} component {c} sign {sign}", h.label));
                classes_total += cl.count;
                terms_total += l.len();
                groups += 1;
            }
        }
    }
    if groups > 0 {
        rep.notes.push(format!(
            "real heads ({}), base {base}: log ρ = ‖k‖²/2 + ln|v| spans up to {max_range:.1} nats in one (head, component, sign) group; on average {:.1} classes per group holding {:.2} terms each — scale classes with ratio ≤ {base} barely group real terms",
            ctx.data_label(),
            classes_total as f64 / groups as f64,
            terms_total as f64 / classes_total.max(1) as f64
        ));
    }
    rep.findings = vec![count.finish(), ratio.finish(), mid.finish()];
    Ok(rep.conclude_all())
}

/// Sweep measure: classes of the dataset's keys and first value component (ρ = e^{‖k‖²/2}|v|) at
/// base `base`: class count, bound, terms per class.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let base = p.f64_or("base", thm.claimed_f64("base")?)?;
    let offset = thm.claimed_f64("count_offset")?;
    let mid_exp = thm.claimed_f64("midpoint_exponent")?;
    let h = p.dataset.generate(p.usize_or_at_least("n", 256, 1)?, p.usize_or_at_least("d", 32, 1)?, 1, p.seed)?;
    let mut l = Vec::new();
    for j in 0..h.n {
        let x = (h.v[j * h.dv] as f64).abs();
        if x > 0.0 {
            let kk: f64 = h.k[j * h.d..(j + 1) * h.d].iter().map(|&a| (a as f64).powi(2)).sum();
            l.push(kk / 2.0 + x.ln());
        }
    }
    let g = vec![1.0; l.len()];
    let c = classify(&l, &g, base, mid_exp);
    let lmax = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lmin = l.iter().cloned().fold(f64::INFINITY, f64::min);
    let bound = ((lmax - lmin) / base.ln()).floor() + offset;
    Ok(crate::sweep::run::metrics([
        ("classes", c.count as f64),
        ("class_bound", bound),
        ("count_ratio", c.count as f64 / bound),
        ("terms_per_class", l.len() as f64 / c.count.max(1) as f64),
        ("log_range", lmax - lmin),
    ]))
}
