//! Check of `prefix.problem`: the float64 strict-prefix reference against the note's formula
//! (query offset read from the theorem file), the bitwise equivalence with the inclusive-causal
//! problem shifted by one token, and the prefix-sum structure for a fixed query.
use super::Ctx;
use crate::Result;
use crate::data::synthetic;
use crate::reference::Head;
use crate::reference::f64_exact::{Mask, attention_f64, row_f64, strict_prefix_literal};
use crate::registry::Theorem;
use crate::theory::fp::{U64, gamma};
use crate::theory::softmax::{perturbed_average_bound, reference_f64_row_bound, spread};
use crate::verdict::{Report, Worst};

/// Strict-prefix rows vs causal rows of the problem shifted by one token: count of elements whose
/// bits differ.
fn shifted_mismatches(q: &[f64], k: &[f64], v: &[f64], n: usize, d: usize, dv: usize) -> Result<usize> {
    if n < 2 {
        return Ok(0);
    }
    let h = Head::new(q, k, v, n, d, dv)?;
    let sp = attention_f64(&h, Mask::StrictPrefix).out;
    let hs = Head::new(&q[d..], &k[..(n - 1) * d], &v[..(n - 1) * dv], n - 1, d, dv)?;
    let c = attention_f64(&hs, Mask::Causal).out;
    Ok(sp.iter().zip(&c).filter(|(a, b)| a.to_bits() != b.to_bits()).count() + sp.len().abs_diff(c.len()))
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let offset = thm.claimed_f64("query_offset")?;
    if offset < 0.0 || offset.fract() != 0.0 {
        return Err(crate::Error::Registry(format!(
            "theorems/{}.yaml: claimed.query_offset: expected a non-negative integer, found {offset}",
            thm.id
        )));
    }
    let offset = offset as usize;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut literal = Worst::new("|reference (strict prefix) − note's formula|");
    let mut shifted = Worst::new("elements differing from causal of the shifted problem");
    let mut prefix = Worst::new("|running prefix sums N_α/Z_α − reference| for a fixed query");
    let mut rng = crate::rng::stream(ctx.seed, 5);
    for t in 0..ctx.trials(600) {
        let n = [1, 2, 3, 10, 37, 64][t % 6];
        let d = [1, 4, 16, 32][(t / 6) % 4];
        let dv = [1, 3, 16][t % 3];
        let scale = synthetic::log_uniform(&mut rng, 0.1, 3.0);
        let s = synthetic::gaussian(&mut rng, n, d, dv, scale);
        let (q, k, v) = (crate::reference::widen(&s.q), crate::reference::widen(&s.k), crate::reference::widen(&s.v));
        let h = Head::new(&q, &k, &v, n, d, dv)?;
        let reference = attention_f64(&h, Mask::StrictPrefix).out;
        let lit = strict_prefix_literal(&h, offset);
        let label = || format!("gaussian n={n} d={d} dv={dv} scale={scale:.2}");
        if lit.len() != reference.len() {
            literal.push(f64::INFINITY, 0.0, || format!("{}: {} outputs vs {}", label(), lit.len(), reference.len()));
            continue;
        }
        for a in 1..n {
            let r = (a - 1) * dv;
            let (o, l) = (&reference[r..r + dv], &lit[r..r + dv]);
            let qa = h.q_row(a);
            let amax =
                (0..a).map(|j| qa.iter().zip(h.k_row(j)).map(|(x, y)| (x * y).abs()).sum::<f64>()).fold(0.0, f64::max);
            let sp = spread(&v[..a * dv], dv, o);
            let omax = o.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            // literal: plain dot (γ_d), libm exp (2u), plain sums (γ_{a+1}), division (u)
            let bound = perturbed_average_bound(gamma(d, U64) * amax + 2.0 * U64, sp)
                + (2.0 * gamma(a + 1, U64) + U64) * (omax + sp)
                + reference_f64_row_bound(d, a, amax, sp, omax);
            let diff = o.iter().zip(l).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
            literal.push(diff, bound, || format!("{} α={a}", label()));
        }
        let mm = shifted_mismatches(&q, &k, &v, n, d, dv)?;
        shifted.push(mm as f64, 0.0, || label());
        // Prefix sums for the last query with one global max: N_α = N_{α−1} + e^{s_α−m} v_α.
        if n >= 2 {
            let qf = h.q_row(n - 1);
            let s_all: Vec<f64> = (0..n).map(|j| crate::reference::sum::dot(qf, h.k_row(j))).collect();
            let m = s_all.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let range = m - s_all.iter().cloned().fold(f64::INFINITY, f64::min);
            let (mut z, mut num) = (0.0, vec![0.0; dv]);
            for a in 1..=n {
                let w = (s_all[a - 1] - m).exp();
                z += w;
                for c in 0..dv {
                    num[c] += w * h.v_row(a - 1)[c];
                }
                let mut o = vec![0.0; dv];
                row_f64(qf, &k[..a * d], &v[..a * dv], d, dv, &mut o);
                let sp = spread(&v[..a * dv], dv, &o);
                let omax = o.iter().fold(0.0f64, |mm, x| mm.max(x.abs()));
                let theta = 4.0 * U64 + 2.0 * U64 * range;
                let bound = perturbed_average_bound(theta, sp) + (3.0 * gamma(a + 2, U64) + U64) * (omax + sp);
                let diff = num.iter().zip(&o).map(|(x, y)| (x / z - y).abs()).fold(0.0, f64::max);
                prefix.push(diff, bound, || format!("{} α={a}", label()));
            }
        }
    }
    // Real heads: the shifted equivalence, bit for bit.
    for h in ctx.real_heads()? {
        let (q, k, v) = h.widen();
        let mm = shifted_mismatches(&q, &k, &v, h.n, h.d, h.dv())?;
        shifted.push(mm as f64, 0.0, || h.label.clone());
    }
    rep.notes.push(format!(
        "strict prefix = causal attention of (q_2..n, k_1..n−1, v_1..n−1), bit for bit, on every random head and on {}",
        ctx.data_label()
    ));
    rep.findings = vec![literal.finish(), shifted.finish(), prefix.finish()];
    Ok(rep.conclude_all())
}

/// Sweep measure: strict-prefix reference vs the shifted causal problem (bit mismatches) on a head
/// of n tokens from the point's dataset.
pub fn measure(p: &crate::sweep::Point, _thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let h = p.dataset.generate(
        p.usize_or_at_least("n", 64, 1)?,
        p.usize_at_least("d", 1)?,
        p.usize_or_at_least("dv", 1, 1)?,
        p.seed,
    )?;
    let (q, k, v) = (crate::reference::widen(&h.q), crate::reference::widen(&h.k), crate::reference::widen(&h.v));
    let mm = shifted_mismatches(&q, &k, &v, h.n, h.d, h.dv)?;
    Ok([("mismatches".to_string(), mm as f64), ("rows".to_string(), h.n.saturating_sub(1) as f64)]
        .into_iter()
        .collect())
}
