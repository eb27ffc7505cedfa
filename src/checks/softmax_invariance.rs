//! Check of `softmax.invariance`: attention is unchanged (to the rounding bound of the theorem file)
//! when every key is translated by the same vector, and when q → s·q, k → s^e·k with e read from
//! the theorem file; under the full, causal and strict-prefix masks, on random and real heads.
use super::Ctx;
use crate::Result;
use crate::data::synthetic;
use crate::reference::Head;
use crate::reference::f64_exact::{Mask, attention_f64};
use crate::registry::Theorem;
use crate::theory::fp::{U64, gamma};
use crate::theory::softmax::{perturbed_average_bound, reference_f64_row_bound, spread};
use crate::verdict::{Report, Worst};

/// Compare attention of (q, k, v) and (q2, k2, v) row by row; `theta(i, j)` bounds the log-perturbation
/// of the exact scores introduced by rounding the transformed inputs.
#[allow(clippy::too_many_arguments)]
fn compare(
    w: &mut Worst,
    q: &[f64],
    k: &[f64],
    q2: &[f64],
    k2: &[f64],
    v: &[f64],
    n: usize,
    d: usize,
    dv: usize,
    mask: Mask,
    theta: &dyn Fn(usize, usize) -> f64,
    label: &dyn Fn() -> String,
) -> Result<()> {
    let a = attention_f64(&Head::new(q, k, v, n, d, dv)?, mask).out;
    let b = attention_f64(&Head::new(q2, k2, v, n, d, dv)?, mask).out;
    let absmax = |qq: &[f64], kk: &[f64], i: usize, keys: std::ops::Range<usize>| {
        keys.map(|j| {
            qq[i * d..(i + 1) * d].iter().zip(&kk[j * d..(j + 1) * d]).map(|(x, y)| (x * y).abs()).sum::<f64>()
        })
        .fold(0.0, f64::max)
    };
    for (r, i) in mask.rows(n).enumerate() {
        let keys = mask.keys(i, n);
        let (oa, ob) = (&a[r * dv..(r + 1) * dv], &b[r * dv..(r + 1) * dv]);
        let sp = spread(&v[keys.start * dv..keys.end * dv], dv, oa);
        let omax = oa.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let th = keys.clone().map(|j| theta(i, j)).fold(0.0, f64::max);
        let bound = perturbed_average_bound(th, sp)
            + reference_f64_row_bound(d, keys.len(), absmax(q, k, i, keys.clone()), sp, omax)
            + reference_f64_row_bound(d, keys.len(), absmax(q2, k2, i, keys.clone()), sp, omax);
        let diff = oa.iter().zip(ob).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        w.push(diff, bound, || format!("{} {mask:?} row {i}", label()));
    }
    Ok(())
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let e = thm.claimed_f64("scale_exponent")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut trans = Worst::new("|attention(q, k + c) − attention(q, k)|");
    let mut scale = Worst::new("|attention(s·q, s^e·k) − attention(q, k)|");
    let mut rng = crate::rng::stream(ctx.seed, 6);
    let masks = [Mask::Full, Mask::Causal, Mask::StrictPrefix];
    for t in 0..ctx.trials(600) {
        let n = [1, 2, 5, 16, 40][t % 5];
        let d = [1, 3, 16, 32][(t / 5) % 4];
        let sc = synthetic::log_uniform(&mut rng, 0.1, 10.0);
        let s = synthetic::gaussian(&mut rng, n, d, 2, sc);
        let (q, k, v) = (crate::reference::widen(&s.q), crate::reference::widen(&s.k), crate::reference::widen(&s.v));
        let mask = masks[t % 3];
        // Translation by a random c of norm up to 30.
        let cn = synthetic::log_uniform(&mut rng, 1e-3, 30.0);
        let c: Vec<f64> = synthetic::vector(&mut rng, d, cn / (d as f64).sqrt()).iter().map(|&x| x as f64).collect();
        let k2: Vec<f64> = k.iter().enumerate().map(|(idx, x)| x + c[idx % d]).collect();
        let th_t = |i: usize, j: usize| {
            U64 * q[i * d..(i + 1) * d].iter().zip(&k2[j * d..(j + 1) * d]).map(|(x, y)| (x * y).abs()).sum::<f64>()
        };
        compare(&mut trans, &q, &k, &q, &k2, &v, n, d, 2, mask, &th_t, &|| {
            format!("gaussian n={n} d={d} ‖c‖≈{cn:.2e}")
        })?;
        // Scaling by s ∈ [1e-2, 1e2].
        let sf = synthetic::log_uniform(&mut rng, 1e-2, 1e2);
        let q3: Vec<f64> = q.iter().map(|x| x * sf).collect();
        let k3: Vec<f64> = k.iter().map(|x| x * sf.powf(e)).collect();
        let th_s = |i: usize, j: usize| {
            gamma(2, U64)
                * q[i * d..(i + 1) * d].iter().zip(&k[j * d..(j + 1) * d]).map(|(x, y)| (x * y).abs()).sum::<f64>()
        };
        compare(&mut scale, &q, &k, &q3, &k3, &v, n, d, 2, mask, &th_s, &|| {
            format!("gaussian n={n} d={d} s={sf:.2e}")
        })?;
    }
    // Real heads: translate keys by minus their mean (causal).
    let (mut before, mut after) = (0.0f64, 0.0f64);
    for h in ctx.real_heads()? {
        let (q, k, v) = h.widen();
        let (n, d, dv) = (h.n, h.d, h.dv());
        let n = if ctx.quick { n.min(128) } else { n };
        let (q, k, v) = (&q[..n * d], &k[..n * d], &v[..n * dv]);
        let mean: Vec<f64> = (0..d).map(|c| k.chunks_exact(d).map(|kj| kj[c]).sum::<f64>() / n as f64).collect();
        let k2: Vec<f64> = k.iter().enumerate().map(|(idx, x)| x - mean[idx % d]).collect();
        let norm =
            |kk: &[f64]| kk.chunks_exact(d).map(|kj| kj.iter().map(|x| x * x).sum::<f64>().sqrt()).fold(0.0, f64::max);
        before = before.max(norm(k));
        after = after.max(norm(&k2));
        let th = |i: usize, j: usize| {
            U64 * q[i * d..(i + 1) * d].iter().zip(&k2[j * d..(j + 1) * d]).map(|(x, y)| (x * y).abs()).sum::<f64>()
        };
        compare(&mut trans, q, k, q, &k2, v, n, d, dv, Mask::Causal, &th, &|| format!("{} keys − mean", h.label))?;
    }
    rep.notes.push(format!(
        "centring the real keys (translation by −mean, attention unchanged) lowers the largest key norm from {before:.2} to {after:.2} on {}; exp(‖k‖²/2) overflows f32 above {:.2}",
        ctx.data_label(),
        crate::theory::gaussian::overflow_norm_f32()
    ));
    rep.findings = vec![trans.finish(), scale.finish()];
    Ok(rep.conclude_all())
}

