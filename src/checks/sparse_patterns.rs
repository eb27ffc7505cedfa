//! Check of `sparse.patterns` (theorem file `theorems/sparse.patterns.yaml`).
//!
//! (a) sparsemax satisfies the KKT conditions of the Euclidean projection onto the simplex, to the
//! rounding of τ; (b) exact zeros: every key with s_j ≤ max s − `zero_gap` (= 1) gets weight
//! exactly 0; (c) strided and fixed patterns: the identity o − o_S = (1 − M)(o_out − o_S) (as in
//! `longformer.window`) and the mass captured on real heads.
use super::Ctx;
use crate::Result;
use crate::methods::keyset::KeySet;
use crate::methods::sparsemax::{sparsemax, threshold};
use crate::reference::{Head, Mask};
use crate::registry::Theorem;
use crate::theory::fp::{U64, gamma};
use crate::verdict::{Finding, Report, Worst};
use rand_distr::{Distribution, StandardNormal};

/// KKT residual of p = sparsemax(s) relative to its rounding tolerance (≤ 1 means satisfied), and
/// the number of keys with s_j ≤ max s − gap but p_j > 0.
pub fn kkt(s: &[f64], gap: f64) -> (f64, u64) {
    let p = sparsemax(s);
    let tau = threshold(s, &p);
    let supp: Vec<usize> = (0..s.len()).filter(|&j| p[j] > 0.0).collect();
    let k = supp.len().max(1);
    let abs_sum: f64 = supp.iter().map(|&j| s[j].abs()).sum();
    // τ = (Σ_T s − 1)/k: γ_{k+2}(Σ_T|s| + 1)/k; p_j = s_j − τ: u(|s_j| + |τ|) more.
    let t_tau = gamma(k + 2, U64) * (abs_sum + 1.0) / k as f64;
    let mut worst = 0.0f64;
    let sum: f64 = p.iter().sum();
    worst = worst.max((sum - 1.0).abs() / (gamma(s.len() + 1, U64) + k as f64 * t_tau + gamma(s.len(), U64) * abs_sum));
    let smax = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut zeros_violated = 0;
    for j in 0..s.len() {
        let tol = 2.0 * t_tau + 2.0 * U64 * (s[j].abs() + tau.abs());
        if p[j] < 0.0 {
            worst = f64::INFINITY;
        } else if p[j] > 0.0 {
            worst = worst.max((s[j] - p[j] - tau).abs() / tol);
        } else {
            worst = worst.max((s[j] - tau).max(0.0) / tol);
        }
        if s[j] <= smax - gap && p[j] > 0.0 {
            zeros_violated += 1;
        }
    }
    (worst, zeros_violated)
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let gap = thm.claimed_f64("zero_gap")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut kk = Worst::new("sparsemax KKT residual / rounding tolerance (≤ 1)");
    // (A bound of 0 makes value/bound ratios 0/0, so violations are counted, not ranked.)
    let mut zeros = (0u64, 0u64, String::from("none"));
    let mut rng = crate::rng::stream(ctx.seed, 91);
    let push = |s: &[f64], label: &dyn Fn() -> String, kk: &mut Worst, zeros: &mut (u64, u64, String)| {
        let (r, z) = kkt(s, gap);
        kk.push(r, 1.0, label);
        zeros.1 += 1;
        if z > 0 && zeros.0 == 0 {
            zeros.2 = label();
        }
        zeros.0 += z;
    };
    for t in 0..ctx.trials(5000) {
        let n = [1, 2, 5, 17, 64, 300][t % 6];
        let scale = crate::data::synthetic::log_uniform(&mut rng, 1e-3, 1e3);
        let s: Vec<f64> = (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                scale * z
            })
            .collect();
        push(&s, &|| format!("gaussian n={n} scale={scale:.3e} trial {t}"), &mut kk, &mut zeros);
    }
    // Tightness family: s = (0, −g, −5, …) keeps key 2 in the support for every g < 1, so any
    // zero_gap < 1 is refuted here.
    for t in 1..20 {
        let g = t as f64 / 20.0;
        let s = [0.0, -g, -5.0, -7.0];
        push(&s, &|| format!("tightness s = (0, −{g}, −5, −7)"), &mut kk, &mut zeros);
    }
    let heads = ctx.real_heads()?;
    let (mut rows_with_zero, mut rows, mut supp_total) = (0u64, 0u64, 0.0);
    let mut mass_notes = Vec::new();
    let mut ident = Worst::new("strided/fixed: |(o − o_S) − (1 − M)(o_out − o_S)| vs rounding");
    for h in heads {
        let hv = Head::new(&h.q, &h.k, &h.v, h.n, h.d, h.dv())?;
        for i in (0..h.n).step_by(if ctx.quick { 4 } else { 1 }) {
            let s: Vec<f64> = (0..h.n).map(|j| crate::methods::dot(hv.q_row(i), hv.k_row(j))).collect();
            push(&s, &|| format!("{} row {i}", h.label), &mut kk, &mut zeros);
            let p = sparsemax(&s);
            let nz = p.iter().filter(|&&x| x > 0.0).count();
            supp_total += nz as f64;
            rows += 1;
            if nz < h.n {
                rows_with_zero += 1;
            }
        }
        if mass_notes.len() < if ctx.quick { 4 } else { 2 * heads.len() } {
            for (m, mask) in [
                (KeySet::Strided { stride: 23 }, Mask::Causal),
                (KeySet::Fixed { block: 64, summary: 8 }, Mask::Causal),
            ] {
                let (mass, err) =
                    super::longformer_window::identity(&hv, mask, &m, 1.0, &mut ident, &format!("{} {m:?}", h.label))?;
                mass_notes.push(format!("{} {m:?}: mass captured {mass:.3}, max |o − o_S| {err:.3e}", h.label));
            }
        }
    }
    rep.notes.push(format!(
        "sparsemax on real heads (full mask): {rows_with_zero} of {rows} rows have exact zeros; mean support {:.1} of {} keys",
        supp_total / rows as f64,
        heads.first().map(|h| h.n).unwrap_or(0)
    ));
    rep.notes.push(format!("patterns (causal): {}; real data: {}", mass_notes.join("; "), ctx.data_label()));
    let zf = Finding::upper(
        "keys with s_j ≤ max s − zero_gap and p_j > 0 (= 0)",
        format!("first: {}", zeros.2),
        zeros.0 as f64,
        0.0,
        zeros.1,
    );
    rep.findings = vec![
        kk.finish(),
        zf,
        ident.finish(),
        Finding::lower(
            "rows of real heads with exact sparsemax zeros",
            "all real rows",
            rows_with_zero as f64,
            1.0,
            rows,
        ),
    ];
    Ok(rep.conclude_all())
}

