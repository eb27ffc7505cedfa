//! Linformer (Wang et al. 2020; theory-anchors §5): project the length axis of K and V with k × n
//! random matrices, K' = E K, V' = F V, and attend to the k projected rows:
//! o_i = softmax(q_i K'ᵀ) V'. Here E = F = R with R_tj ~ N(0, 1/k) i.i.d. (the proof's
//! construction; its δ scaling is only a device of the proof). O(n k) time and memory.
//!
//! Not causal: every projected row mixes all n tokens, so there is no mask to apply. Under
//! [`crate::reference::Mask::Causal`] it computes what a causal use of it would: the same projection
//! of the whole sequence, so row i sees tokens j > i (the checker measures the leak). Its implied
//! weights on tokens, w_i = softmax(q_i K'ᵀ) R, are signed (no KL).
use super::{AttentionMethod, Cost, Output, Request, Weights, check_full_or_causal_request};
use crate::reference::Head;
use crate::{Error, Result};
use rand_distr::{Distribution, StandardNormal};

/// R: k × n with N(0, 1/k) entries.
pub fn projection(seed: u64, k: usize, n: usize) -> Vec<f64> {
    let mut rng = crate::rng::stream(seed, 0x11F0);
    let s = 1.0 / (k as f64).sqrt();
    (0..k * n)
        .map(|_| {
            let z: f64 = StandardNormal.sample(&mut rng);
            s * z
        })
        .collect::<Vec<f64>>()
}

#[derive(Debug, Clone, Copy)]
pub struct Linformer {
    pub k: usize,
}

impl AttentionMethod for Linformer {
    fn name(&self) -> String {
        format!("linformer(k={})", self.k)
    }
    fn supports_causal(&self) -> bool {
        false
    }
    fn forward(&self, h: &Head<'_, f32>, req: &Request<'_>) -> Result<Output> {
        check_full_or_causal_request("linformer", h, req)?;
        let (k, n, d, dv) = (self.k, h.nk, h.d, h.dv);
        if k == 0 {
            return Err(Error::invalid("linformer", "projection size k must be ≥ 1"));
        }
        let r = projection(req.seed, k, n);
        let mut kp = vec![0.0; k * d];
        let mut vp = vec![0.0; k * dv];
        for t in 0..k {
            for j in 0..n {
                let rt = r[t * n + j];
                for a in 0..d {
                    kp[t * d + a] += rt * h.k_row(j)[a] as f64;
                }
                for c in 0..dv {
                    vp[t * dv + c] += rt * h.v_row(j)[c] as f64;
                }
            }
        }
        let probs = |i: usize| -> Vec<f64> {
            let q = h.q_row(i);
            let s: Vec<f64> = (0..k).map(|t| (0..d).map(|a| q[a] as f64 * kp[t * d + a]).sum()).collect();
            super::grad::softmax(&s)
        };
        let rows = req.mask.rows(h.nq);
        let mut out = vec![0.0; rows.len() * dv];
        for (ri, i) in rows.clone().enumerate() {
            let p = probs(i);
            for t in 0..k {
                for c in 0..dv {
                    out[ri * dv + c] += p[t] * vp[t * dv + c];
                }
            }
        }
        let weights = Weights::of_rows(req.weight_rows, false, |&i| {
            let p = probs(i);
            (0..n).map(|j| (0..k).map(|t| p[t] * r[t * n + j]).sum()).collect()
        });
        let (kf, nf, nq) = (k as f64, n as f64, rows.len() as f64);
        let cost = Cost {
            flops: 2.0 * kf * nf * (d + dv) as f64 + nq * kf * (2.0 * d as f64 + 2.0 + 2.0 * dv as f64),
            peak_floats: kf * nf + kf * (d + dv) as f64 + nq * kf + nq * dv as f64,
        };
        Ok(Output { out, dv, weights, cost })
    }
}
