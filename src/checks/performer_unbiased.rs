//! Check of `performer.unbiased` (theorem file `theorems/performer.unbiased.yaml`).
//!
//! (a) Monte-Carlo MSE of the trigonometric, positive and hyperbolic estimators of exp(x·y) with m
//! i.i.d. directions against Lemma 2, at fixed pairs (x, y). Test: the mean of T squared errors
//! has known mean (the MSE) and known variance (fourth moments, [`crate::theory::kernel`]), so by
//! Chebyshev |mean − MSE| ≤ t·sd with probability ≥ 1 − 1/t²; t = √(K/δ) over the K comparisons
//! (Bonferroni) keeps the family-wise false-alarm rate ≤ δ. No normality or χ² assumption: the
//! estimators are heavy-tailed (log-normal-like), which is why Chebyshev and not a χ² interval.
//! (b) Orthogonal features (m ≤ d): the MC MSE must not exceed Theorem 2's bound by more than t
//! plug-in standard errors (one-sided; the variance of the ORF squared error has no closed form,
//! so the sample variance is used — stated in the report).
//! (c) The causal prefix-sum form equals D̃⁻¹ tril(Q'K'ᵀ)V within twice the rounding bound.
//! (d) Measured on real heads: relative output error of FAVOR+ (m = 64, 256) and the relative RMSE
//! √(MSE)/SM of the positive estimator at real (q, k) pairs, from Lemma 2.
use super::Ctx;
use crate::Result;
use crate::methods::performer::{Estimator, Performer, estimate, omegas};
use crate::reference::{Head, Mask};
use crate::registry::Theorem;
use crate::theory::kernel::{Est, lemma2_mse, orthogonal_mse_bound, squared_error_variance};
use crate::verdict::{Finding, Report, Worst};
use rand_distr::{Distribution, StandardNormal};

const DELTA: f64 = 0.01;

fn est(k: Est) -> Estimator {
    match k {
        Est::Trig => Estimator::Trig,
        Est::Positive => Estimator::Positive,
        Est::Hyperbolic => Estimator::Hyperbolic,
    }
}

/// Mean and sample variance of T squared errors of the m-sample estimator at (x, y).
pub fn mc_squared_errors(
    kind: Estimator,
    x: &[f64],
    y: &[f64],
    m: usize,
    orthogonal: bool,
    trials: usize,
    seed: u64,
) -> (f64, f64) {
    let sm = x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>().exp();
    let (mut s1, mut s2) = (0.0, 0.0);
    for t in 0..trials {
        let om = omegas(crate::rng::stream(seed, t as u64).next_u64_compat(), x.len(), m, orthogonal);
        let e2 = (estimate(kind, x, y, &om) - sm).powi(2);
        s1 += e2;
        s2 += e2 * e2;
    }
    let tf = trials as f64;
    let mean = s1 / tf;
    (mean, (s2 / tf - mean * mean) * tf / (tf - 1.0))
}

trait NextU64 {
    fn next_u64_compat(self) -> u64;
}
impl NextU64 for rand_pcg::Pcg64Mcg {
    fn next_u64_compat(mut self) -> u64 {
        rand::Rng::next_u64(&mut self)
    }
}

