//! Check of `topk.error` (theorem file `theorems/topk.error.yaml`): the three top-K truncation
//! identities of [`crate::theory::topk`] on random logit rows and on every real head, within their
//! rounding bounds; the kept mass of the top K keys (K = 1…64) measured on the real heads.
use super::Ctx;
use crate::Result;
use crate::reference::f64_exact::Mask;
use crate::registry::Theorem;
use crate::stats::median;
use crate::theory::topk::{Truncation, diameter, kept_mass_curve, probs, top_k, truncation};
use crate::verdict::{Report, Worst};
use rand_distr::{Distribution, StandardNormal};

pub struct Acc {
    pub kl: Worst,
    pub tv: Worst,
    pub out: Worst,
    pub norm: Worst,
}

impl Acc {
    pub fn new() -> Self {
        Acc {
            kl: Worst::new("|KL(P̂‖P) − kl_coef·log m| vs γ_{K+4}(|log m|+3)"),
            tv: Worst::new("|TV(P,P̂) − tv_coef·(1 − m)| vs |Z−1|/2 + max(0,m−1) + 3γ_{n+4}"),
            out: Worst::new("|(o − ô) − (1−m)(μ_tail − μ_head)| vs 2γ_{n+4}Σ p|v|"),
            norm: Worst::new("‖o − ô‖ vs (1−m)·max‖v_i − v_j‖"),
        }
    }
    pub fn push(&mut self, t: &Truncation, label: &dyn Fn() -> String) {
        self.kl.push((t.kl_direct - t.kl_identity).abs(), t.kl_bound, || format!("{} (m = {:.6})", label(), t.m));
        self.tv.push((t.tv_direct - t.tv_identity).abs(), t.tv_bound, || format!("{} (m = {:.6})", label(), t.m));
        self.out.push(t.out_err, t.out_bound, || format!("{} (m = {:.6})", label(), t.m));
        self.norm.push(t.out_norm, t.out_norm_bound, || format!("{} (m = {:.6})", label(), t.m));
    }
    pub fn finish(self) -> Vec<crate::verdict::Finding> {
        vec![self.kl.finish(), self.tv.finish(), self.out.finish(), self.norm.finish()]
    }
}

impl Default for Acc {
    fn default() -> Self {
        Self::new()
    }
}

