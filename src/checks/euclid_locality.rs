//! Check of `euclid.locality` (theorem file `theorems/euclid.locality.yaml`).
//!
//! On every real head, full (bidirectional) attention weights of dot attention softmax(q·k) and of
//! Euclidean attention softmax(−‖q−k‖²/τ) (τ = 2, the same q·k coefficient) are computed in float64 and
//! compared: mean row entropy, mean |i−j| under the weights, mass within |i−j| ≤ 8, and sparsity (keys
//! needed for 90 % of a row's mass). The claim "Euclidean attention is more local" is held as
//! mean|i−j|(Euclidean)/mean|i−j|(dot) ≤ max_locality_ratio on every head.
use super::Ctx;
use crate::Result;
use crate::registry::Theorem;
use crate::verdict::{Report, Worst};

/// Locality statistics of one attention pattern.
#[derive(Debug, Clone, Copy, Default)]
pub struct Locality {
    /// Mean over rows of the row entropy (nats).
    pub entropy: f64,
    /// Mean over rows of Σ_j w_ij |i − j|.
    pub mean_dist: f64,
    /// Mean over rows of Σ_{|i−j| ≤ 8} w_ij.
    pub near_mass: f64,
    /// Mean over rows of (number of largest weights needed to reach 90 % of the mass) / n.
    pub frac90: f64,
}

/// Statistics of softmax rows of logits `l(i, j)` over n queries × n keys (positions = indices).
pub fn locality(n: usize, logit: impl Fn(usize, usize) -> f64) -> Locality {
    let mut s = Locality::default();
    let mut w = vec![0.0; n];
    for i in 0..n {
        let mut m = f64::NEG_INFINITY;
        for j in 0..n {
            w[j] = logit(i, j);
            m = m.max(w[j]);
        }
        let mut z = 0.0;
        for x in w.iter_mut() {
            *x = (*x - m).exp();
            z += *x;
        }
        let (mut h, mut md, mut near) = (0.0, 0.0, 0.0);
        for (j, x) in w.iter_mut().enumerate() {
            *x /= z;
            if *x > 0.0 {
                h -= *x * x.ln();
            }
            let dist = i.abs_diff(j);
            md += *x * dist as f64;
            if dist <= 8 {
                near += *x;
            }
        }
        let mut sorted = w.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let (mut acc, mut cnt) = (0.0, 0usize);
        for x in sorted {
            acc += x;
            cnt += 1;
            if acc >= 0.9 {
                break;
            }
        }
        s.entropy += h / n as f64;
        s.mean_dist += md / n as f64;
        s.near_mass += near / n as f64;
        s.frac90 += cnt as f64 / (n * n) as f64;
    }
    s
}

/// (dot, Euclidean) statistics of a head (f64 rows).
pub fn compare(q: &[f64], k: &[f64], d: usize, tau: f64) -> (Locality, Locality) {
    let n = q.len() / d;
    let dot =
        |i: usize, j: usize| q[i * d..(i + 1) * d].iter().zip(&k[j * d..(j + 1) * d]).map(|(a, b)| a * b).sum::<f64>();
    let euc = |i: usize, j: usize| {
        -q[i * d..(i + 1) * d].iter().zip(&k[j * d..(j + 1) * d]).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / tau
    };
    (locality(n, dot), locality(n, euc))
}

/// τ of the Euclidean attention: 2 keeps the q·k coefficient of the (pre-scaled) dot attention.
pub const TAU: f64 = 2.0;

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let bound = thm.claimed_f64("max_locality_ratio")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut w =
        Worst::new(format!("mean |i−j| Euclidean (τ = {TAU}) / mean |i−j| dot vs max_locality_ratio (real heads)"));
    let heads = ctx.real_heads()?;
    let (mut more, mut less) = (0, 0);
    for h in heads {
        let (q, k, _) = h.widen();
        let t = if ctx.quick { 256.min(h.n) } else { h.n };
        let (q, k) = (&q[..t * h.d], &k[..t * h.d]);
        let (dl, el) = compare(q, k, h.d, TAU);
        let r = el.mean_dist / dl.mean_dist;
        if r < 1.0 {
            more += 1
        } else {
            less += 1
        }
        w.push(r, bound, || format!("{} ({t} tokens)", h.label));
        let taus: Vec<String> = [0.5, 1.0, 4.0, 8.0]
            .iter()
            .map(|&tau| {
                let (_, e) = compare(q, k, h.d, tau);
                format!("τ={tau}: {:.3}", e.mean_dist / dl.mean_dist)
            })
            .collect();
        rep.notes.push(format!(
            "{} ({t} tokens): dot entropy {:.2}, mean|i−j| {:.1}, mass within 8 {:.3}, 90%-mass keys {:.3}·n | Euclidean τ=2: entropy {:.2}, mean|i−j| {:.1}, mass within 8 {:.3}, 90%-mass keys {:.3}·n | ratio of mean|i−j| at other τ: {}",
            h.label, dl.entropy, dl.mean_dist, dl.near_mass, dl.frac90, el.entropy, el.mean_dist, el.near_mass, el.frac90, taus.join(", ")
        ));
    }
    // Control: i.i.d. Gaussian tokens have no positional structure; both patterns give ≈ n/3.
    let g = crate::data::synthetic::gaussian(&mut crate::rng::stream(ctx.seed, 46), 256, 32, 1, 1.0);
    let (dl, el) = compare(&crate::reference::widen(&g.q), &crate::reference::widen(&g.k), 32, TAU);
    rep.notes.insert(0, format!(
        "Euclidean more local than dot on {more} of {} real heads, less local on {less}; control (i.i.d. Gaussian, n = 256, n/3 = 85.3): mean|i−j| dot {:.1}, Euclidean {:.1} — neither form sees positions; any locality comes from the q/k content; real data: {}",
        more + less,
        dl.mean_dist,
        el.mean_dist,
        ctx.data_label()
    ));
    rep.findings = vec![w.finish()];
    Ok(rep.conclude_all())
}

/// Sweep measure: locality ratio and entropies on the dataset's head at temperature `tau`.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let bound = thm.claimed_f64("max_locality_ratio")?;
    let tau = p.f64_or("tau", TAU)?;
    if !(tau > 0.0) {
        return Err(crate::Error::invalid(format!("point {}", p.key), format!("τ = {tau} must be > 0")));
    }
    let h = p.dataset.generate(p.usize_at_least("n", 1)?, p.usize_or_at_least("d", 32, 1)?, 1, p.seed)?;
    let (dl, el) = compare(&crate::reference::widen(&h.q), &crate::reference::widen(&h.k), h.d, tau);
    let r = el.mean_dist / dl.mean_dist;
    Ok(crate::sweep::run::metrics([
        ("locality_ratio", r),
        ("ratio", r / bound),
        ("mean_dist_dot", dl.mean_dist),
        ("mean_dist_euclid", el.mean_dist),
        ("entropy_dot", dl.entropy),
        ("entropy_euclid", el.entropy),
        ("near_mass_dot", dl.near_mass),
        ("near_mass_euclid", el.near_mass),
        ("n", h.n as f64),
    ]))
}
