//! Check of `eikonal.gradient`: ∇u_h(x) = x − Σ p_j(x) k_j against central finite differences (with
//! the truncation + rounding bound derived in the theorem file), the sandwich
//! 0 ≤ ψ(x) − u_h(x) ≤ sandwich_coef·h·ln n, and the eikonal limit on real keys.
use super::Ctx;
use crate::Result;
use crate::data::synthetic;
use crate::registry::Theorem;
use crate::theory::eikonal::{grad_u_h, psi, u_h};
use crate::theory::fp::{U64, gamma};
use crate::verdict::{Report, Worst};

/// Rounding bound of the computed u_h: γ_{d+3}·ψ_max + h·γ_{n+3}·(1 + |ln Σ|) + u·|u|.
fn u_round(x: &[f64], keys: &[f64], h: f64) -> f64 {
    let d = x.len();
    let n = keys.len() / d;
    let psimax = keys.chunks_exact(d).map(|k| crate::theory::dist::sqdist_direct(x, k) / 2.0).fold(0.0, f64::max);
    let u = u_h(x, keys, h);
    gamma(d + 3, U64) * psimax + h * gamma(n + 3, U64) * (1.0 + (n as f64).ln() + psimax / h) + U64 * u.abs()
}

/// Worst |FD − analytic| / bound over the coordinate directions of one point.
fn grad_ratio(x: &[f64], keys: &[f64], h: f64) -> f64 {
    let d = x.len();
    let g = grad_u_h(x, keys, h);
    let scale = 1.0 + x.iter().map(|a| a.abs()).fold(0.0, f64::max);
    let mut worst: f64 = 0.0;
    for i in 0..d {
        let w = keys.chunks_exact(d).map(|k| k[i]).fold(f64::NEG_INFINITY, f64::max)
            - keys.chunks_exact(d).map(|k| k[i]).fold(f64::INFINITY, f64::min);
        // Step balancing truncation δ²w³/(6h²) and rounding ε_u/δ.
        let eu = u_round(x, keys, h);
        let delta = ((3.0 * eu * h * h) / (w.powi(3) + 1e-300)).cbrt().clamp(1e-8 * scale, 1e-2 * scale.max(h));
        let (mut xp, mut xm) = (x.to_vec(), x.to_vec());
        xp[i] += delta;
        xm[i] -= delta;
        let dlt = xp[i] - xm[i]; // the step actually taken
        let eu2 = u_round(&xp, keys, h).max(u_round(&xm, keys, h));
        let fd = (u_h(&xp, keys, h) - u_h(&xm, keys, h)) / dlt;
        let bound = (dlt / 2.0).powi(2) * w.powi(3) / (6.0 * h * h)
            + 2.0 * eu2 / dlt
            + gamma(3, U64) * fd.abs()
            + gamma(n_of(keys, d) + d + 3, U64) * (g[i].abs() + scale + w);
        worst = worst.max((fd - g[i]).abs() / bound);
    }
    worst
}