/// Probability rows of a real head under a mask (f64 scores from the stored f32 q, k).
pub fn head_probs(h: &crate::data::RealHead, i: usize, mask: Mask) -> Vec<f64> {
    let keys = mask.keys(i, h.n);
    let q = &h.q[i * h.d..(i + 1) * h.d];
    let logits: Vec<f64> =
        keys.map(|j| q.iter().zip(&h.k[j * h.d..(j + 1) * h.d]).map(|(&a, &b)| a as f64 * b as f64).sum()).collect();
    probs(&logits)
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let klc = thm.claimed_f64("kl_coef")?;
    let tvc = thm.claimed_f64("tv_coef")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut acc = Acc::new();
    // Random rows: Gaussian logits of scale σ, values N(0,1), random K.
    let mut rng = crate::rng::stream(ctx.seed, 41);
    for t in 0..ctx.trials(2000) {
        let n = [2, 16, 128, 512][t % 4];
        let sigma = [0.3, 1.0, 3.0, 10.0][(t / 4) % 4];
        let dv = 8;
        let logits: Vec<f64> = (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                z * sigma
            })
            .collect();
        let vals: Vec<f64> = (0..n * dv).map(|_| StandardNormal.sample(&mut rng)).collect();
        let k = 1 + (rand::RngExt::random_range(&mut rng, 0..n));
        let p = probs(&logits);
        let keep = top_k(&p, k);
        let tr = truncation(&p, &vals, dv, &keep, klc, tvc, diameter(&vals, dv));
        acc.push(&tr, &|| format!("random n={n} σ={sigma} K={k} trial {t}"));
    }
    // Real heads, full mask: identities at K ∈ {1, 4, 16, 64}, kept mass for K = 1..64.
    let heads = ctx.real_heads()?;
    let step = if ctx.quick { 8 } else { 1 };
    let ks = [1usize, 2, 4, 8, 16, 32, 64];
    let mut mass: Vec<Vec<f64>> = vec![Vec::new(); 64];
    let mut mass_causal: Vec<Vec<f64>> = vec![Vec::new(); 64];
    for h in heads {
        let (_, _, v) = h.widen();
        let dv = h.dv();
        let diam = diameter(&v, dv);
        for i in 0..h.n {
            let p = head_probs(h, i, Mask::Full);
            let curve = kept_mass_curve(&p, 64);
            for (k, m) in curve.iter().enumerate() {
                mass[k].push(*m);
            }
            let pc = head_probs(h, i, Mask::Causal);
            for (k, m) in kept_mass_curve(&pc, 64).iter().enumerate() {
                mass_causal[k].push(*m);
            }
            if i % step == 0 {
                for &k in &[1usize, 4, 16, 64] {
                    let keep = top_k(&p, k);
                    let tr = truncation(&p, &v, dv, &keep, klc, tvc, diam);
                    acc.push(&tr, &|| format!("{} row {i} K={k}", h.label));
                }
            }
        }
    }
    let fmt = |mass: &mut Vec<Vec<f64>>| -> String {
        ks.iter()
            .map(|&k| {
                let v = &mut mass[k - 1];
                let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
                let frac = v.iter().filter(|&&m| m >= 0.9).count() as f64 / v.len().max(1) as f64;
                format!("K={k}: min {min:.3}, median {:.3}, m≥0.9 in {:.0}%", median(v), 100.0 * frac)
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    rep.notes.push(format!(
        "kept mass m of the top K keys, full mask, every row of every real head ({}): {}",
        ctx.data_label(),
        fmt(&mut mass)
    ));
    rep.notes.push(format!("kept mass, causal mask (rows i < K keep everything): {}", fmt(&mut mass_causal)));
    rep.notes.push("KL(P‖P̂) = ∞ for every row with m < 1: the direction that is finite is KL(P̂‖P) = −log m, and TV = 1 − m = 1 − e^{−KL(P̂‖P)}".into());
    rep.findings = acc.finish();
    Ok(rep.conclude_all())
}

/// Sweep measure: identities and kept mass on `trials` rows of an n-key head from the dataset, top-K.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let klc = thm.claimed_f64("kl_coef")?;
    let tvc = thm.claimed_f64("tv_coef")?;
    let (n, k) = (p.usize_at_least("n", 1)?, p.usize_at_least("k", 1)?);
    let dv = 8;
    let h = p.dataset.generate(n, p.usize_or_at_least("d", 32, 1)?, dv, p.seed)?;
    let w = |x: &[f32]| x.iter().map(|&a| a as f64).collect::<Vec<f64>>();
    let (q, kk, v) = (w(&h.q), w(&h.k), w(&h.v));
    let (d, dv) = (h.d, h.dv);
    let diam = diameter(&v, dv);
    let mut acc = Acc::new();
    let mut ms = Vec::new();
    let rows = (p.trials as usize).clamp(1, h.n);
    for i in 0..rows {
        let logits: Vec<f64> = (0..h.n).map(|j| (0..d).map(|c| q[i * d + c] * kk[j * d + c]).sum()).collect();
        let pr = probs(&logits);
        let keep = top_k(&pr, k);
        let tr = truncation(&pr, &v, dv, &keep, klc, tvc, diam);
        ms.push(tr.m);
        acc.push(&tr, &String::new);
    }
    let f = acc.finish();
    // NaN-propagating max and min (f64::max drops a NaN, so NaN data read as ratio 0, a pass).
    let nan_or = |a: f64, b: f64, m: fn(f64, f64) -> f64| if a.is_nan() || b.is_nan() { f64::NAN } else { m(a, b) };
    let ratio = f.iter().map(|x| x.ratio()).fold(0.0, |a, r| nan_or(a, r, f64::max));
    let min = ms.iter().fold(f64::INFINITY, |a, &m| nan_or(a, m, f64::min));
    Ok(crate::sweep::run::metrics([
        ("max_ratio", ratio),
        ("kept_mass_median", median(&mut ms)),
        ("kept_mass_min", min),
        ("rows", rows as f64),
    ]))
}
