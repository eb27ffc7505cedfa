//! Check of `prefix.subquadratic` (an open question of note 001): where real attention sits with
//! respect to Alman–Song's bounded-entry threshold B = Θ(√ln n). In AS23's normalisation the scores
//! are Q·K/d with entries of Q, K in [−B, B]; our scores are q·k (q pre-scaled), so the smallest B
//! with q·k = Q·K/d is B = √(d·max|q_i|·max|k_j|) (balancing Q = c√d·q, K = √d·k/c). The solver slope
//! of issue [D] is not measured yet (no solver): the sweep measures B on every dataset and is ready for
//! the solver's cost metric.
use super::Ctx;
use crate::Result;
use crate::registry::Theorem;
use crate::verdict::{Finding, Report, Verdict};

/// (B in AS normalisation, max |q·k| over causal pairs).
pub fn as_bound(q: &[f32], k: &[f32], n: usize, d: usize) -> (f64, f64) {
    let mq = q.iter().fold(0.0f64, |m, x| m.max((*x as f64).abs()));
    let mk = k.iter().fold(0.0f64, |m, x| m.max((*x as f64).abs()));
    let mut smax = 0.0f64;
    for i in 0..n {
        for j in 0..=i {
            let s: f64 =
                q[i * d..(i + 1) * d].iter().zip(&k[j * d..(j + 1) * d]).map(|(a, b)| *a as f64 * *b as f64).sum();
            smax = smax.max(s.abs());
        }
    }
    ((d as f64 * mq * mk).sqrt(), smax)
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let c_thr = thm.claimed_f64("threshold_const")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut rows = Vec::new();
    let mut worst: Option<Finding> = None;
    for h in ctx.real_heads()? {
        let (b, smax) = as_bound(&h.q, &h.k, h.n, h.d);
        let thr = c_thr * (h.n as f64).ln().sqrt();
        rows.push(format!("{}: B = {b:.1} ({:.1}·√ln n), max|q·k| = {smax:.1}", h.label, b / (h.n as f64).ln().sqrt()));
        let f = Finding::upper(
            "B / (threshold_const·√ln n) on real heads (≤ 1 would be the fast regime)",
            h.label.clone(),
            b / thr,
            1.0,
            1,
        );
        if worst.as_ref().is_none_or(|w| f.value < w.value) {
            worst = Some(f);
        }
    }
    rep.notes.push(format!("real heads ({}): {}", ctx.data_label(), rows.join("; ")));
    rep.notes.push(
        "answer (Alman–Song 2023, arXiv 2302.13214): with d = O(log n), entries bounded by B = o(√log n) admit an n^{1+o(1)} algorithm with 1/poly(n) error; for B = Θ(√log n) no n^{2−Ω(1)} algorithm exists under SETH (the causal/masked case inherits both: Liang et al. 2024, App. I). Every real head measured sits far above the threshold scale (the smallest ratio is the headline finding), so the bounded-entry algorithm does not apply to them; whether real attention admits O(n^{2−ε}d) by other structure is open — the solver of issue [D] will measure it (its cost slope is not yet measured).".into(),
    );
    rep.findings = worst.into_iter().collect();
    rep.verdict = Verdict::Open;
    rep.regime = Some("bounded entries B = o(√ln n): n^{1+o(1)} (AS23); real MiniLM heads have B ≫ √ln n".into());
    Ok(rep)
}

/// Sweep measure: B (AS normalisation), B/√ln n and max |q·k| of the point's dataset at n, d.
pub fn measure(p: &crate::sweep::Point, _thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let h = p.dataset.generate(p.usize_or_at_least("n", 256, 1)?, p.usize_or_at_least("d", 32, 1)?, 1, p.seed)?;
    let (b, smax) = as_bound(&h.q, &h.k, h.n, h.d);
    Ok(crate::sweep::run::metrics([
        ("B", b),
        ("B_over_sqrt_ln_n", b / (h.n as f64).ln().sqrt()),
        ("max_abs_score", smax),
        ("n", h.n as f64),
    ]))
}
