//! Check of `nystrom.error_rank` (theorem file `theorems/nystrom.error_rank.yaml`).
//!
//! Relative Frobenius error of Nyström against the number of landmarks k (nested uniform landmarks:
//! prefixes of one random permutation of the keys) for the SPSD kernel exp(−‖x−y‖²/τ) on the keys and
//! for the key×key distance matrix; the fitted log-log slope of error vs k must be ≤ max_slope (a
//! decreasing curve), and on the SPSD kernel the measured error must stay below the Kumar–Mohri–
//! Talwalkar Thm 2 bound (Drineas–Mahoney Thm 3 is reported; neither applies to distance matrices).
use super::Ctx;
use super::nystrom_sqrt_n::{Regime, regimes};
use crate::Result;
use crate::registry::Theorem;
use crate::stats::loglog_slope;
use crate::theory::nystrom::{self, Entry};
use crate::verdict::{Finding, Report};
use nalgebra::DMatrix;

/// Errors ‖A − Ã_k‖_F for nested uniform landmark sets (prefixes of one permutation) on the symmetric
/// key×key matrix of `e`; returns (k, absolute error, relative error) per k and ‖A‖_F.
pub fn curve(r: &Regime, e: Entry, ks: &[usize], seed: u64) -> Result<(Vec<(usize, f64, f64)>, DMatrix<f64>)> {
    let n = r.k.len() / r.d;
    let a = nystrom::matrix(e, &r.k, &r.k, r.d);
    let mut rng = crate::rng::seeded(seed);
    let kmax = ks.iter().copied().max().unwrap_or(1).min(n);
    let perm = nystrom::landmarks(nystrom::Strategy::Uniform, &r.k, r.d, kmax, 1.0, &mut rng)?;
    let fro = a.norm();
    let mut out = Vec::new();
    for &k in ks.iter().filter(|&&k| k <= n) {
        let l = &perm[..k * r.d];
        let err = (&a - nystrom::approximate(e, &r.k, &r.k, l, r.d)).norm();
        out.push((k, err, err / fro));
    }
    Ok((out, a))
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let max_slope = thm.claimed_f64("max_slope")?;
    let delta = thm.claimed_f64("delta")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let n = if ctx.quick { 256 } else { 512 };
    let ks: Vec<usize> = vec![4, 8, 16, 32, 64, 128];
    let mut kmt = crate::verdict::Worst::new(
        "Nyström ‖K − CW⁺Cᵀ‖_F vs ‖K − K_l‖_F + KMT12 Thm 2 additive term (SPSD kernel, uniform without replacement, δ)",
    );
    for r in regimes(ctx, n, if ctx.quick { 1 } else { 6 })? {
        let tau = nystrom::median_sqdist(&r.k, &r.k, r.d);
        for e in [Entry::Kernel { tau }, Entry::Dist] {
            let (cv, a) = curve(&r, e, &ks, ctx.seed ^ 0x51)?;
            let xs: Vec<f64> = cv.iter().map(|c| c.0 as f64).collect();
            let ys: Vec<f64> = cv.iter().map(|c| c.2).collect();
            let nonmono = cv.windows(2).filter(|w| w[1].1 > w[0].1).count();
            let curve_txt: Vec<String> = cv.iter().map(|c| format!("k={}: {:.2e}", c.0, c.2)).collect();
            if let Some(f) = loglog_slope(&xs, &ys, 0.95) {
                rep.findings.push(Finding::upper(
                    format!(
                        "fitted log-log slope of relative error vs k (upper 95% limit) vs max_slope, {}",
                        if matches!(e, Entry::Dist) { "distance ‖x−y‖" } else { "SPSD kernel" }
                    ),
                    format!(
                        "{}: slope {:.3} CI [{:.3}, {:.3}]; {}",
                        r.label,
                        f.slope,
                        f.lo,
                        f.hi,
                        curve_txt.join(", ")
                    ),
                    f.hi,
                    max_slope,
                    cv.len() as u64,
                ));
            }
            if nonmono > 0 {
                rep.notes.push(format!(
                    "{} {}: error increased {nonmono} time(s) when landmarks were added (nested sets)",
                    r.label,
                    e.label()
                ));
            }
            if let Entry::Kernel { .. } = e {
                let nn = a.nrows();
                let mut sv: Vec<f64> = a.singular_values().iter().cloned().collect();
                sv.sort_by(|p, q| q.total_cmp(p));
                let dmax = {
                    // d^K_max = max_ij √(K_ii + K_jj − 2K_ij) = max √(2 − 2K_ij) for this kernel.
                    let kmin = a.iter().cloned().fold(f64::INFINITY, f64::min);
                    (2.0 - 2.0 * kmin).max(0.0).sqrt()
                };
                for &(k, err, _) in &cv {
                    let best: f64 = sv.iter().skip(k).map(|s| s * s).sum::<f64>().sqrt();
                    let add = nystrom::kmt_frobenius_additive(k, k, nn, delta, 1.0, dmax);
                    kmt.push(err, best + add, || {
                        format!(
                            "{}, l = k = {k}: best rank-k {best:.3e}, additive {add:.3e}, ‖K‖_F = {:.3e}",
                            r.label,
                            a.norm()
                        )
                    });
                }
                let k = 32.min(nn);
                let dm = nystrom::dm05_frobenius_additive(k, k, delta, nn as f64);
                rep.notes.push(format!(
                    "{}: bounds at l = k = 32 relative to ‖K‖_F = {:.3e}: KMT12 additive term {:.2e}·‖K‖_F, DM05 Thm 3 additive term (ε = (64kη²/c)^{{1/4}}, ΣK_ii² = n) {:.2e}·‖K‖_F — both exceed ‖K‖_F, so they are vacuous here; measured relative error at k = 32: {:.2e}",
                    r.label,
                    a.norm(),
                    nystrom::kmt_frobenius_additive(k, k, nn, delta, 1.0, dmax) / a.norm(),
                    dm / a.norm(),
                    cv.iter().find(|c| c.0 == 32).map(|c| c.2).unwrap_or(f64::NAN)
                ));
            }
        }
    }
    rep.findings.push(kmt.finish());
    rep.notes.push(format!("no published Nyström bound applies to distance matrices (not PSD); τ = median squared key distance; pseudo-inverse cutoff σ ≤ k·ε₆₄·σ₁; real data: {}", ctx.data_label()));
    Ok(rep.conclude_all())
}

/// Sweep measure: relative error of nested uniform Nyström at k landmarks on the key×key matrix
/// (`entry` 0 = distance, 1 = median-τ kernel).
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let _ = thm.claimed_f64("max_slope")?;
    let h = p.dataset.generate(p.usize_at_least("n", 1)?, p.usize_or_at_least("d", 32, 1)?, 1, p.seed)?;
    let w = crate::reference::widen;
    let r = Regime { label: p.key.clone(), q: w(&h.q), k: w(&h.k), v: w(&h.v), d: h.d, dv: h.dv };
    let e = if p.usize_or("entry", 0)? == 1 {
        Entry::Kernel { tau: nystrom::median_sqdist(&r.k, &r.k, r.d) }
    } else {
        Entry::Dist
    };
    let k = p.usize_at_least("k", 1)?.min(h.n);
    let (cv, _) = curve(&r, e, &[k], p.seed)?;
    let rel = cv.first().map(|c| c.2).unwrap_or(f64::NAN);
    Ok(crate::sweep::run::metrics([("rel_error", rel), ("k", k as f64), ("n", h.n as f64)]))
}
