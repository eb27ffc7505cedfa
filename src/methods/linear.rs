//! Linear attention as an RNN (Katharopoulos et al. 2020; theory-anchors §4b) with φ = elu + 1:
//! S_i = S_{i−1} + φ(k_i) v_iᵀ, z_i = z_{i−1} + φ(k_i), o_i = φ(q_i)ᵀ S_i / φ(q_i)ᵀ z_i (causal);
//! the bidirectional form uses S_n, z_n. The state is d × dv + d floats whatever n.
//! [`parallel`] is the quadratic form o_i = Σ_{j≤i} φ(q_i)·φ(k_j) v_j / Σ_{j≤i} φ(q_i)·φ(k_j).
use super::performer::{kernel_attention, kernel_attention_quadratic, kernel_cost, kernel_weights};
use super::{AttentionMethod, Output, Request, check_full_or_causal_request};
use crate::Result;
use crate::reference::{Head, Mask};

/// elu(x) + 1 = x + 1 for x > 0, eˣ otherwise (always > 0).
pub fn elu1(x: f64) -> f64 {
    if x > 0.0 { x + 1.0 } else { x.exp() }
}

/// φ of every row (n × d).
pub fn phi(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&a| elu1(a as f64)).collect()
}

/// Recurrent form (O(d·dv) state).
pub fn recurrent(h: &Head<'_, f32>, mask: Mask) -> Vec<f64> {
    kernel_attention(&phi(h.q), &phi(h.k), h.v, h.d, h.dv, h.nq, mask)
}

/// Parallel (quadratic) form.
pub fn parallel(h: &Head<'_, f32>, mask: Mask) -> Vec<f64> {
    kernel_attention_quadratic(&phi(h.q), &phi(h.k), h.v, h.d, h.dv, h.nq, mask)
}

/// Floats held by the recurrent state: S (d × dv) and z (d).
pub fn state_floats(d: usize, dv: usize) -> usize {
    d * dv + d
}

#[derive(Debug, Clone, Copy)]
pub struct LinearElu;

impl AttentionMethod for LinearElu {
    fn name(&self) -> String {
        "linear(elu+1)".into()
    }
    fn supports_causal(&self) -> bool {
        true
    }
    fn forward(&self, h: &Head<'_, f32>, req: &Request<'_>) -> Result<Output> {
        check_full_or_causal_request("linear attention", h, req)?;
        let (fq, fk) = (phi(h.q), phi(h.k));
        let out = kernel_attention(&fq, &fk, h.v, h.d, h.dv, h.nq, req.mask);
        let weights = (!req.weight_rows.is_empty()).then(|| kernel_weights(&fq, &fk, h.d, req.weight_rows, req.mask));
        let rows = req.mask.rows(h.nq).len();
        let mut cost = kernel_cost(h.nq, h.nk, 1, h.dv, h.d, rows, 1.0);
        // A recurrent implementation maps one token at a time: state + output only.
        cost.peak_floats = (state_floats(h.d, h.dv) + 2 * h.d + rows * h.dv) as f64;
        Ok(Output { out, dv: h.dv, weights, cost })
    }
}
