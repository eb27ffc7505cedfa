//! Check of `reference.f32_rounding`: the fast f32 kernel against the float64 reference, every
//! element within the a-priori bound of [`crate::theory::rounding`], on random heads (all masks,
//! shapes that straddle the tiles, large key norms) and the real heads; its exp accuracy against the
//! claimed `exp_rel_err`; bit-identical results for 1 and 2 threads.
use super::Ctx;
use crate::Result;
use crate::data::synthetic;
use crate::reference::fast_f32::{EXP_FLUSH, Tiling, attention_f32_tiled, attention_f32_with_threads, exp_neg};
use crate::reference::{Head, Mask, attention_f64, widen};
use crate::registry::Theorem;
use crate::theory::fp::U32;
use crate::theory::rounding::{Spread, head_bounds};
use crate::verdict::{Finding, Report, Worst};

/// Worst error/bound over every element of one head and mask (bound includes the f64 reference's
/// own error, ≤ 1e-12 relative here: see theory::softmax::reference_f64_row_bound).
fn one_head(w: &mut Worst, h: &Head<'_, f32>, mask: Mask, label: &str) -> Result<f64> {
    let tiling = Tiling::default();
    let got = attention_f32_tiled(h, mask, tiling);
    let (q, k, v) = (widen(h.q), widen(h.k), widen(h.v));
    let want = attention_f64(&Head::new(&q, &k, &v, h.nq, h.d, h.dv)?, mask).out;
    let bounds = head_bounds(h, mask, tiling, Spread::Range);
    let vmax = h.v.iter().fold(0.0f64, |m, x| m.max((*x as f64).abs()));
    let ref_err = 64.0 * f64::EPSILON * (1.0 + vmax) * (h.d as f64 + h.nk as f64);
    let mut worst_rel_vmax: f64 = 0.0;
    for (idx, ((g, o), b)) in got.iter().zip(&want).zip(&bounds).enumerate() {
        let err = (*g as f64 - o).abs();
        w.push(err, b + ref_err, || format!("{label} {mask:?} row {} col {}", idx / h.dv, idx % h.dv));
        worst_rel_vmax = worst_rel_vmax.max(b / vmax.max(f64::MIN_POSITIVE));
    }
    Ok(worst_rel_vmax)
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let claimed_exp = thm.claimed_f64("exp_rel_err")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut w = Worst::new("|fast f32 − f64 reference| vs a-priori rounding bound");
    // exp accuracy on a dense sample of [EXP_FLUSH, 0] plus the boundary values.
    let mut expw = Worst::new("|exp_neg(x) − eˣ| / eˣ vs exp_rel_err·u");
    let samples = if ctx.quick { 200_000 } else { 20_000_000 };
    let lo = EXP_FLUSH as f64;
    for i in 0..=samples {
        let x = (lo * i as f64 / samples as f64) as f32;
        let e = (x as f64).exp();
        expw.push((exp_neg(x) as f64 - e).abs() / e, claimed_exp * U32, || format!("x = {x:e}"));
    }
    for x in [0.0f32, -0.0, -f32::MIN_POSITIVE, EXP_FLUSH, f32::from_bits(EXP_FLUSH.to_bits() - 1), -1e-30, -0.5, -1.0]
    {
        let e = (x as f64).exp();
        expw.push((exp_neg(x) as f64 - e).abs() / e, claimed_exp * U32, || format!("x = {x:e}"));
    }
    let mut rng = crate::rng::stream(ctx.seed, 21);
    let masks = [Mask::Causal, Mask::Full, Mask::StrictPrefix];
    let mut worst_rel = 0.0f64;
    let mut thread_mismatch = 0u64;
    for t in 0..ctx.trials(120) {
        let n = [1, 2, 63, 64, 65, 255, 257, 600][t % 8];
        let d = [1, 8, 32, 64][(t / 8) % 4];
        let dv = [1, 16, 64][t % 3];
        let scale = synthetic::log_uniform(&mut rng, 0.1, 30.0);
        let s = synthetic::gaussian(&mut rng, n, d, dv, scale);
        let h = Head::new(&s.q, &s.k, &s.v, n, d, dv)?;
        let mask = masks[t % 3];
        worst_rel =
            worst_rel.max(one_head(&mut w, &h, mask, &format!("gaussian n={n} d={d} dv={dv} scale={scale:.2}"))?);
        if t % 10 == 0 {
            let a = attention_f32_with_threads(&h, mask, 1);
            let b = attention_f32_with_threads(&h, mask, 2);
            thread_mismatch += a.iter().zip(&b).filter(|(x, y)| x.to_bits() != y.to_bits()).count() as u64;
        }
    }
    let mut real_rel = 0.0f64;
    for h in ctx.real_heads()? {
        let head = Head::new(&h.q, &h.k, &h.v, h.n, h.d, h.dv())?;
        for mask in [Mask::Causal, Mask::Full] {
            real_rel = real_rel.max(one_head(&mut w, &head, mask, &h.label)?);
        }
        let a = attention_f32_with_threads(&head, Mask::Causal, 1);
        let b = attention_f32_with_threads(&head, Mask::Causal, 2);
        thread_mismatch += a.iter().zip(&b).filter(|(x, y)| x.to_bits() != y.to_bits()).count() as u64;
    }
    rep.notes.push(format!(
        "the bound is informative: at most {worst_rel:.2e}·max|v| on the random heads and {real_rel:.2e}·max|v| on the real heads ({})",
        ctx.data_label()
    ));
    rep.notes.push(format!("{}{}", crate::docs::CPU_DISPATCH_NOTE, crate::reference::fast_f32::cpu_features()));
    rep.findings = vec![
        w.finish(),
        expw.finish(),
        Finding::upper(
            "elements differing between 1 and 2 threads",
            "random and real heads",
            thread_mismatch as f64,
            0.0,
            1,
        ),
    ];
    Ok(rep.conclude_all())
}
