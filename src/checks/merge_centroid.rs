//! Check of `merge.centroid`: for the ρ-weighted centroid z, 0 ≤ log R ≤ hoeffding_const·Δ² (two
//! keys) and ≤ (‖q‖·D)²·hoeffding_const (groups), the Bennett variance bound, tightness of the
//! constant, the exact first-order identity that makes z the only second-order-optimal merge point,
//! and the slack of each bound on real heads (blocks of consecutive keys, uniform weights).
use super::Ctx;
use crate::Result;
use crate::data::synthetic;
use crate::registry::Theorem;
use crate::theory::fp::{U64, gamma};
use crate::theory::merge::{bennett_bound, centroid, log_merge_ratio, max_range_for, score_stats};
use crate::verdict::{Finding, Report, Worst};

/// Absolute rounding allowance for log R computed in f64 from scores of magnitude ≤ `smax` over m
/// terms: scores carry γ_{d+1}·Σ|q||k| (≤ γ_{d+1}·smax·2 after centring), exps 2u, the sum γ_{m+1}.
fn log_r_round(d: usize, m: usize, abs_scores: f64) -> f64 {
    2.0 * gamma(d + 2, U64) * abs_scores + gamma(m + 3, U64)
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let c = thm.claimed_f64("hoeffding_const")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut lower = Worst::new("−log R (Jensen: ≤ 0)");
    let mut pair = Worst::new("log R / (hoeffding_const·((x−y)·q)²) two keys");
    let mut group = Worst::new("log R / (hoeffding_const·(‖q‖·D)²) groups in a ball");
    let mut benn = Worst::new("log R / Bennett (σ²/c²)(e^c−1−c)");
    let mut ident = Worst::new("|log R_{z′} − log R_z − q·(z−z′)| (first-order identity)");
    let mut tight = 0.0f64;
    let mut rng = crate::rng::stream(ctx.seed, 13);
    for t in 0..ctx.trials(20_000) {
        let d = [1, 2, 8, 32, 64][t % 5];
        let m = if t % 3 == 0 { 2 } else { [3, 8, 64][t % 3] };
        let qn = synthetic::log_uniform(&mut rng, 1e-3, 10.0);
        let r = synthetic::log_uniform(&mut rng, 1e-3, 10.0);
        let q: Vec<f64> = synthetic::vector(&mut rng, d, qn / (d as f64).sqrt()).iter().map(|&x| x as f64).collect();
        let centre: Vec<f64> = synthetic::vector(&mut rng, d, 3.0).iter().map(|&x| x as f64).collect();
        let keys: Vec<f64> = (0..m)
            .flat_map(|_| {
                let off = synthetic::vector(&mut rng, d, r / (d as f64).sqrt());
                centre.iter().zip(off).map(|(a, b)| a + b as f64).collect::<Vec<f64>>()
            })
            .collect();
        let w: Vec<f64> = (0..m).map(|_| synthetic::log_uniform(&mut rng, 1e-3, 1e3)).collect();
        let lr = log_merge_ratio(&q, &keys, &w);
        let (range, var, cc) = score_stats(&q, &keys, &w);
        let qnorm = q.iter().map(|x| x * x).sum::<f64>().sqrt();
        let abs_s =
            keys.chunks_exact(d).map(|k| k.iter().zip(&q).map(|(a, b)| (a * b).abs()).sum::<f64>()).fold(0.0, f64::max);
        let tol = log_r_round(d, m, abs_s);
        let label = || format!("d={d} m={m} ‖q‖≈{qn:.2e} spread≈{r:.2e}");
        lower.push(-lr, tol, label);
        if m == 2 {
            pair.push(lr - tol, c * range * range, label);
            if range > 0.0 && range < 0.1 {
                tight = tight.max(lr / (range * range / 8.0));
            }
        }
        let diam = {
            let ks: Vec<&[f64]> = keys.chunks_exact(d).collect();
            let mut dm = 0.0f64;
            for a in 0..ks.len() {
                for b in a + 1..ks.len() {
                    dm = dm.max(crate::theory::dist::sqdist_direct(ks[a], ks[b]).sqrt());
                }
            }
            dm
        };
        group.push(lr - tol, c * (qnorm * diam).powi(2), label);
        benn.push(lr - tol, bennett_bound(var, cc), label);
        // First-order identity with a random other merge point z′.
        let z = centroid(&keys, &w, d);
        let zp: Vec<f64> = z.iter().map(|x| x + synthetic::uniform(&mut rng, -1.0, 1.0)).collect();
        let shifted: Vec<f64> = keys
            .chunks_exact(d)
            .flat_map(|k| k.iter().zip(&z).zip(&zp).map(|((a, zz), zpp)| a - zz + zpp).collect::<Vec<_>>())
            .collect();
        // log R_{z′} = log Σ p e^{q·(k − z′)}: evaluate via keys shifted by (z − z′) relative to z′.
        let lrp = {
            let xs: Vec<f64> =
                keys.chunks_exact(d).map(|k| k.iter().zip(&zp).zip(&q).map(|((a, b), c)| (a - b) * c).sum()).collect();
            let wsum: f64 = w.iter().sum();
            let mx = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            mx + crate::reference::sum::sum(xs.iter().zip(&w).map(|(x, r)| r / wsum * (x - mx).exp())).ln()
        };
        let lin: f64 = q.iter().zip(z.iter().zip(&zp)).map(|(qq, (a, b))| qq * (a - b)).sum();
        let _ = shifted;
        let abs_lin: f64 = q.iter().zip(z.iter().zip(&zp)).map(|(qq, (a, b))| (qq * (a - b)).abs()).sum();
        ident.push((lrp - lr - lin).abs(), 2.0 * tol + 2.0 * gamma(d + 2, U64) * (abs_lin + abs_s), label);
    }
    // Real heads: blocks of 16 consecutive keys with uniform weights, every 4th (16th quick) query.
    let (mut slack_ball, mut slack_hoeff, mut slack_benn, mut mergeable, mut pairs) =
        (Vec::new(), Vec::new(), Vec::new(), 0usize, 0usize);
    let eps = 1e-3;
    for h in ctx.real_heads()? {
        let (q, k, _) = h.widen();
        let step = if ctx.quick { 32 } else { 4 };
        for i in (0..h.n).step_by(step) {
            let qi = &q[i * h.d..(i + 1) * h.d];
            let qnorm = qi.iter().map(|x| x * x).sum::<f64>().sqrt();
            for b in (0..h.n).step_by(16) {
                let e = (b + 16).min(h.n);
                let keys = &k[b * h.d..e * h.d];
                let w = vec![1.0; e - b];
                let lr = log_merge_ratio(qi, keys, &w);
                let (range, var, cc) = score_stats(qi, keys, &w);
                let z = centroid(keys, &w, h.d);
                let rad = keys
                    .chunks_exact(h.d)
                    .map(|kk| crate::theory::dist::sqdist_direct(kk, &z).sqrt())
                    .fold(0.0, f64::max);
                let ball = c * (qnorm * 2.0 * rad).powi(2);
                let abs_s = keys
                    .chunks_exact(h.d)
                    .map(|kk| kk.iter().zip(qi).map(|(a, bb)| (a * bb).abs()).sum::<f64>())
                    .fold(0.0, f64::max);
                let tol = log_r_round(h.d, e - b, abs_s);
                let label = || format!("{} q{i} block {b}..{e}", h.label);
                lower.push(-lr, tol, label);
                group.push(lr - tol, ball, label);
                benn.push(lr - tol, bennett_bound(var, cc), label);
                slack_ball.push(ball - lr);
                slack_hoeff.push(c * range * range - lr);
                slack_benn.push(bennett_bound(var, cc) - lr);
                mergeable += usize::from(range <= max_range_for(eps));
                pairs += 1;
            }
        }
    }
    if pairs > 0 {
        rep.notes.push(format!(
            "real heads ({}), blocks of 16 consecutive keys, uniform weights: median slack (bound − log R) of the ball bound {:.2} nats, of Hoeffding with the true score range {:.2}, of Bennett {:.2}; the range condition |Δ| ≤ √(8 ln(1+ε)) = {:.4} certifies R ≤ 1+ε at ε = {eps} for {:.1}% of {pairs} (query, block) pairs",
            ctx.data_label(),
            crate::stats::median(&mut slack_ball),
            crate::stats::median(&mut slack_hoeff),
            crate::stats::median(&mut slack_benn),
            max_range_for(eps),
            100.0 * mergeable as f64 / pairs as f64
        ));
    }
    rep.notes.push(format!("tightness of the constant: sup log R/(Δ²/8) over two-key cases with |Δ| < 0.1 is {tight:.6} (→ 1 at p = 1/2, log cosh(Δ/2) ≈ Δ²/8)"));
    rep.findings = vec![
        lower.finish(),
        pair.finish(),
        group.finish(),
        benn.finish(),
        ident.finish(),
        Finding::lower("tightness: sup log R / (Δ²/8) for small Δ", "two keys, random weights", tight, 0.9, 1),
    ];
    Ok(rep.conclude_all())
}

