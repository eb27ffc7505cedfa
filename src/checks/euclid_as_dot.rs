//! Check of `euclid.as_dot`: the log-softmax of −‖q−k_j‖²/τ equals that of
//! (a·q·k_j + b·‖k_j‖² + c·‖q‖²)/τ with (a, b, c) read from the theorem file, to within the
//! rounding bound derived there; plus measurements of how much the key-norm bias matters on the real
//! heads.
use super::Ctx;
use crate::Result;
use crate::data::synthetic;
use crate::reference::f64_exact::log_softmax;
use crate::registry::Theorem;
use crate::theory::fp::{U64, gamma};
use crate::verdict::{Report, Worst};

/// Logits of both forms for one query against all keys, with the per-key rounding bound η_j.
fn both_forms(
    q: &[f64],
    keys: &[f64],
    d: usize,
    tau: f64,
    (a, b, c): (f64, f64, f64),
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let qq: f64 = q.iter().map(|x| x * x).sum();
    let n = keys.len() / d;
    let (mut le, mut ld, mut eta) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for kj in keys.chunks_exact(d) {
        let dd = crate::theory::dist::sqdist_direct(q, kj);
        let kk: f64 = kj.iter().map(|x| x * x).sum();
        let qk: f64 = q.iter().zip(kj).map(|(x, y)| x * y).sum();
        let aqk: f64 = q.iter().zip(kj).map(|(x, y)| (x * y).abs()).sum();
        le.push(-dd / tau);
        ld.push((a * qk + b * kk + c * qq) / tau);
        eta.push((gamma(d + 2, U64) * dd + gamma(d + 3, U64) * (qq + kk + 2.0 * aqk)) / tau);
    }
    (le, ld, eta)
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let coefs = (thm.claimed_f64("dot_coef")?, thm.claimed_f64("bias_coef")?, thm.claimed_f64("query_norm_coef")?);
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut w = Worst::new("|logsoftmax(−‖q−k‖²/τ) − logsoftmax(dot form)|");
    let mut eval = |q: &[f64], keys: &[f64], d: usize, tau: f64, label: &dyn Fn() -> String| {
        let (le, ld, eta) = both_forms(q, keys, d, tau, coefs);
        let (pe, pd) = (log_softmax(&le), log_softmax(&ld));
        let n = le.len() as f64;
        let m = le.iter().chain(&ld).cloned().fold(0.0f64, |a, x| a.max(x.abs()));
        let lse_err = 2.0 * gamma(le.len() + 4, U64) * (2.0 * m + n.ln() + 1.0);
        let eta_max = eta.iter().cloned().fold(0.0, f64::max);
        let diff = pe.iter().zip(&pd).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        w.push(diff, 2.0 * eta_max + lse_err, label);
    };
    let mut rng = crate::rng::stream(ctx.seed, 3);
    for t in 0..ctx.trials(2_000) {
        let d = [1, 4, 16, 32, 64][t % 5];
        let n = [1, 2, 7, 33, 100][(t / 5) % 5];
        let scale = synthetic::log_uniform(&mut rng, 1e-2, 30.0);
        let tau = synthetic::log_uniform(&mut rng, 0.1, 10.0);
        let s = synthetic::gaussian(&mut rng, n, d, 1, scale);
        let q: Vec<f64> = s.q[..d].iter().map(|&x| x as f64).collect();
        let k: Vec<f64> = s.k.iter().map(|&x| x as f64).collect();
        eval(&q, &k, d, tau, &|| format!("gaussian n={n} d={d} scale={scale:.2e} τ={tau:.2}"));
    }
    // Real heads, full attention, τ ∈ {1, 2}: τ = 2 makes the Euclidean logits q·k − ‖k‖²/2.
    let heads = ctx.real_heads()?;
    let step = if ctx.quick { 16 } else { 1 };
    let (mut bias_span, mut argmax_changed, mut rows, mut tv_sum) = (0.0f64, 0usize, 0usize, 0.0f64);
    for h in heads {
        let (q, k, _) = h.widen();
        let norms2: Vec<f64> = k.chunks_exact(h.d).map(|kj| kj.iter().map(|x| x * x).sum::<f64>()).collect();
        let span = norms2.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
            - norms2.iter().cloned().fold(f64::INFINITY, f64::min);
        bias_span = bias_span.max(span / 2.0);
        for i in (0..h.n).step_by(step) {
            let qi = &q[i * h.d..(i + 1) * h.d];
            for tau in [1.0, 2.0] {
                eval(qi, &k, h.d, tau, &|| format!("{} row {i} τ={tau}", h.label));
            }
            // Dot attention vs Euclidean attention at τ = 2 (same temperature on q·k).
            let dot: Vec<f64> = k.chunks_exact(h.d).map(|kj| qi.iter().zip(kj).map(|(a, b)| a * b).sum()).collect();
            let euc: Vec<f64> = dot.iter().zip(&norms2).map(|(s, n2)| s - n2 / 2.0).collect();
            let am = |v: &[f64]| v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|x| x.0);
            argmax_changed += usize::from(am(&dot) != am(&euc));
            let (pd, pe) = (log_softmax(&dot), log_softmax(&euc));
            tv_sum += 0.5 * pd.iter().zip(&pe).map(|(a, b)| (a.exp() - b.exp()).abs()).sum::<f64>();
            rows += 1;
        }
    }
    if rows > 0 {
        rep.notes.push(format!(
            "real heads ({}): the key-norm bias ‖k‖²/2 spans up to {bias_span:.1} nats across the keys of one head; Euclidean attention at τ=2 (= dot attention + bias −‖k‖²/2) changes the argmax key in {:.1}% of {rows} rows, mean total-variation distance to dot attention {:.3}",
            ctx.data_label(),
            100.0 * argmax_changed as f64 / rows as f64,
            tv_sum / rows as f64
        ));
    }
    rep.findings = vec![w.finish()];
    Ok(rep.conclude_all())
}

/// Sweep measure: for up to `trials` query rows of the point's dataset (n keys, dimension d,
/// temperature tau), the log-softmax difference of the two forms over its bound.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let coefs = (thm.claimed_f64("dot_coef")?, thm.claimed_f64("bias_coef")?, thm.claimed_f64("query_norm_coef")?);
    let h = p.dataset.generate(p.usize_or_at_least("n", 64, 1)?, p.usize_at_least("d", 1)?, 1, p.seed)?;
    let tau = p.f64_or("tau", 1.0)?;
    let (q, k) = (crate::reference::widen(&h.q), crate::reference::widen(&h.k));
    let mut worst: f64 = 0.0;
    let rows = (p.trials as usize).min(h.n);
    for i in 0..rows {
        let (le, ld, eta) = both_forms(&q[i * h.d..(i + 1) * h.d], &k, h.d, tau, coefs);
        let (pe, pd) = (log_softmax(&le), log_softmax(&ld));
        let m = le.iter().chain(&ld).cloned().fold(0.0f64, |a, x| a.max(x.abs()));
        let bound = 2.0 * eta.iter().cloned().fold(0.0, f64::max)
            + 2.0 * gamma(le.len() + 4, U64) * (2.0 * m + (le.len() as f64).ln() + 1.0);
        let diff = pe.iter().zip(&pd).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        worst = worst.max(diff / bound);
    }
    Ok([("max_ratio".to_string(), worst), ("trials".to_string(), rows as f64)].into_iter().collect())
}
