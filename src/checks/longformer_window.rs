//! Check of `longformer.window` (theorem file `theorems/longformer.window.yaml`).
//!
//! For each row, S = window ∪ global keys, M = exact softmax mass on S, o_S = softmax restricted to
//! S (the Longformer output), o_out = softmax over the complement. Identity:
//! o − o_S = (1 − M)^e (o_out − o_S) with e = `mass_exponent` = 1, checked entry by entry against
//! the rounding of the three f64 row computations; the pair count against n(c·w + 1) + 2gn with
//! c = `window_pairs_factor` = 2; the mass captured and the output error measured on real heads.
use super::Ctx;
use crate::Result;
use crate::methods::grad::softmax;
use crate::methods::keyset::KeySet;
use crate::methods::{AttentionMethod, Request};
use crate::reference::{Head, Mask};
use crate::registry::Theorem;
use crate::theory::fp::{U64, gamma};
use crate::verdict::{Report, Worst};

fn avg(h: &Head<'_, f32>, i: usize, keys: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let s: Vec<f64> = keys.iter().map(|&j| crate::methods::dot(h.q_row(i), h.k_row(j))).collect();
    let p = softmax(&s);
    let mut o = vec![0.0; h.dv];
    for (t, &j) in keys.iter().enumerate() {
        for c in 0..h.dv {
            o[c] += p[t] * h.v_row(j)[c] as f64;
        }
    }
    (o, s)
}

/// Push the identity residual of every entry into `w`; returns (mean mass captured, max |o − o_S|).
pub fn identity(
    h: &Head<'_, f32>,
    mask: Mask,
    method: &KeySet,
    exponent: f64,
    w: &mut Worst,
    label: &str,
) -> Result<(f64, f64)> {
    let sets = method.sets(h, mask, 0)?;
    let (mut mass_sum, mut rows, mut worst_err) = (0.0, 0.0, 0.0f64);
    for i in mask.rows(h.nq) {
        let all: Vec<usize> = mask.keys(i, h.nk).collect();
        let inside = &sets[i];
        let outside: Vec<usize> = all.iter().cloned().filter(|j| inside.binary_search(j).is_err()).collect();
        let (o, s_all) = avg(h, i, &all);
        let p_all = softmax(&s_all);
        let mass: f64 = all.iter().zip(&p_all).filter(|(j, _)| inside.binary_search(j).is_ok()).map(|(_, p)| p).sum();
        mass_sum += mass;
        rows += 1.0;
        let (o_s, _) = avg(h, i, inside);
        let o_out = if outside.is_empty() { o_s.clone() } else { avg(h, i, &outside).0 };
        let a = s_all.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let vmax = (0..all.len() * h.dv).map(|t| (h.v[all[0] * h.dv + t] as f64).abs()).fold(0.0, f64::max);
        // Each f64 row: |error| ≤ row_bound with spread ≤ 2 max|v| and |o| ≤ max|v|; M: γ_{n+2} relative.
        let rb = crate::methods::check::row_bound(U64, h.d, all.len(), a, 2.0 * vmax, vmax);
        for c in 0..h.dv {
            let lhs = o[c] - o_s[c];
            let rhs = (1.0 - mass).max(0.0).powf(exponent) * (o_out[c] - o_s[c]);
            worst_err = worst_err.max(lhs.abs());
            let tol = 4.0 * rb + 2.0 * gamma(all.len() + 2, U64) * (o_out[c] - o_s[c]).abs();
            w.push((lhs - rhs).abs(), tol, || format!("{label} row {i} col {c} (mass {mass:.4})"));
        }
    }
    Ok((mass_sum / rows, worst_err))
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let e = thm.claimed_f64("mass_exponent")?;
    let c = thm.claimed_f64("window_pairs_factor")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut w = Worst::new("|(o − o_S) − (1 − M)^e (o_out − o_S)| vs rounding (4 row bounds + γ_{n+2})");
    let mut pairs = Worst::new("Σ_i |S(i)| vs n(c·w + 1) + 2gn");
    let mut rng = crate::rng::stream(ctx.seed, 81);
    for (n, half, g, scale) in [(64, 4, 0, 2.0), (128, 8, 2, 4.0), (256, 16, 1, 8.0)] {
        let s = crate::data::synthetic::gaussian(&mut rng, n, 16, 8, scale);
        let h = Head::new(&s.q, &s.k, &s.v, n, 16, 8)?;
        for mask in [Mask::Full, Mask::Causal] {
            let m = KeySet::Longformer { half_window: half, global: g };
            identity(&h, mask, &m, e, &mut w, &format!("gaussian n={n} w=±{half} g={g} {mask:?}"))?;
        }
    }
    let heads = ctx.real_heads()?;
    let mut notes = Vec::new();
    for h in heads.iter().take(if ctx.quick { 2 } else { heads.len() }) {
        let hv = Head::new(&h.q, &h.k, &h.v, h.n, h.d, h.dv())?;
        // Both masks: MiniLM is bidirectional (full), SmolLM2 is a causal LM (causal).
        for mask in [Mask::Full, Mask::Causal] {
            for (half, g) in [(16, 0), (32, 2), (128, 2)] {
                let m = KeySet::Longformer { half_window: half, global: g };
                let (mass, err) = identity(&hv, mask, &m, e, &mut w, &format!("{} w=±{half} g={g} {mask:?}", h.label))?;
                let o = m.forward(&hv, &Request::new(mask, 0))?;
                let bound = h.n as f64 * (c * half as f64 + 1.0) + 2.0 * g as f64 * h.n as f64;
                let got = o.cost.flops / (2.0 * h.d as f64 + 2.0 + 2.0 * h.dv() as f64);
                pairs.push(got, bound, || format!("{} w=±{half} g={g} {mask:?}: {got} pairs", h.label));
                notes.push(format!(
                    "{} {mask:?} w=±{half} g={g}: mass captured {mass:.3}, max |o − o_S| {err:.3e}",
                    h.label
                ));
            }
        }
    }
    rep.notes.push(format!(
        "real heads (mean mass captured over rows): {}; real data: {}",
        notes.join("; "),
        ctx.data_label()
    ));
    rep.findings = vec![w.finish(), pairs.finish()];
    Ok(rep.conclude_all())
}

/// Sweep measure: mean mass captured, identity residual ratio and output error for a window of
/// half-width `w` (no global tokens) on the point's head of n tokens.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let e = thm.claimed_f64("mass_exponent")?;
    let (n, d, half) = (p.usize_at_least("n", 1)?, p.usize_at_least("d", 1)?, p.usize("w")?);
    let s = p.dataset.generate(n, d, d, p.seed)?;
    let h = s.head()?;
    let mut w = Worst::new("identity");
    let (mass, err) = identity(&h, Mask::Full, &KeySet::Longformer { half_window: half, global: 0 }, e, &mut w, "")?;
    Ok(crate::sweep::run::metrics([
        ("identity_ratio", w.finish().ratio()),
        ("mass_captured", mass),
        ("mass_outside", 1.0 - mass),
        ("max_abs_err", err),
        ("w", half as f64),
    ]))
}
