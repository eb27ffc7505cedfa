//! Exact references: the ground truth every other path is measured against.
//!
//! * [`f64_exact`]: float64 softmax attention, full / causal / strict prefix, with max-subtracted
//!   log-sum-exp and Neumaier-compensated sums (the oracle, like RustFFT's naive `Dft`).
//! * [`fast_f32`]: the tiled float32 causal kernel with online softmax, O(n·d) extra memory,
//!   bit-identical for every thread count; its error against float64 is bounded by
//!   [`crate::theory::rounding`].
pub mod f64_exact;
pub mod fast_f32;
pub mod sum;

pub use f64_exact::{Mask, attention_f64};

/// A row-major view of one attention head: `q` is `nq × d`, `k` is `nk × d`, `v` is `nk × dv`.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a, T> {
    pub q: &'a [T],
    pub k: &'a [T],
    pub v: &'a [T],
    pub nq: usize,
    pub nk: usize,
    pub d: usize,
    pub dv: usize,
}

impl<'a, T: crate::theory::fp::ScanFloat> Head<'a, T> {
    /// A self-attention head with `n` tokens; panics never: shapes are checked, see [`Head::check`].
    pub fn new(q: &'a [T], k: &'a [T], v: &'a [T], n: usize, d: usize, dv: usize) -> crate::Result<Self> {
        let h = Head { q, k, v, nq: n, nk: n, d, dv };
        h.check()?;
        Ok(h)
    }
    /// Shape and finiteness checks with one-line errors: [`Head::check_shapes`] then
    /// [`Head::check_values`].
    pub fn check(&self) -> crate::Result<()> {
        self.check_shapes()?;
        self.check_values()
    }
    /// Dimensions ≥ 1 and buffer lengths rows × columns (no pass over the values).
    pub fn check_shapes(&self) -> crate::Result<()> {
        use crate::Error;
        if self.d == 0 || self.dv == 0 {
            return Err(Error::invalid(
                "head",
                format!("head dimensions must be ≥ 1, got d = {}, dv = {}", self.d, self.dv),
            ));
        }
        for (name, buf, rows, cols) in
            [("q", self.q, self.nq, self.d), ("k", self.k, self.nk, self.d), ("v", self.v, self.nk, self.dv)]
        {
            if buf.len() != rows * cols {
                return Err(Error::invalid(
                    name,
                    format!("expected {rows}×{cols} = {} values, got {}", rows * cols, buf.len()),
                ));
            }
        }
        Ok(())
    }
    /// Every value finite, and scores and weighted sums representable (see the errors below); the
    /// shapes must have passed [`Head::check_shapes`].
    pub fn check_values(&self) -> crate::Result<()> {
        use crate::Error;
        let mut amax = [0.0f64; 3];
        for (b, (name, buf, cols)) in
            [("q", self.q, self.d), ("k", self.k, self.d), ("v", self.v, self.dv)].into_iter().enumerate()
        {
            // One branch-free pass (it vectorises), the position only when something is wrong.
            let (finite, m) = crate::theory::fp::scan_parallel(buf);
            amax[b] = m.to_f64().unwrap_or(f64::INFINITY);
            if !finite {
                let i = buf.iter().position(|x| !x.is_finite()).unwrap_or(0);
                return Err(Error::invalid(name, format!("non-finite value at row {}, column {}", i / cols, i % cols)));
            }
        }
        // Scores must be representable: |q·k| ≤ d·max|q|·max|k| < the largest finite value.
        let bound = self.d as f64 * amax[0] * amax[1];
        let big = T::max_value().to_f64().unwrap_or(f64::MAX);
        if bound >= big / 4.0 {
            return Err(Error::invalid(
                "q, k",
                format!(
                    "scores may overflow: d·max|q|·max|k| = {bound:.3e} is not below a quarter of the largest finite value {big:.3e}"
                ),
            ));
        }
        // Weighted sums of values must be representable: |Σ w v| ≤ nk·max|v| (weights ≤ 1).
        let vsum = self.nk as f64 * amax[2];
        if vsum >= big / 4.0 {
            return Err(Error::invalid(
                "v",
                format!(
                    "weighted sums may overflow: n·max|v| = {vsum:.3e} is not below a quarter of the largest finite value {big:.3e}"
                ),
            ));
        }
        Ok(())
    }
    pub fn q_row(&self, i: usize) -> &'a [T] {
        &self.q[i * self.d..(i + 1) * self.d]
    }
    pub fn k_row(&self, j: usize) -> &'a [T] {
        &self.k[j * self.d..(j + 1) * self.d]
    }
    pub fn v_row(&self, j: usize) -> &'a [T] {
        &self.v[j * self.dv..(j + 1) * self.dv]
    }
}

/// Widen an f32 buffer to f64 (exact); in parallel blocks for long buffers (same values).
pub fn widen(x: &[f32]) -> Vec<f64> {
    use rayon::prelude::*;
    const BLOCK: usize = 1 << 14;
    if x.len() <= BLOCK {
        return x.iter().map(|&v| v as f64).collect();
    }
    let mut out = vec![0.0f64; x.len()];
    out.par_chunks_mut(BLOCK).zip(x.par_chunks(BLOCK)).for_each(|(o, i)| widen_into(i, o));
    out
}

/// Widen `x` into `out` (same length).
pub fn widen_into(x: &[f32], out: &mut [f64]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v as f64;
    }
}
