//! Check of `nystrom.attention` (theorem file `theorems/nystrom.attention.yaml`).
//!
//! normalize(Φ_Q W⁺ (Φ_Kᵀ V)) ([`crate::theory::nystrom::attention`]) against exact Euclidean
//! attention softmax(−‖q−k‖²/τ)V in float64 ([`crate::theory::nystrom::euclid_exact`], the reference
//! on augmented vectors), τ = 2 (the dot-product scale of the stored real heads: −‖q−k‖²/2 =
//! q·k − ‖k‖²/2 − ‖q‖²/2), landmarks uniform from the keys, k = ⌈c·√n⌉: relative output error, the
//! fraction of rows whose normaliser is ≤ 0, and the flop model against exact attention.
use super::Ctx;
use super::nystrom_sqrt_n::{Regime, regimes};
use crate::Result;
use crate::registry::Theorem;
use crate::theory::nystrom::{self, Strategy};
use crate::verdict::{Report, Worst};

/// Temperature of the Euclidean attention (see the module doc).
pub const TAU: f64 = 2.0;

/// (relative Frobenius output error over rows with a positive normaliser, fraction of rows with
/// normaliser ≤ 0) for k landmarks of strategy `s`.
pub fn run(r: &Regime, k: usize, s: Strategy, seed: u64) -> Result<(f64, f64)> {
    let n = r.q.len() / r.d;
    let exact = nystrom::euclid_exact(&r.q, &r.k, &r.v, r.d, r.dv, TAU)?;
    let mut rng = crate::rng::seeded(seed);
    let l = nystrom::landmarks(s, &r.k, r.d, k, TAU, &mut rng)?;
    let ap = nystrom::attention(&r.q, &r.k, &r.v, &l, r.d, r.dv, TAU);
    let (mut num, mut den) = (0.0, 0.0);
    for i in 0..n {
        for t in 0..r.dv {
            let e = exact[i * r.dv + t];
            num += (ap.out[i * r.dv + t] - e).powi(2);
            den += e * e;
        }
    }
    Ok(((num / den).sqrt(), ap.nonpositive as f64 / n as f64))
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let c = thm.claimed_f64("landmarks_per_sqrt_n")?;
    let thr = thm.claimed_f64("max_relative_error")?;
    let npf = thm.claimed_f64("nonpositive_fraction")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let n = if ctx.quick { 256 } else { 512 };
    let mut werr = Worst::new(format!(
        "relative output error ‖Ô − O‖_F/‖O‖_F, k = ⌈{c}·√n⌉ uniform landmarks, τ = {TAU}, vs max_relative_error"
    ));
    let mut wneg = Worst::new("fraction of rows with normaliser ≤ 0 vs nonpositive_fraction");
    for r in regimes(ctx, n, if ctx.quick { 2 } else { 6 })? {
        let nn = r.k.len() / r.d;
        let k = ((c * (nn as f64).sqrt()).ceil() as usize).clamp(1, nn);
        let (err, neg) = run(&r, k, Strategy::Uniform, ctx.seed ^ 0xA7)?;
        werr.push(err, thr, || format!("{} k={k}", r.label));
        wneg.push(neg, npf, || format!("{} k={k}", r.label));
        let mut more = Vec::new();
        for kk in [4 * k, nn / 2] {
            let (e2, n2) = run(&r, kk.min(nn), Strategy::Uniform, ctx.seed ^ 0xA8)?;
            let (e3, n3) = run(&r, kk.min(nn), Strategy::PivotedCholesky, ctx.seed ^ 0xA8)?;
            more.push(format!(
                "k={kk}: uniform err {e2:.3} (≤0: {:.1}%), pivoted Cholesky err {e3:.3} (≤0: {:.1}%)",
                100.0 * n2,
                100.0 * n3
            ));
        }
        rep.notes.push(format!(
            "{}: k={k}: err {err:.3}, normaliser ≤ 0 on {:.1}% of rows; {}; flops Nyström/exact = {:.3}",
            r.label,
            100.0 * neg,
            more.join("; "),
            nystrom::flops_nystrom(nn, k, r.d, r.dv) / nystrom::flops_exact(nn, r.d, r.dv)
        ));
    }
    rep.notes.push(format!("exact reference: float64 softmax(−‖q−k‖²/τ)V via reference::attention_f64 on [2q/τ, 1]·[k, −‖k‖²/τ]; pseudo-inverse cutoff σ ≤ k·ε₆₄·σ₁; real data: {}", ctx.data_label()));
    rep.findings = vec![werr.finish(), wneg.finish()];
    Ok(rep.conclude_all())
}

/// Sweep measure: output error and non-positive-normaliser fraction at k landmarks (`k`, or
/// ⌈c·√n⌉ when `k` is absent) of strategy index `strategy` (default uniform).
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let c = thm.claimed_f64("landmarks_per_sqrt_n")?;
    let thr = thm.claimed_f64("max_relative_error")?;
    let h = p.dataset.generate(
        p.usize_at_least("n", 1)?,
        p.usize_or_at_least("d", 32, 1)?,
        p.usize_or_at_least("dv", 32, 1)?,
        p.seed,
    )?;
    let w = crate::reference::widen;
    let r = Regime { label: p.key.clone(), q: w(&h.q), k: w(&h.k), v: w(&h.v), d: h.d, dv: h.dv };
    let k = p.usize_or("k", ((c * (h.n as f64).sqrt()).ceil() as usize).max(1))?.clamp(1, h.n);
    let (err, neg) = run(&r, k, Strategy::from_index(p.usize_or("strategy", 0)?)?, p.seed)?;
    Ok(crate::sweep::run::metrics([
        ("rel_error", err),
        ("ratio", err / thr),
        ("nonpositive_fraction", neg),
        ("flops_ratio", nystrom::flops_nystrom(h.n, k, h.d, h.dv) / nystrom::flops_exact(h.n, h.d, h.dv)),
        ("k", k as f64),
        ("n", h.n as f64),
    ]))
}