/// A pair (x, y) in R^d with ‖x‖ = ‖y‖ = r at angle θ.
pub fn pair(rng: &mut impl rand::Rng, d: usize, r: f64, theta: f64) -> (Vec<f64>, Vec<f64>) {
    let g = |rng: &mut dyn rand::Rng| -> Vec<f64> { (0..d).map(|_| StandardNormal.sample(rng)).collect() };
    let a = g(rng);
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let e1: Vec<f64> = a.iter().map(|x| x / na).collect();
    let mut b = g(rng);
    let c: f64 = b.iter().zip(&e1).map(|(x, y)| x * y).sum();
    b.iter_mut().zip(&e1).for_each(|(x, y)| *x -= c * y);
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    let x: Vec<f64> = e1.iter().map(|v| r * v).collect();
    let y: Vec<f64> = e1.iter().zip(&b).map(|(u, w)| r * (theta.cos() * u + theta.sin() * w / nb)).collect();
    (x, y)
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let (fp, ft, fh) =
        (thm.claimed_f64("factor_positive")?, thm.claimed_f64("factor_trig")?, thm.claimed_f64("factor_hyperbolic")?);
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let trials = ctx.trials(400_000);
    let m = 16;
    let mut rng = crate::rng::stream(ctx.seed, 71);
    let configs: Vec<(usize, f64, f64)> = vec![(4, 0.5, 0.5), (4, 0.8, 2.0), (16, 0.6, 1.2), (16, 0.9, 2.8)];
    let k_tests = (configs.len() * 4) as f64;
    let t = (k_tests / DELTA).sqrt();
    let mut lemma =
        Worst::new(format!("|MC MSE − Lemma 2| / (t·sd), t = √(K/δ) = {t:.1} (Chebyshev, K = {k_tests}, δ = {DELTA})"));
    let mut ort = Worst::new("(MC MSE_ort − Theorem 2 bound) / (t·plug-in sd) (≤ 1)");
    let mut ratios = Vec::new();
    for (ci, &(d, r, theta)) in configs.iter().enumerate() {
        let (x, y) = pair(&mut rng, d, r, theta);
        for kind in [Est::Trig, Est::Positive, Est::Hyperbolic] {
            let seed = ctx.seed ^ (ci as u64 * 31 + kind as u64 + 1);
            let (mean, _) = mc_squared_errors(est(kind), &x, &y, m, false, trials, seed);
            let claim = lemma2_mse(kind, &x, &y, m, fp, ft, fh);
            let sd = (squared_error_variance(kind, &x, &y, m) / trials as f64).sqrt();
            lemma.push((mean - claim).abs(), t * sd, || {
                format!("{kind:?} d={d} ‖x‖=‖y‖={r} θ={theta} m={m}: MC {mean:.4e} vs Lemma 2 {claim:.4e}")
            });
            ratios.push(format!("{kind:?}(d={d},r={r},θ={theta}) {:.3}", mean / claim));
        }
        let mo = m.min(d);
        let (mean, var) =
            mc_squared_errors(Estimator::Positive, &x, &y, mo, true, trials, ctx.seed ^ (ci as u64 * 31 + 7));
        let bound = orthogonal_mse_bound(&x, &y, mo, fp);
        let sd = (var / trials as f64).sqrt();
        ort.push(mean - bound, t * sd, || {
            format!("ORF d={d} m={mo} ‖x‖=‖y‖={r} θ={theta}: MC {mean:.4e} vs bound {bound:.4e}")
        });
    }
    rep.notes.push(format!("MC MSE / Lemma 2 (T = {trials} draws of m = {m} directions): {}", ratios.join(", ")));
    // (c) causal prefix-sum form vs quadratic form, Gaussian and real heads.
    let mut forms = Worst::new("|prefix-sum − D̃⁻¹tril(Q'K'ᵀ)V| vs 2×rounding bound (γ_{i+m+1}, f64)");
    let heads = ctx.real_heads()?;
    for (hi, h) in heads.iter().enumerate() {
        let p = Performer { features: 64, orthogonal: true };
        let hv = Head::new(&h.q, &h.k, &h.v, h.n, h.d, h.dv())?;
        let (fq, fk) = p.maps(&hv, ctx.seed + hi as u64)?;
        super::linear_recurrence::forms_worst(&fq, &fk, &h.v, 64, h.dv(), h.n, Mask::Causal, &mut forms, &h.label);
    }
    for n in [32, 256] {
        let s = crate::data::synthetic::gaussian(&mut rng, n, 16, 16, 2.0);
        let hv = Head::new(&s.q, &s.k, &s.v, n, 16, 16)?;
        for (mask, orth) in [(Mask::Causal, false), (Mask::Full, true)] {
            let p = Performer { features: 32, orthogonal: orth };
            let (fq, fk) = p.maps(&hv, ctx.seed)?;
            super::linear_recurrence::forms_worst(
                &fq,
                &fk,
                &s.v,
                32,
                16,
                n,
                mask,
                &mut forms,
                &format!("gaussian n={n} {mask:?}"),
            );
        }
    }
    // (d) real heads: output error and per-pair relative RMSE.
    let mut errs = Vec::new();
    let mut rel_rmse = Vec::new();
    for h in heads.iter().take(if ctx.quick { 2 } else { heads.len() }) {
        let hv = Head::new(&h.q, &h.k, &h.v, h.n, h.d, h.dv())?;
        for mfeat in [64, 256] {
            let r = crate::methods::check::check_against_exact(
                &Performer { features: mfeat, orthogonal: true },
                &hv,
                Mask::Causal,
                ctx.seed,
            )?;
            errs.push(format!("{} m={mfeat}: rel. Frobenius {:.3}, cosine {:.3}", h.label, r.rel_frobenius, r.cosine));
        }
        for i in (0..h.n).step_by(16) {
            for j in (0..=i).step_by(16) {
                let x: Vec<f64> = h.q[i * h.d..(i + 1) * h.d].iter().map(|&a| a as f64).collect();
                let y: Vec<f64> = h.k[j * h.d..(j + 1) * h.d].iter().map(|&a| a as f64).collect();
                let sm = x.iter().zip(&y).map(|(a, b)| a * b).sum::<f64>().exp();
                rel_rmse.push(lemma2_mse(Est::Positive, &x, &y, 256, fp, ft, fh).sqrt() / sm);
            }
        }
    }
    rel_rmse.sort_by(f64::total_cmp);
    let q = |p: f64| rel_rmse[((rel_rmse.len() - 1) as f64 * p) as usize];
    rep.notes.push(format!("FAVOR+ (orthogonal) on real heads, causal: {}", errs.join("; ")));
    rep.notes.push(format!(
        "Lemma 2 on real (q, k) pairs, m = 256: relative RMSE √MSE/exp(q·k) median {:.3e}, 90th percentile {:.3e}, max {:.3e} — unbiased but not accurate at real norms; real data: {}",
        q(0.5), q(0.9), q(1.0), ctx.data_label()
    ));
    let lf = lemma.finish();
    let of = ort.finish();
    rep.findings = vec![lf, Finding { name: of.name.clone(), ..of }, forms.finish()];
    Ok(rep.conclude_all())
}

