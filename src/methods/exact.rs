//! The exact references as methods: [`ExactF64`] wraps the float64 oracle
//! [`crate::reference::attention_f64`]; [`ExactF32`] wraps the float32 kernel
//! [`crate::reference::fast_f32::attention_f32`] (row-streaming: one row of scores at a time).
use super::{AttentionMethod, Cost, Grads, Output, Request, Weights, check_rows};
use crate::Result;
use crate::reference::{Head, Mask, attention_f64, fast_f32, widen};

/// Exact softmax probabilities of query row i over the keys of `mask` (dense over nk), in f64.
pub fn probs_row(h: &Head<'_, f32>, mask: Mask, i: usize) -> Vec<f64> {
    let keys = mask.keys(i, h.nk);
    let s: Vec<f64> = keys.clone().map(|j| super::dot(h.q_row(i), h.k_row(j))).collect();
    let mut w = vec![0.0; h.nk];
    if s.is_empty() {
        return w;
    }
    let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let z = crate::reference::sum::sum(s.iter().map(|x| (x - m).exp()));
    for (t, j) in keys.enumerate() {
        w[j] = (s[t] - m).exp() / z;
    }
    w
}

/// Number of (query, key) pairs under a mask.
pub fn pairs(mask: Mask, nq: usize, nk: usize) -> f64 {
    mask.rows(nq).map(|i| mask.keys(i, nk).len() as f64).sum()
}

/// The standard cost: scores (2d per pair), exp and sum (2 per pair), weighted values (2dv per
/// pair); a batched implementation materialises the `rows × nk` score matrix.
pub fn standard_cost(h: &Head<'_, f32>, mask: Mask) -> Cost {
    let p = pairs(mask, h.nq, h.nk);
    let rows = mask.rows(h.nq).len() as f64;
    Cost {
        flops: p * (2.0 * h.d as f64 + 2.0 + 2.0 * h.dv as f64),
        peak_floats: rows * h.nk as f64 + rows * h.dv as f64,
    }
}

fn weights(h: &Head<'_, f32>, req: &Request<'_>) -> Result<Option<Weights>> {
    check_rows(h, req.weight_rows)?;
    if req.weight_rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(Weights {
        rows: req.weight_rows.to_vec(),
        w: req.weight_rows.iter().map(|&i| probs_row(h, req.mask, i)).collect(),
        distribution: true,
    }))
}

/// The float64 oracle.
#[derive(Debug, Clone, Copy)]
pub struct ExactF64;

impl AttentionMethod for ExactF64 {
    fn name(&self) -> String {
        "exact-f64".into()
    }
    fn supports_causal(&self) -> bool {
        true
    }
    fn forward(&self, h: &Head<'_, f32>, req: &Request<'_>) -> Result<Output> {
        h.check()?;
        let (q, k, v) = (widen(h.q), widen(h.k), widen(h.v));
        let hh = Head { q: &q, k: &k, v: &v, nq: h.nq, nk: h.nk, d: h.d, dv: h.dv };
        let r = attention_f64(&hh, req.mask);
        Ok(Output { out: r.out, dv: h.dv, weights: weights(h, req)?, cost: standard_cost(h, req.mask) })
    }
    fn backward(&self, h: &Head<'_, f32>, req: &Request<'_>, g: &[f64]) -> Option<Result<Grads>> {
        let mask = req.mask;
        Some(super::grad::softmax_backward(h, mask, g, &|i| mask.keys(i, h.nk).collect()))
    }
}

/// The float32 row-streaming kernel: same math, one row of scores in memory at a time.
#[derive(Debug, Clone, Copy)]
pub struct ExactF32;

impl AttentionMethod for ExactF32 {
    fn name(&self) -> String {
        "exact-f32-streaming".into()
    }
    fn supports_causal(&self) -> bool {
        true
    }
    fn forward(&self, h: &Head<'_, f32>, req: &Request<'_>) -> Result<Output> {
        h.check()?;
        check_rows(h, req.weight_rows)?;
        let out = fast_f32::attention_f32(h, req.mask).into_iter().map(f64::from).collect();
        let mut cost = standard_cost(h, req.mask);
        cost.peak_floats = h.nk as f64 + (req.mask.rows(h.nq).len() * h.dv) as f64;
        // Weights in f32 arithmetic, as the kernel forms them: e^{s − m} / Σ e^{s − m}.
        let weights = Weights::of_rows(req.weight_rows, true, |&i| {
            let keys = req.mask.keys(i, h.nk);
            let s: Vec<f32> =
                keys.clone().map(|j| h.k_row(j).iter().zip(h.q_row(i)).map(|(a, b)| a * b).sum()).collect();
            let m = s.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let z: f32 = s.iter().map(|x| (x - m).exp()).sum();
            let mut row = vec![0.0; h.nk];
            for (t, j) in keys.enumerate() {
                row[j] = ((s[t] - m).exp() / z) as f64;
            }
            row
        });
        Ok(Output { out, dv: h.dv, weights, cost })
    }
}
