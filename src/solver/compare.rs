//! Comparison of a solve with the float64 oracle: per row, the true error |X̂ − X_ref|_∞ against the
//! certificate plus the oracle's own rounding bound
//! ([`crate::theory::softmax::reference_f64_row_bound`]), since the certificate is relative to exact
//! arithmetic and the oracle is itself within that bound of exact arithmetic.
use super::Solved;
use crate::reference::f64_exact::row_f64;
use crate::reference::{Head, Mask};
use crate::theory::softmax::reference_f64_row_bound;
use rayon::prelude::*;

#[derive(Debug, Clone, Copy)]
pub struct RowCheck {
    /// Query row i.
    pub row: usize,
    /// |X̂_i − X_ref,i|_∞.
    pub err: f64,
    pub cert: f64,
    /// Rounding bound of the oracle on this row.
    pub ref_bound: f64,
}

impl RowCheck {
    /// err ≤ cert + ref_bound.
    pub fn ok(&self) -> bool {
        self.err <= self.cert + self.ref_bound
    }
}

/// Check the rows `rows` (query indices; all output rows when `None`).
pub fn check_rows(h: &Head<'_, f32>, mask: Mask, s: &Solved, rows: Option<&[usize]>) -> Vec<RowCheck> {
    let all: Vec<usize>;
    let rows = match rows {
        Some(r) => r,
        None => {
            all = s.rows.clone().collect();
            &all
        }
    };
    let (d, dv) = (h.d, h.dv);
    // K and V widened once (each checked row used to widen its whole prefix).
    let (kw, vw) = (crate::reference::widen(h.k), crate::reference::widen(h.v));
    rows.par_iter()
        .map(|&i| {
            let keys = mask.keys(i, h.nk);
            let q = crate::reference::widen(h.q_row(i));
            let (k, v) = (&kw[keys.start * d..keys.end * d], &vw[keys.start * dv..keys.end * dv]);
            let mut o = vec![0.0; dv];
            row_f64(&q, k, v, d, dv, &mut o);
            let r = i - s.rows.start;
            let got = &s.out[r * dv..(r + 1) * dv];
            let err = got.iter().zip(&o).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            let abs_s = k
                .chunks_exact(d)
                .map(|kk| kk.iter().zip(&q).map(|(a, b)| (a * b).abs()).sum::<f64>())
                .fold(0.0, f64::max);
            let spread = crate::theory::softmax::spread(v, dv, &o);
            let omax = o.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            RowCheck {
                row: i,
                err,
                cert: s.cert[r],
                ref_bound: reference_f64_row_bound(d, keys.len(), abs_s, spread, omax),
            }
        })
        .collect()
}
