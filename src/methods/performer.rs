//! Performer / FAVOR+ (Choromanski et al., ICLR 2021; theory-anchors §4a). Positive random features
//! φ(x) = exp(ω_l·x − ‖x‖²/2)/√m, l = 1..m, ω_l ~ N(0, I_d) i.i.d., or orthogonal (Gram–Schmidt on
//! d × d Gaussian blocks, rows rescaled to χ_d-distributed norms, independent blocks when m > d).
//! Lemma 1: E[φ(x)·φ(y)] = exp(x·y) = SM(x, y). Scores here are q·k (the 1/√d is already in q).
//!
//! Bidirectional: o_i = φ(q_i)ᵀ S / φ(q_i)ᵀ z, S = Σ_j φ(k_j) v_jᵀ, z = Σ_j φ(k_j).
//! Causal (App. B.1): the same with prefix sums S_i = Σ_{j≤i}, computed by a sequential scan
//! (O(m·dv) state). [`causal_parallel`] is the quadratic form D̃⁻¹ tril(Q'K'ᵀ) V it must equal.
//! Query features carry a per-row factor e^{−max_l ω_l·q} (it cancels in the ratio); key features
//! carry none, so that row i depends on keys j ≤ i only, bit for bit.
use super::{AttentionMethod, Cost, Output, Request, Weights, check_full_or_causal_request};
use crate::reference::{Head, Mask};
use crate::{Error, Result};
use rand_distr::{Distribution, StandardNormal};

/// m random directions (m × d, row-major).
pub fn omegas(seed: u64, d: usize, m: usize, orthogonal: bool) -> Vec<f64> {
    let mut rng = crate::rng::stream(seed, 0xFA70);
    let mut g = |len: usize| -> Vec<f64> { (0..len).map(|_| StandardNormal.sample(&mut rng)).collect() };
    if !orthogonal {
        return g(m * d);
    }
    let mut out = Vec::with_capacity(m * d);
    while out.len() < m * d {
        let block = g(d * d);
        let mut rows: Vec<Vec<f64>> = Vec::new();
        for r in block.chunks_exact(d) {
            let mut v = r.to_vec();
            for u in &rows {
                let c: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(u).for_each(|(a, b)| *a -= c * b);
            }
            let nv = v.iter().map(|a| a * a).sum::<f64>().sqrt();
            v.iter_mut().for_each(|a| *a /= nv);
            rows.push(v);
        }
        let norms = g(d * d);
        for (r, row) in rows.iter().enumerate() {
            let len = norms[r * d..(r + 1) * d].iter().map(|a| a * a).sum::<f64>().sqrt();
            out.extend(row.iter().map(|a| a * len));
        }
    }
    out.truncate(m * d);
    out
}

