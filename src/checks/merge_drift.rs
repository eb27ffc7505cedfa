//! Check of `merge.drift`: ‖z‖ ≤ norm_ratio_max·max‖k‖ for every merge (strict unless the keys
//! coincide); hierarchical merging of isotropic unit keys shrinks centroids like 1/√m; real keys,
//! which share a large mean direction, drift toward their mean instead of the origin.
use super::Ctx;
use crate::Result;
use crate::data::synthetic;
use crate::registry::Theorem;
use crate::theory::fp::{U64, gamma};
use crate::theory::merge::centroid;
use crate::verdict::{Finding, Report, Worst};

fn norm(x: &[f64]) -> f64 {
    x.iter().map(|a| a * a).sum::<f64>().sqrt()
}

/// Merge consecutive pairs (equal weights) level by level; returns the mean ‖z‖ per level.
pub fn hierarchical_norms(keys: &[f64], d: usize) -> Vec<f64> {
    let mut level: Vec<Vec<f64>> = keys.chunks_exact(d).map(|k| k.to_vec()).collect();
    let mut out = vec![level.iter().map(|k| norm(k)).sum::<f64>() / level.len().max(1) as f64];
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| {
                if p.len() == 2 {
                    centroid(&[p[0].clone(), p[1].clone()].concat(), &[1.0, 1.0], d)
                } else {
                    p[0].clone()
                }
            })
            .collect();
        out.push(level.iter().map(|k| norm(k)).sum::<f64>() / level.len() as f64);
    }
    out
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let cap = thm.claimed_f64("norm_ratio_max")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut w = Worst::new("‖z‖ / (norm_ratio_max·max‖k‖)");
    let mut strict_fail = 0u64;
    let mut rng = crate::rng::stream(ctx.seed, 14);
    for t in 0..ctx.trials(20_000) {
        let d = [1, 2, 16, 64][t % 4];
        let m = [2, 3, 10][t % 3];
        let s = synthetic::log_uniform(&mut rng, 1e-3, 1e3);
        let keys: Vec<f64> = synthetic::vector(&mut rng, m * d, s).iter().map(|&x| x as f64).collect();
        let wts: Vec<f64> = (0..m).map(|_| synthetic::log_uniform(&mut rng, 1e-3, 1e3)).collect();
        let z = centroid(&keys, &wts, d);
        let kmax = keys.chunks_exact(d).map(norm).fold(0.0, f64::max);
        let slack = gamma(m + d + 2, U64) * kmax;
        w.push(norm(&z) - slack, cap * kmax, || format!("d={d} m={m} scale={s:.2e}"));
        let distinct = keys.chunks_exact(d).any(|k| k != &keys[..d]);
        if distinct && norm(&z) >= kmax * (1.0 + gamma(m + d + 2, U64)) {
            strict_fail += 1;
        }
    }
    // Isotropic unit keys in d = 64: mean ‖z‖·√m after merging m = 2^L keys hierarchically.
    let mut rng = crate::rng::stream(ctx.seed, 15);
    let trials = ctx.trials(200);
    let levels = 8;
    let mut sum = vec![0.0; levels + 1];
    for _ in 0..trials {
        let d = 64;
        let mut keys: Vec<f64> =
            synthetic::vector(&mut rng, (1 << levels) * d, 1.0).iter().map(|&x| x as f64).collect();
        for k in keys.chunks_exact_mut(d) {
            let n = norm(k);
            k.iter_mut().for_each(|x| *x /= n);
        }
        for (acc, v) in sum.iter_mut().zip(hierarchical_norms(&keys, d)) {
            *acc += v;
        }
    }
    let iso: Vec<String> = sum
        .iter()
        .enumerate()
        .map(|(l, s)| format!("m=2^{l}: {:.3}", s / trials as f64 * 2f64.powf(l as f64 / 2.0)))
        .collect();
    rep.notes.push(format!("isotropic unit keys, d = 64: mean ‖z‖·√m after hierarchical merging (≈ 1 means ‖z‖ ≈ 1/√m, drift to the origin): {}", iso.join(", ")));
    // Real keys: merge consecutive pairs; compare with the norm of the head's mean key.
    let mut real = Vec::new();
    for h in ctx.real_heads()? {
        let (_, k, _) = h.widen();
        let n = h.n.next_power_of_two() / if h.n.is_power_of_two() { 1 } else { 2 };
        let norms = hierarchical_norms(&k[..n * h.d], h.d);
        let mean = centroid(&k[..n * h.d], &vec![1.0; n], h.d);
        real.push(format!(
            "{}: ‖k‖ mean {:.2} → after {} levels {:.2} (= ‖mean key‖ {:.2})",
            h.label,
            norms[0],
            norms.len() - 1,
            norms[norms.len() - 1],
            norm(&mean)
        ));
        for l in &norms {
            w.push(
                *l - gamma(n + h.d, U64) * norms[0],
                cap * k.chunks_exact(h.d).map(norm).fold(0.0, f64::max),
                || h.label.clone(),
            );
        }
    }
    rep.notes.push(format!(
        "real heads ({}): merging drifts toward the mean key, not the origin: {}",
        ctx.data_label(),
        real.join("; ")
    ));
    rep.findings = vec![
        w.finish(),
        Finding::upper(
            "distinct keys whose centroid reaches max‖k‖ (strictness)",
            "random groups",
            strict_fail as f64,
            0.0,
            ctx.trials(20_000) as u64,
        ),
    ];
    Ok(rep.conclude_all())
}

/// Sweep measure: mean ‖z‖ relative to the mean key norm after merging 2^L keys of the dataset.
pub fn measure(p: &crate::sweep::Point, _thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let levels = p.usize("levels")?;
    if levels > 30 {
        return Err(crate::Error::invalid(
            format!("point {}", p.key),
            format!("parameter `levels` = {levels}: expected ≤ 30 (n = 2^levels keys)"),
        ));
    }
    let n = 1usize << levels;
    let h = p.dataset.generate(n, p.usize_or_at_least("d", 64, 1)?, 1, p.seed)?;
    let n = h.n.min(n).next_power_of_two() / if h.n.min(n).is_power_of_two() { 1 } else { 2 };
    let k = crate::reference::widen(&h.k[..n * h.d]);
    let norms = hierarchical_norms(&k, h.d);
    let last = norms[norms.len() - 1];
    Ok(crate::sweep::run::metrics([
        ("norm_ratio_final", last / norms[0]),
        ("norm_ratio_times_sqrt_m", last / norms[0] * (n as f64).sqrt()),
        ("m", n as f64),
    ]))
}
