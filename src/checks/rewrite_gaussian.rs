//! Check of `rewrite.gaussian`: the log-domain identity on random and real pairs, the g-form
//! attention (third factor dropped) against dot-product attention on the real heads, the claimed f32
//! overflow threshold, the claimed largest real key norm, and the measured over/underflow of each
//! factor on the real keys in f32 and f64.
use super::Ctx;
use crate::Result;
use crate::data::synthetic;
use crate::reference::f64_exact::{row_f64, row_from_logits};
use crate::registry::Theorem;
use crate::theory::fp::{U64, gamma};
use crate::theory::gaussian as g;
use crate::theory::softmax::{perturbed_average_bound, reference_f64_row_bound, spread};
use crate::verdict::{Finding, Report, Worst};

/// |q·k − (−‖k−q‖²/2 + ‖k‖²/2 + ‖q‖²/2)| and its rounding bound, from f64 inputs.
fn log_identity(q: &[f64], k: &[f64]) -> (f64, f64) {
    let d = q.len();
    let (a, b, c) = g::log_factors(q, k);
    let qk: f64 = q.iter().zip(k).map(|(x, y)| x * y).sum();
    let aqk: f64 = q.iter().zip(k).map(|(x, y)| (x * y).abs()).sum();
    let mag = a.abs() + b + c;
    let bound = gamma(d + 2, U64) * a.abs() + gamma(d, U64) * (b + c) + gamma(2, U64) * mag + gamma(d, U64) * aqk;
    ((qk - (a + b + c)).abs(), bound)
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let claimed_norm = thm.claimed_f64("f32_overflow_norm")?;
    let claimed_real = thm.claimed_f64("real_max_key_norm")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);

    // 1. The claimed threshold against the derived one, and against f32 arithmetic itself.
    let exact = g::overflow_norm_f32();
    let mut thresh = vec![Finding::upper(
        "|claimed f32 overflow norm − √(2 ln f32::MAX)|",
        format!("claimed {claimed_norm}, derived {exact:.4}"),
        (claimed_norm - exact).abs(),
        0.05,
        1,
    )];
    let f32_factor = |norm: f64| ((norm * norm / 2.0) as f32).exp();
    let below_finite = f32_factor(claimed_norm - 0.05).is_finite();
    let above_inf = f32_factor(claimed_norm + 0.05).is_infinite();
    thresh.push(Finding::upper(
        "f32 exp(‖k‖²/2) finite just below and infinite just above the claimed norm (mismatches)",
        format!(
            "exp at {:.2}: {:.3e}, at {:.2}: {:.3e}",
            claimed_norm - 0.05,
            f32_factor(claimed_norm - 0.05),
            claimed_norm + 0.05,
            f32_factor(claimed_norm + 0.05)
        ),
        f64::from(u8::from(!below_finite) + u8::from(!above_inf)),
        0.0,
        2,
    ));

    // 2. Log-domain identity on random pairs over a wide range of norms.
    let mut ident = Worst::new("|q·k − (−‖k−q‖²/2 + ‖k‖²/2 + ‖q‖²/2)| vs rounding bound");
    let mut rng = crate::rng::stream(ctx.seed, 4);
    for t in 0..ctx.trials(20_000) {
        let d = [1, 8, 32, 64][t % 4];
        let s = synthetic::log_uniform(&mut rng, 1e-2, 1e3);
        let q: Vec<f64> = synthetic::vector(&mut rng, d, s / (d as f64).sqrt()).iter().map(|&x| x as f64).collect();
        let k: Vec<f64> = synthetic::vector(&mut rng, d, s / (d as f64).sqrt()).iter().map(|&x| x as f64).collect();
        let (e, b) = log_identity(&q, &k);
        ident.push(e, b, || format!("random d={d} norm≈{s:.2e}"));
    }

    // 3. Real heads: identity on every pair, g-form attention vs dot attention (causal), and ranges.
    let heads = ctx.real_heads()?;
    let mut gform = Worst::new("|g-form causal attention − dot attention| vs perturbation bound");
    let (mut max_norm, mut over32, mut over64, mut nkeys) = (0.0f64, 0usize, 0usize, 0usize);
    let (mut under32, mut under64, mut sub32, mut prod_bad, mut pairs) = (0usize, 0usize, 0usize, 0usize, 0usize);
    let step = if ctx.quick { 8 } else { 1 };
    for h in heads {
        let (q, k, v) = h.widen();
        let dv = h.dv();
        let knorm: Vec<f64> = k.chunks_exact(h.d).map(|kj| kj.iter().map(|x| x * x).sum::<f64>().sqrt()).collect();
        for &nk in &knorm {
            max_norm = max_norm.max(nk);
            over32 += usize::from(nk > g::overflow_norm_f32());
            over64 += usize::from(nk > g::overflow_norm_f64());
        }
        nkeys += knorm.len();
        for i in (0..h.n).step_by(step) {
            let qi = &q[i * h.d..(i + 1) * h.d];
            let keys = &k[..(i + 1) * h.d];
            let vals = &v[..(i + 1) * dv];
            let (mut logits, mut eta, mut amax) = (Vec::with_capacity(i + 1), 0.0f64, 0.0f64);
            for (j, kj) in keys.chunks_exact(h.d).enumerate() {
                let (e, b) = log_identity(qi, kj);
                ident.push(e, b, || format!("{} q{i} k{j}", h.label));
                let (a, bb, _) = g::log_factors(qi, kj);
                logits.push(a + bb);
                eta = eta.max(b);
                amax = amax.max(qi.iter().zip(kj).map(|(x, y)| (x * y).abs()).sum());
                let dist = (-2.0 * a).sqrt();
                pairs += 1;
                under32 += usize::from(dist > g::underflow_dist_f32());
                under64 += usize::from(dist > g::underflow_dist_f64());
                sub32 += usize::from(-a < -g::ln_min_normal_f32() && -a > -g::ln_underflow_f32());
                // The product form in f32, where the true exp(q·k) is a normal f32 number.
                let truth = (a + bb + qi.iter().map(|x| x * x).sum::<f64>() / 2.0).exp();
                if truth.is_finite() && (truth as f32).is_normal() {
                    let p = (a as f32).exp()
                        * (bb as f32).exp()
                        * ((qi.iter().map(|x| x * x).sum::<f64>() / 2.0) as f32).exp();
                    prod_bad += usize::from(!p.is_normal());
                }
            }
            let mut og = vec![0.0; dv];
            let mut od = vec![0.0; dv];
            row_from_logits(&logits, vals, dv, &mut og);
            row_f64(qi, keys, vals, h.d, dv, &mut od);
            let sp = spread(vals, dv, &od);
            let omax = od.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            let bound = perturbed_average_bound(eta + 4.0 * U64, sp)
                + 2.0 * reference_f64_row_bound(h.d, i + 1, amax, sp, omax);
            let diff = og.iter().zip(&od).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            gform.push(diff, bound, || format!("{} row {i}", h.label));
        }
    }
    let claimed_real_f = Finding::upper(
        "|largest real key norm − claimed|",
        format!("measured {max_norm:.2} over {nkeys} keys of {}", ctx.data_label()),
        (max_norm - claimed_real).abs(),
        0.5,
        nkeys as u64,
    );
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    rep.notes.push(format!(
        "real keys: max ‖k‖ = {max_norm:.2}; exp(‖k‖²/2) overflows f32 (‖k‖ > {:.2}) for {:.1}% of {nkeys} keys, f64 (‖k‖ > {:.2}) for {:.1}%",
        g::overflow_norm_f32(),
        pct(over32, nkeys),
        g::overflow_norm_f64(),
        pct(over64, nkeys)
    ));
    rep.notes.push(format!(
        "real causal (q,k) pairs: exp(−‖k−q‖²/2) underflows to 0 in f32 (‖k−q‖ > {:.2}) for {:.1}% of {pairs}, is subnormal for {:.1}%, underflows in f64 (> {:.2}) for {:.1}%; the three-factor product in f32 is not a normal number for {:.1}% of the pairs whose true exp(q·k) is",
        g::underflow_dist_f32(),
        pct(under32, pairs),
        pct(sub32, pairs),
        g::underflow_dist_f64(),
        pct(under64, pairs),
        pct(prod_bad, pairs)
    ));
    rep.findings = thresh;
    rep.findings.push(claimed_real_f);
    rep.findings.push(ident.finish());
    rep.findings.push(gform.finish());
    Ok(rep.conclude_all())
}