/// Sweep measure: groups of m keys of the point's dataset (consecutive blocks), every query row:
/// worst log R over the Hoeffding ball bound and over Bennett, median ball-bound slack.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let c = thm.claimed_f64("hoeffding_const")?;
    let m = p.usize_or("m", 16)?.max(1);
    let h = p.dataset.generate(p.usize_or_at_least("n", 256, 1)?, p.usize_or_at_least("d", 32, 1)?, 1, p.seed)?;
    let (q, k) = (crate::reference::widen(&h.q), crate::reference::widen(&h.k));
    let d = h.d;
    let (mut worst_ball, mut worst_benn, mut slack) = (0.0f64, 0.0f64, Vec::new());
    for i in (0..h.n).step_by((h.n / 32).max(1)) {
        let qi = &q[i * d..(i + 1) * d];
        let qnorm = qi.iter().map(|x| x * x).sum::<f64>().sqrt();
        for b in (0..h.n).step_by(m) {
            let e = (b + m).min(h.n);
            let keys = &k[b * d..e * d];
            let w = vec![1.0; e - b];
            let lr = log_merge_ratio(qi, keys, &w);
            let (_, var, cc) = score_stats(qi, keys, &w);
            let z = centroid(keys, &w, d);
            let rad =
                keys.chunks_exact(d).map(|kk| crate::theory::dist::sqdist_direct(kk, &z).sqrt()).fold(0.0, f64::max);
            let ball = c * (qnorm * 2.0 * rad).powi(2);
            let abs_s = keys
                .chunks_exact(d)
                .map(|kk| kk.iter().zip(qi).map(|(a, bb)| (a * bb).abs()).sum::<f64>())
                .fold(0.0, f64::max);
            let lr = lr - log_r_round(d, e - b, abs_s);
            if ball > 0.0 {
                worst_ball = worst_ball.max(lr / ball);
            }
            let bb = bennett_bound(var, cc);
            if bb > 0.0 {
                worst_benn = worst_benn.max(lr / bb);
            }
            slack.push(ball - lr);
        }
    }
    Ok(crate::sweep::run::metrics([
        ("max_ratio_ball", worst_ball),
        ("max_ratio_bennett", worst_benn),
        ("max_ratio", worst_ball.max(worst_benn)),
        ("median_ball_slack", crate::stats::median(&mut slack)),
    ]))
}