/// Positive features of the rows of `x` (n × d): n × m. With `stabilise`, row r is multiplied by
/// e^{−max_l ω_l·x_r} (for queries only).
pub fn features(x: &[f32], d: usize, omega: &[f64], stabilise: bool) -> Result<Vec<f64>> {
    let m = omega.len() / d;
    let mut out = Vec::with_capacity(x.len() / d * m);
    for row in x.chunks_exact(d) {
        let sq: f64 = row.iter().map(|&a| a as f64 * a as f64).sum::<f64>() / 2.0;
        let proj: Vec<f64> =
            omega.chunks_exact(d).map(|w| w.iter().zip(row).map(|(a, &b)| a * b as f64).sum()).collect();
        let shift = if stabilise { proj.iter().cloned().fold(f64::NEG_INFINITY, f64::max) } else { 0.0 };
        for p in proj {
            let f = (p - sq - shift).exp() / (m as f64).sqrt();
            if !f.is_finite() {
                return Err(Error::invalid(
                    "performer",
                    format!("feature exp(ω·x − ‖x‖²/2) = {f} overflows f64; rescale q, k"),
                ));
            }
            out.push(f);
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy)]
pub struct Performer {
    pub features: usize,
    pub orthogonal: bool,
}

impl Performer {
    /// Features of queries and keys for a head and seed.
    pub fn maps(&self, h: &Head<'_, f32>, seed: u64) -> Result<(Vec<f64>, Vec<f64>)> {
        if self.features == 0 {
            return Err(Error::invalid("performer", "needs at least one feature"));
        }
        let om = omegas(seed, h.d, self.features, self.orthogonal);
        Ok((features(h.q, h.d, &om, true)?, features(h.k, h.d, &om, false)?))
    }
}

/// Linear attention with given non-negative features: parallel (full) or sequential-scan (causal)
/// form. `fq` is nq × m, `fk` is nk × m. Returns rows × dv.
pub fn kernel_attention(fq: &[f64], fk: &[f64], v: &[f32], m: usize, dv: usize, nq: usize, mask: Mask) -> Vec<f64> {
    kernel_attention_state(fq, fk, v, m, dv, nq, mask).0
}

/// [`kernel_attention`], also returning the number of floats of the running state (S and z) it
/// allocated.
pub fn kernel_attention_state(
    fq: &[f64],
    fk: &[f64],
    v: &[f32],
    m: usize,
    dv: usize,
    nq: usize,
    mask: Mask,
) -> (Vec<f64>, usize) {
    let nk = fk.len() / m;
    let rows = mask.rows(nq);
    let mut out = vec![0.0; rows.len() * dv];
    let mut s = vec![0.0; m * dv];
    let mut z = vec![0.0; m];
    let add = |j: usize, s: &mut Vec<f64>, z: &mut Vec<f64>| {
        for l in 0..m {
            let f = fk[j * m + l];
            z[l] += f;
            for c in 0..dv {
                s[l * dv + c] += f * v[j * dv + c] as f64;
            }
        }
    };
    let mut done = 0;
    if mask == Mask::Full {
        for j in 0..nk {
            add(j, &mut s, &mut z);
        }
        done = nk;
    }
    for (r, i) in rows.enumerate() {
        let hi = mask.keys(i, nk).end;
        while done < hi {
            add(done, &mut s, &mut z);
            done += 1;
        }
        let fqi = &fq[i * m..(i + 1) * m];
        let den: f64 = fqi.iter().zip(&z).map(|(a, b)| a * b).sum();
        for c in 0..dv {
            let num: f64 = (0..m).map(|l| fqi[l] * s[l * dv + c]).sum();
            out[r * dv + c] = num / den;
        }
    }
    (out, s.len() + z.len())
}

/// The quadratic form D̃⁻¹ tril(Q'K'ᵀ) V (or D⁻¹ Q'K'ᵀ V for the full mask): a_ij = φ(q_i)·φ(k_j)
/// summed over j in the mask, in the natural order.
pub fn kernel_attention_quadratic(
    fq: &[f64],
    fk: &[f64],
    v: &[f32],
    m: usize,
    dv: usize,
    nq: usize,
    mask: Mask,
) -> Vec<f64> {
    let nk = fk.len() / m;
    let rows = mask.rows(nq);
    let mut out = vec![0.0; rows.len() * dv];
    for (r, i) in rows.enumerate() {
        let mut den = 0.0;
        let mut num = vec![0.0; dv];
        for j in mask.keys(i, nk) {
            let a: f64 = (0..m).map(|l| fq[i * m + l] * fk[j * m + l]).sum();
            den += a;
            for c in 0..dv {
                num[c] += a * v[j * dv + c] as f64;
            }
        }
        for c in 0..dv {
            out[r * dv + c] = num[c] / den;
        }
    }
    out
}

/// Implied weights of kernel attention for the requested rows: a_ij / Σ_j a_ij.
pub fn kernel_weights(fq: &[f64], fk: &[f64], m: usize, rows: &[usize], mask: Mask) -> Weights {
    let nk = fk.len() / m;
    let w = rows
        .iter()
        .map(|&i| {
            let mut row = vec![0.0; nk];
            for j in mask.keys(i, nk) {
                row[j] = (0..m).map(|l| fq[i * m + l] * fk[j * m + l]).sum();
            }
            let z: f64 = row.iter().sum();
            row.iter_mut().for_each(|x| *x /= z);
            row
        })
        .collect();
    Weights { rows: rows.to_vec(), w, distribution: true }
}

/// Cost of kernel attention with m features (feature maps included when `map_flops` per entry).
pub fn kernel_cost(nq: usize, nk: usize, d: usize, dv: usize, m: usize, rows: usize, map_flops: f64) -> Cost {
    let (nq, nk, d, dv, m) = (nq as f64, nk as f64, d as f64, dv as f64, m as f64);
    Cost {
        flops: (nq + nk) * m * map_flops * d + nk * m * 2.0 * (dv + 1.0) + rows as f64 * m * 2.0 * (dv + 1.0),
        peak_floats: (nq + nk) * m + m * (dv + 1.0) + rows as f64 * dv,
    }
}

impl AttentionMethod for Performer {
    fn name(&self) -> String {
        format!("performer(m={}{})", self.features, if self.orthogonal { ",orf" } else { "" })
    }
    fn supports_causal(&self) -> bool {
        true
    }
    fn forward(&self, h: &Head<'_, f32>, req: &Request<'_>) -> Result<Output> {
        check_full_or_causal_request("performer", h, req)?;
        let (fq, fk) = self.maps(h, req.seed)?;
        let m = self.features;
        let out = kernel_attention(&fq, &fk, h.v, m, h.dv, h.nq, req.mask);
        // With large ‖k‖ the positive features e^{ω·k − ‖k‖²/2} underflow to 0 for every key a row
        // sees, and the estimator is 0/0: refuse instead of returning NaN (‖k‖ = 1e3 did).
        if let Some(i) = out.iter().position(|x| !x.is_finite()) {
            return Err(Error::invalid(
                "performer",
                format!(
                    "row {}: the random-feature normaliser Σ φ(q)·φ(k) is {} (features e^(ω·x − ‖x‖²/2) under- or overflow at max‖k‖ = {:.3e}); rescale q, k",
                    req.mask.rows(h.nq).start + i / h.dv,
                    if out[i].is_nan() { "0" } else { "not finite" },
                    h.k.chunks_exact(h.d)
                        .map(|r| r.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt())
                        .fold(0.0, f64::max)
                ),
            ));
        }
        let weights = (!req.weight_rows.is_empty()).then(|| kernel_weights(&fq, &fk, m, req.weight_rows, req.mask));
        if let Some(w) = &weights {
            if w.w.iter().flatten().any(|x| !x.is_finite()) {
                return Err(Error::invalid(
                    "performer",
                    "attention weights are not finite (random features under- or overflow); rescale q, k",
                ));
            }
        }
        let rows = req.mask.rows(h.nq).len();
        Ok(Output { out, dv: h.dv, weights, cost: kernel_cost(h.nq, h.nk, h.d, h.dv, m, rows, 2.0) })
    }
}

/// The three unbiased estimators of SM(x, y) = exp(x·y) with the m directions `omega` (Lemma 1):
/// trigonometric, positive, hyperbolic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Estimator {
    Trig,
    Positive,
    Hyperbolic,
}

/// The estimate of SM(x, y) from m directions.
pub fn estimate(kind: Estimator, x: &[f64], y: &[f64], omega: &[f64]) -> f64 {
    let d = x.len();
    let m = omega.len() / d;
    let (xx, yy): (f64, f64) = (x.iter().map(|a| a * a).sum(), y.iter().map(|a| a * a).sum());
    let mut acc = 0.0;
    for w in omega.chunks_exact(d) {
        let (wx, wy): (f64, f64) =
            (w.iter().zip(x).map(|(a, b)| a * b).sum(), w.iter().zip(y).map(|(a, b)| a * b).sum());
        acc += match kind {
            Estimator::Trig => ((xx + yy) / 2.0).exp() * (wx - wy).cos(),
            Estimator::Positive => (wx + wy - (xx + yy) / 2.0).exp(),
            Estimator::Hyperbolic => (-(xx + yy) / 2.0).exp() * (wx + wy).cosh(),
        };
    }
    acc / m as f64
}