/// Sweep measure: the log-domain identity on `trials` (q, k) pairs of the point's dataset, and the
/// fraction of its keys whose factor exp(‖k‖²/2) overflows f32.
pub fn measure(p: &crate::sweep::Point, _thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let h = p.dataset.generate(p.trials as usize, p.usize_at_least("d", 1)?, 1, p.seed)?;
    let (q, k) = (crate::reference::widen(&h.q), crate::reference::widen(&h.k));
    let (mut worst, mut over, mut maxn) = (0.0f64, 0usize, 0.0f64);
    for i in 0..h.n {
        let (qi, ki) = (&q[i * h.d..(i + 1) * h.d], &k[i * h.d..(i + 1) * h.d]);
        let (e, b) = log_identity(qi, ki);
        worst = worst.max(if b > 0.0 {
            e / b
        } else if e == 0.0 {
            0.0
        } else {
            f64::INFINITY
        });
        let nk = ki.iter().map(|x| x * x).sum::<f64>().sqrt();
        maxn = maxn.max(nk);
        over += usize::from(nk > g::overflow_norm_f32());
    }
    Ok(crate::sweep::run::metrics([
        ("max_ratio", worst),
        ("frac_keys_overflow_f32", over as f64 / h.n.max(1) as f64),
        ("max_key_norm", maxn),
        ("trials", h.n as f64),
    ]))
}
