//! Tiled float32 exact attention with online softmax (placeholder: a plain row loop until the
//! tiled kernel lands; same signature).
use super::{Head, Mask};

/// Exact attention in float32 under `mask`; rows as in [`Mask::rows`], `rows × dv` row-major.
pub fn attention_f32(h: &Head<'_, f32>, mask: Mask) -> Vec<f32> {
    let rows = mask.rows(h.nq);
    let mut out = vec![0f32; rows.len() * h.dv];
    for (r, i) in rows.enumerate() {
        let keys = mask.keys(i, h.nk);
        let q = h.q_row(i);
        let s: Vec<f32> = keys
            .clone()
            .map(|j| h.k_row(j).iter().zip(q).map(|(a, b)| a * b).sum())
            .collect();
        let m = s.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut z = 0f32;
        let o = &mut out[r * h.dv..(r + 1) * h.dv];
        for (t, j) in keys.enumerate() {
            let w = (s[t] - m).exp();
            z += w;
            for (oc, vc) in o.iter_mut().zip(h.v_row(j)) {
                *oc += w * vc;
            }
        }
        o.iter_mut().for_each(|x| *x /= z);
    }
    out
}
