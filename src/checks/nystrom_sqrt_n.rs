//! Check of `nystrom.sqrt_n` (theorem file `theorems/nystrom.sqrt_n.yaml`).
//!
//! Nyström ([`crate::theory::nystrom`]) with k = ⌈c·√n⌉ uniform landmarks drawn from the keys, for the
//! query×key distance matrix ‖q−k‖ and the kernel exp(−‖q−k‖²/τ) (τ = median squared distance), per
//! regime (Gaussian, clustered, real keys); relative Frobenius error against the claimed 10 %.
use super::Ctx;
use crate::Result;
use crate::registry::Theorem;
use crate::theory::nystrom::{self, Entry, Strategy};
use crate::verdict::{Finding, Report, Verdict};

/// A regime: label, queries, keys, values (f64, row-major), d, dv.
pub struct Regime {
    pub label: String,
    pub q: Vec<f64>,
    pub k: Vec<f64>,
    pub v: Vec<f64>,
    pub d: usize,
    pub dv: usize,
}

/// Gaussian and clustered synthetic heads (n tokens, d = 32) and the real heads (first n tokens).
pub fn regimes(ctx: &Ctx, n: usize, real_heads: usize) -> Result<Vec<Regime>> {
    use crate::sweep::dataset::DatasetSpec;
    let mut out = Vec::new();
    for (label, spec) in [
        ("gaussian d=32", DatasetSpec::Gaussian { scale: 1.0 }),
        ("clustered (8 clusters, spread 0.1) d=32", DatasetSpec::Clustered { clusters: 8, spread: 0.1, scale: 3.0 }),
    ] {
        let h = spec.generate(n, 32, 32, ctx.seed ^ n as u64)?;
        let w = crate::reference::widen;
        out.push(Regime { label: format!("{label} n={n}"), q: w(&h.q), k: w(&h.k), v: w(&h.v), d: h.d, dv: h.dv });
    }
    for h in ctx.real_heads()?.iter().take(real_heads) {
        let t = n.min(h.n);
        let (q, k, v) = h.widen();
        let dv = h.dv();
        out.push(Regime {
            label: format!("{} n={t}", h.label),
            q: q[..t * h.d].to_vec(),
            k: k[..t * h.d].to_vec(),
            v: v[..t * dv].to_vec(),
            d: h.d,
            dv,
        });
    }
    Ok(out)
}

/// Mean relative Frobenius error of Nyström over `draws` landmark draws.
pub fn rel_error(r: &Regime, e: Entry, s: Strategy, k: usize, draws: usize, seed: u64) -> Result<f64> {
    let a = nystrom::matrix(e, &r.q, &r.k, r.d);
    let tau = nystrom::median_sqdist(&r.k, &r.k, r.d);
    let mut tot = 0.0;
    for t in 0..draws {
        let mut rng = crate::rng::stream(seed, t as u64);
        let l = nystrom::landmarks(s, &r.k, r.d, k, tau, &mut rng)?;
        tot += nystrom::rel_frobenius(&a, &nystrom::approximate(e, &r.q, &r.k, &l, r.d));
    }
    Ok(tot / draws as f64)
}

/// The two matrices of the claim for a regime: the distance and the median-τ kernel.
pub fn entries(r: &Regime) -> [Entry; 2] {
    [Entry::Dist, Entry::Kernel { tau: nystrom::median_sqdist(&r.q, &r.k, r.d) }]
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let c = thm.claimed_f64("landmarks_per_sqrt_n")?;
    let thr = thm.claimed_f64("max_relative_error")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let ns: &[usize] = if ctx.quick { &[256, 512] } else { &[256, 512, 1024, 2048] };
    let draws = if ctx.quick { 2 } else { 5 };
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for &n in ns {
        let real = if n <= 512 { if ctx.quick { 1 } else { 6 } } else { 0 };
        for r in regimes(ctx, n, real)? {
            let nn = r.k.len() / r.d;
            let k = ((c * (nn as f64).sqrt()).ceil() as usize).clamp(1, nn);
            for (ei, e) in entries(&r).into_iter().enumerate() {
                let err = rel_error(&r, e, Strategy::Uniform, k, draws, ctx.seed ^ (nn * 31 + ei) as u64)?;
                let kind =
                    if ei == 0 { "distance ‖q−k‖" } else { "kernel exp(−‖q−k‖²/τ), τ = median" };
                let f = Finding::upper(
                    format!("relative Frobenius error, k = ⌈{c}·√n⌉ uniform landmarks, {kind}"),
                    format!("{}, k = {k}, mean of {draws} draws", r.label),
                    err,
                    thr,
                    draws as u64,
                );
                if f.ok() {
                    ok.push(format!("{} {kind} ({err:.3})", r.label))
                } else {
                    bad.push(format!("{} {kind} ({err:.3})", r.label))
                }
                rep.findings.push(f);
            }
        }
    }
    rep.notes.push(format!("below {thr}: {}", if ok.is_empty() { "none".into() } else { ok.join("; ") }));
    rep.notes.push(format!("above {thr}: {}", if bad.is_empty() { "none".into() } else { bad.join("; ") }));
    rep.notes.push(format!("pseudo-inverse cutoff σ ≤ k·ε₆₄·σ₁; real data: {}", ctx.data_label()));
    rep.verdict = if bad.is_empty() {
        Verdict::Holds
    } else if ok.is_empty() {
        Verdict::Fails
    } else {
        rep.regime = Some(format!("holds for: {}; fails for: {}", ok.join("; "), bad.join("; ")));
        Verdict::HoldsInRegime
    };
    Ok(rep)
}

/// Sweep measure: relative error of Nyström with k = ⌈c·√n⌉ landmarks (strategy index `strategy`,
/// default uniform) on the dataset's n×n query×key matrix; `entry` 0 = distance, 1 = median-τ kernel.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let c = p.f64_or("c", thm.claimed_f64("landmarks_per_sqrt_n")?)?;
    let thr = thm.claimed_f64("max_relative_error")?;
    let h = p.dataset.generate(p.usize_at_least("n", 1)?, p.usize_or_at_least("d", 32, 1)?, 1, p.seed)?;
    let w = crate::reference::widen;
    let r = Regime { label: p.key.clone(), q: w(&h.q), k: w(&h.k), v: w(&h.v), d: h.d, dv: h.dv };
    let e = entries(&r)[p.usize_or("entry", 0)?.min(1)];
    let k = ((c * (h.n as f64).sqrt()).ceil() as usize).clamp(1, h.n);
    let s = Strategy::from_index(p.usize_or("strategy", 0)?)?;
    let err = rel_error(&r, e, s, k, p.trials.max(1) as usize, p.seed)?;
    Ok(crate::sweep::run::metrics([("rel_error", err), ("ratio", err / thr), ("k", k as f64), ("n", h.n as f64)]))
}