/// Sweep measure: mass captured by the strided pattern of stride `l` (causal) and the sparsemax
/// support size on the point's head; `kkt_ratio` over all rows.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let gap = thm.claimed_f64("zero_gap")?;
    let (n, d, l) = (p.usize_at_least("n", 1)?, p.usize_at_least("d", 1)?, p.usize("l")?);
    let s = p.dataset.generate(n, d, d, p.seed)?;
    let h = s.head()?;
    let mut w = Worst::new("identity");
    let (mass, _) =
        super::longformer_window::identity(&h, Mask::Causal, &KeySet::Strided { stride: l }, 1.0, &mut w, "")?;
    let (mut worst, mut viol, mut supp) = (0.0f64, 0u64, 0.0);
    for i in 0..h.nq {
        let sc: Vec<f64> = (0..h.nk).map(|j| crate::methods::dot(h.q_row(i), h.k_row(j))).collect();
        let (r, z) = kkt(&sc, gap);
        worst = worst.max(r);
        viol += z;
        supp += sparsemax(&sc).iter().filter(|&&x| x > 0.0).count() as f64;
    }
    Ok(crate::sweep::run::metrics([
        ("kkt_ratio", worst.max(w.finish().ratio())),
        ("zero_violations", viol as f64),
        ("strided_mass", mass),
        ("sparsemax_support", supp / h.nq as f64),
        ("l", l as f64),
    ]))
}
