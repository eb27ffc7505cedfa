//! Check of `dist.rank`: exact factors of width d + rank_excess reproduce the squared-distance
//! matrix to rounding, and the numerical rank of real and synthetic squared-distance matrices never
//! exceeds d + rank_excess.
use super::Ctx;
use crate::Result;
use crate::data::synthetic;
use crate::registry::Theorem;
use crate::theory::dist::{direct_bound, expanded_bound, rank_factors};
use crate::theory::fp::U64;
use crate::verdict::{Report, Worst};
use nalgebra::DMatrix;

/// Numerical rank: singular values above σ₁·max(n, m)·ε₆₄.
pub fn numerical_rank(m: &DMatrix<f64>) -> usize {
    let sv = m.singular_values();
    let s1 = sv.iter().cloned().fold(0.0, f64::max);
    let tol = s1 * m.nrows().max(m.ncols()) as f64 * f64::EPSILON;
    sv.iter().filter(|&&s| s > tol).count()
}

/// D_ij = ‖q_i − k_j‖² in f64 (direct form).
fn sqdist_matrix(q: &[f64], k: &[f64], d: usize) -> DMatrix<f64> {
    let (n, m) = (q.len() / d, k.len() / d);
    DMatrix::from_fn(n, m, |i, j| crate::theory::dist::sqdist_direct(&q[i * d..(i + 1) * d], &k[j * d..(j + 1) * d]))
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let excess = thm.claimed_f64("rank_excess")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut factor = Worst::new("|(A Bᵀ)_ij − D_ij| vs rounding bound");
    let mut rank = Worst::new("numerical rank − d vs rank_excess");
    let mut cases: Vec<(String, Vec<f64>, Vec<f64>, usize)> = Vec::new();
    let mut rng = crate::rng::stream(ctx.seed, 2);
    for (t, &(n, m, d)) in
        [(40, 30, 1), (60, 50, 2), (80, 90, 5), (120, 100, 16), (200, 150, 32), (300, 300, 64)].iter().enumerate()
    {
        let s = synthetic::gaussian(&mut rng, n.max(m), d, 1, 3.0);
        let q: Vec<f64> = s.q[..n * d].iter().map(|&x| x as f64).collect();
        let k: Vec<f64> = s.k[..m * d].iter().map(|&x| x as f64).collect();
        cases.push((format!("gaussian n={n} m={m} d={d} (case {t})"), q, k, d));
    }
    let heads = ctx.real_heads()?;
    let take = if ctx.quick { 2 } else { heads.len() };
    for h in heads.iter().take(take) {
        let (q, k, _) = h.widen();
        let n = if ctx.quick { 256 } else { h.n };
        cases.push((format!("{} (first {n} tokens)", h.label), q[..n * h.d].to_vec(), k[..n * h.d].to_vec(), h.d));
    }
    let mut exact_rank_cases = 0;
    for (label, q, k, d) in &cases {
        let d = *d;
        let (a, b) = rank_factors(q, k, d);
        let w = d + 2;
        let (n, m) = (q.len() / d, k.len() / d);
        for i in 0..n {
            let qi = &q[i * d..(i + 1) * d];
            let qq: f64 = qi.iter().map(|x| x * x).sum();
            for j in 0..m {
                let kj = &k[j * d..(j + 1) * d];
                let kk: f64 = kj.iter().map(|x| x * x).sum();
                let aqk: f64 = qi.iter().zip(kj).map(|(x, y)| (x * y).abs()).sum();
                let prod: f64 = a[i * w..(i + 1) * w].iter().zip(&b[j * w..(j + 1) * w]).map(|(x, y)| x * y).sum();
                let dd = crate::theory::dist::sqdist_direct(qi, kj);
                let bound = expanded_bound(d, U64, qq, kk, aqk) + direct_bound(d, U64, dd);
                factor.push((prod - dd).abs(), bound, || format!("{label}, entry ({i},{j})"));
            }
        }
        let r = numerical_rank(&sqdist_matrix(q, k, d));
        if r == (d + 2).min(n).min(m) {
            exact_rank_cases += 1;
        }
        rank.push(r as f64 - d as f64, excess, || format!("{label}: rank {r}, d = {d}"));
    }
    rep.notes.push(format!(
        "numerical rank equals min(d+2, n, m) in {exact_rank_cases} of {} cases (generic points attain the bound)",
        cases.len()
    ));
    // The plain (unsquared) distance matrix is not low rank: report its rank on the first real case.
    if let Some((label, q, k, d)) = cases.last() {
        let dm = sqdist_matrix(q, k, *d).map(f64::sqrt);
        rep.notes
            .push(format!("plain distance ‖q−k‖ on {label}: numerical rank {} (not low rank)", numerical_rank(&dm)));
    }
    rep.findings = vec![rank.finish(), factor.finish()];
    Ok(rep.conclude_all())
}

/// Sweep measure: numerical rank of the n×n squared-distance matrix of the point's dataset, against
/// d + rank_excess.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let excess = thm.claimed_f64("rank_excess")?;
    let h = p.dataset.generate(p.usize_or_at_least("n", 64, 1)?, p.usize_at_least("d", 1)?, 1, p.seed)?;
    let (q, k) = (crate::reference::widen(&h.q), crate::reference::widen(&h.k));
    let r = numerical_rank(&sqdist_matrix(&q, &k, h.d)) as f64;
    let excess_measured = r - h.d as f64;
    Ok(crate::sweep::run::metrics([
        ("rank", r),
        ("rank_minus_d", excess_measured),
        (
            "ratio",
            if excess > 0.0 {
                excess_measured / excess
            } else if excess_measured <= excess {
                0.0
            } else {
                f64::INFINITY
            },
        ),
        ("n", h.n as f64),
        ("d", h.d as f64),
    ]))
}