fn n_of(keys: &[f64], d: usize) -> usize {
    keys.len() / d
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let coef = thm.claimed_f64("sandwich_coef")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut grad = Worst::new("|central difference − (x − Σp k)| / bound");
    let mut lo = Worst::new("u_h − ψ (must be ≤ 0 + rounding)");
    let mut hi = Worst::new("ψ − u_h vs sandwich_coef·h·ln n");
    let mut rng = crate::rng::stream(ctx.seed, 16);
    for t in 0..ctx.trials(2000) {
        let d = [1, 2, 8, 32][t % 4];
        let n = [1, 2, 5, 40][(t / 4) % 4];
        let h = synthetic::log_uniform(&mut rng, 1e-2, 10.0);
        let s = synthetic::log_uniform(&mut rng, 0.1, 10.0);
        let keys: Vec<f64> = synthetic::vector(&mut rng, n * d, s).iter().map(|&x| x as f64).collect();
        let x: Vec<f64> = synthetic::vector(&mut rng, d, s).iter().map(|&x| x as f64).collect();
        let label = || format!("d={d} n={n} h={h:.3} scale={s:.2}");
        grad.push(grad_ratio(&x, &keys, h), 1.0, label);
        let (u, p) = (u_h(&x, &keys, h), psi(&x, &keys));
        let r = u_round(&x, &keys, h) + gamma(d + 2, U64) * p;
        lo.push(u - p - r, 0.0, label);
        hi.push(p - u - r, coef * h * (n as f64).ln(), label);
    }
    // Real heads: x = queries, keys = keys (full), h ∈ {0.5, 2, 8}; eikonal limit at small h.
    let mut limit = Vec::new();
    for hd in ctx.real_heads()? {
        let (q, k, _) = hd.widen();
        let step = if ctx.quick { 64 } else { 8 };
        for i in (0..hd.n).step_by(step) {
            let x = &q[i * hd.d..(i + 1) * hd.d];
            for h in [0.5, 2.0, 8.0] {
                let label = || format!("{} q{i} h={h}", hd.label);
                if i % (step * 4) == 0 {
                    grad.push(grad_ratio(x, &k, h), 1.0, label);
                }
                let (u, p) = (u_h(x, &k, h), psi(x, &k));
                let r = u_round(x, &k, h) + gamma(hd.d + 2, U64) * p;
                lo.push(u - p - r, 0.0, label);
                hi.push(p - u - r, coef * h * (hd.n as f64).ln(), label);
            }
            // Eikonal limit: ∇u_h → x − k_nearest as h → 0.
            let nearest = k
                .chunks_exact(hd.d)
                .min_by(|a, b| {
                    crate::theory::dist::sqdist_direct(x, a).total_cmp(&crate::theory::dist::sqdist_direct(x, b))
                })
                .unwrap_or(&k[..hd.d]);
            for h in [1.0, 0.1, 0.01] {
                let g = grad_u_h(x, &k, h);
                let e: f64 = g
                    .iter()
                    .zip(x.iter().zip(nearest))
                    .map(|(gi, (xi, ki))| (gi - (xi - ki)).powi(2))
                    .sum::<f64>()
                    .sqrt();
                let gn: f64 = g.iter().map(|a| a * a).sum::<f64>().sqrt();
                limit.push((h, e, gn, (2.0 * psi(x, &k)).sqrt()));
            }
        }
    }
    for h in [1.0, 0.1, 0.01] {
        let v: Vec<&(f64, f64, f64, f64)> = limit.iter().filter(|l| l.0 == h).collect();
        if !v.is_empty() {
            let mean_e = v.iter().map(|l| l.1).sum::<f64>() / v.len() as f64;
            let mean_ratio = v.iter().map(|l| l.2 / l.3).sum::<f64>() / v.len() as f64;
            rep.notes.push(format!(
                "real queries over real keys, h = {h}: mean ‖∇u_h − (x − k_nearest)‖ = {mean_e:.3e}; mean ‖∇u_h‖/√(2ψ) = {mean_ratio:.4} (→ 1: the eikonal equation |∇φ| = 1 for φ = √(2ψ))"
            ));
        }
    }
    rep.findings = vec![grad.finish(), lo.finish(), hi.finish()];
    Ok(rep.conclude_all())
}

/// Sweep measure: gradient identity and sandwich on the dataset's queries over its keys at `h`.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let coef = thm.claimed_f64("sandwich_coef")?;
    let h = p.f64("h")?;
    let hd = p.dataset.generate(p.usize_or_at_least("n", 64, 1)?, p.usize_or_at_least("d", 8, 1)?, 1, p.seed)?;
    let (q, k) = (crate::reference::widen(&hd.q), crate::reference::widen(&hd.k));
    let (mut g, mut s) = (0.0f64, 0.0f64);
    for i in (0..hd.n).step_by((hd.n / 8).max(1)) {
        let x = &q[i * hd.d..(i + 1) * hd.d];
        g = g.max(grad_ratio(x, &k, h));
        let (u, pp) = (u_h(x, &k, h), psi(x, &k));
        let r = u_round(x, &k, h) + gamma(hd.d + 2, U64) * pp;
        s = s.max((pp - u - r) / (coef * h * (hd.n as f64).ln()));
    }
    Ok(crate::sweep::run::metrics([("grad_ratio", g), ("sandwich_ratio", s), ("max_ratio", g.max(s))]))
}
