//! Sparsemax attention (Martins & Astudillo 2016): p = sparsemax(s) = argmin_{p∈Δ} ‖p − s‖², the
//! Euclidean projection of the scores onto the probability simplex. Closed form: sort s
//! decreasingly, k* = max{k : 1 + k s_(k) > Σ_{l≤k} s_(l)}, τ = (Σ_{l≤k*} s_(l) − 1)/k*,
//! p_j = max(s_j − τ, 0): exact zeros below the threshold τ.
//! KKT conditions of the projection (what the property test checks): p ≥ 0, Σp = 1, and a single τ
//! with s_j − p_j = τ where p_j > 0 and s_j ≤ τ where p_j = 0.
use super::{AttentionMethod, Cost, Grads, Output, Request, Weights, check_full_or_causal_request};
use crate::Result;
use crate::reference::Head;

/// sparsemax of a score vector.
pub fn sparsemax(s: &[f64]) -> Vec<f64> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut z = s.to_vec();
    z.sort_by(|a, b| b.total_cmp(a));
    let (mut cum, mut kstar, mut cum_k) = (0.0, 1, z[0]);
    for (k, &zk) in z.iter().enumerate() {
        cum += zk;
        if 1.0 + (k + 1) as f64 * zk > cum {
            kstar = k + 1;
            cum_k = cum;
        }
    }
    let tau = (cum_k - 1.0) / kstar as f64;
    s.iter().map(|&x| (x - tau).max(0.0)).collect()
}

/// The threshold τ of [`sparsemax`].
pub fn threshold(s: &[f64], p: &[f64]) -> f64 {
    let supp: Vec<usize> = (0..s.len()).filter(|&j| p[j] > 0.0).collect();
    supp.iter().map(|&j| s[j] - p[j]).sum::<f64>() / supp.len().max(1) as f64
}

#[derive(Debug, Clone, Copy)]
pub struct Sparsemax;

impl AttentionMethod for Sparsemax {
    fn name(&self) -> String {
        "sparsemax".into()
    }
    fn supports_causal(&self) -> bool {
        true
    }
    fn forward(&self, h: &Head<'_, f32>, req: &Request<'_>) -> Result<Output> {
        check_full_or_causal_request("sparsemax", h, req)?;
        let dv = h.dv;
        let rows = req.mask.rows(h.nq);
        let mut out = vec![0.0; rows.len() * dv];
        let mut support = 0.0;
        let probs = |i: usize| {
            let keys = req.mask.keys(i, h.nk);
            let s: Vec<f64> = keys.clone().map(|j| super::dot(h.q_row(i), h.k_row(j))).collect();
            (keys, sparsemax(&s))
        };
        for (r, i) in rows.clone().enumerate() {
            let (keys, p) = probs(i);
            for (t, j) in keys.enumerate() {
                if p[t] > 0.0 {
                    support += 1.0;
                    for c in 0..dv {
                        out[r * dv + c] += p[t] * h.v_row(j)[c] as f64;
                    }
                }
            }
        }
        let weights = Weights::of_rows(req.weight_rows, true, |&i| {
            let (keys, p) = probs(i);
            let mut row = vec![0.0; h.nk];
            for (t, j) in keys.enumerate() {
                row[j] = p[t];
            }
            row
        });
        let pairs = super::exact::pairs(req.mask, h.nq, h.nk);
        let cost = Cost {
            flops: pairs * (2.0 * h.d as f64 + pairs.max(2.0).log2() / rows.len().max(1) as f64 + 2.0)
                + support * 2.0 * dv as f64,
            peak_floats: (rows.len() * h.nk + rows.len() * dv) as f64,
        };
        Ok(Output { out, dv, weights, cost })
    }
    fn backward(&self, h: &Head<'_, f32>, req: &Request<'_>, g: &[f64]) -> Option<Result<Grads>> {
        let mask = req.mask;
        Some(super::grad::sparsemax_backward(h, mask, g, &|i| mask.keys(i, h.nk).collect()))
    }
}