/// Sweep measure: causal attention of a head from the point's dataset against the same head with
/// keys translated by a random c of norm `c` (ratio to the bound).
pub fn measure(p: &crate::sweep::Point, _thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let h = p.dataset.generate(p.usize_or_at_least("n", 64, 1)?, p.usize_at_least("d", 1)?, 1, p.seed)?;
    let (n, d) = (h.n, h.d);
    let (q, k, v) = (crate::reference::widen(&h.q), crate::reference::widen(&h.k), crate::reference::widen(&h.v));
    let mut rng = crate::rng::stream(p.seed, 99);
    let cn = p.f64("c")?;
    let c: Vec<f64> = synthetic::vector(&mut rng, d, cn / (d as f64).sqrt()).iter().map(|&x| x as f64).collect();
    let k2: Vec<f64> = k.iter().enumerate().map(|(idx, x)| x + c[idx % d]).collect();
    let th = |i: usize, j: usize| {
        U64 * q[i * d..(i + 1) * d].iter().zip(&k2[j * d..(j + 1) * d]).map(|(x, y)| (x * y).abs()).sum::<f64>()
    };
    let mut w = Worst::new("t");
    compare(&mut w, &q, &k, &q, &k2, &v, n, d, h.dv, Mask::Causal, &th, &String::new)?;
    let f = w.finish();
    Ok([("max_ratio".to_string(), f.ratio()), ("rows".to_string(), n as f64)].into_iter().collect())
}