/// Sweep measure: MC MSE of the positive (or orthogonal) estimator at a pair of norm r, angle θ in
/// dimension d with m directions; `ratio` = |MC − Lemma 2|/(t·sd) with t = √(P/δ), δ = 0.01 over the
/// sweep's P points.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let (fp, ft, fh) =
        (thm.claimed_f64("factor_positive")?, thm.claimed_f64("factor_trig")?, thm.claimed_f64("factor_hyperbolic")?);
    // The pair at angle θ spans a plane (d ≥ 2) and has norm r > 0.
    let (d, m, r, theta) = (p.usize_at_least("d", 2)?, p.usize_at_least("m", 1)?, p.f64("r")?, p.f64("theta")?);
    if !(r.is_finite() && r > 0.0) {
        return Err(crate::Error::invalid(
            format!("point {}", p.key),
            format!("parameter `r` = {r}: expected a positive finite norm"),
        ));
    }
    let mut rng = crate::rng::seeded(p.seed);
    let (x, y) = pair(&mut rng, d, r, theta);
    let trials = p.trials as usize;
    let (mean, _) = mc_squared_errors(Estimator::Positive, &x, &y, m, false, trials, p.seed);
    let claim = lemma2_mse(Est::Positive, &x, &y, m, fp, ft, fh);
    let sd = (squared_error_variance(Est::Positive, &x, &y, m) / trials as f64).sqrt();
    // Chebyshev with Bonferroni over the sweep's P points, as the check's t = √(K/δ).
    let t = (p.family.max(1) as f64 / DELTA).sqrt();
    let sm2 = x.iter().zip(&y).map(|(a, b)| a * b).sum::<f64>().exp().powi(2);
    Ok(crate::sweep::run::metrics([
        ("ratio", (mean - claim).abs() / (t * sd)),
        ("mse_over_lemma2", mean / claim),
        ("relative_mse", mean / sm2),
        ("m", m as f64),
    ]))
}
