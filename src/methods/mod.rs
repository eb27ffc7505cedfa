//! Approximate attention methods of note 003 (and note 004's windows) behind ONE trait,
//! [`AttentionMethod`], one module per method, and ONE checker ([`check::check_against_exact`])
//! that measures any method against the float64 oracle [`crate::reference::attention_f64`]
//! (the RustFFT pattern: one trait, one module per algorithm, one checker against the naive
//! reference).
//!
//! * [`exact`]: the references themselves (f64 oracle, f32 row-streaming kernel).
//! * [`performer`]: FAVOR+ positive random features (i.i.d. or orthogonal), parallel and causal
//!   prefix-sum forms.
//! * [`linformer`]: random projections E, F of the length axis (not causal: the checker measures
//!   the leak).
//! * [`keyset`]: every method that is softmax restricted to a per-row key set: Longformer (window +
//!   global tokens), Reformer (LSH buckets by random rotations), strided / fixed sparse patterns,
//!   oracle top-K, the last-10-token window.
//! * [`sparsemax`]: sparsemax of the scores (Euclidean projection onto the simplex).
//! * [`linear`]: linear attention φ = elu + 1 as a recurrence with a d×dv state.
//!
//! Every method computes in f64 on the f32 inputs (except [`exact::ExactF32`]), so the measured
//! error is the method's approximation error, not rounding.
pub mod check;
pub mod exact;
pub mod grad;
pub mod keyset;
pub mod linear;
pub mod linformer;
pub mod performer;
pub mod sparsemax;

use crate::reference::{Head, Mask};
use crate::{Error, Result};

/// What a forward pass is asked for.
#[derive(Debug, Clone, Copy)]
pub struct Request<'r> {
    pub mask: Mask,
    /// Seed of the method's randomness (projections, random features, hash rotations).
    pub seed: u64,
    /// Query rows (indices into the head) whose attention weights over the keys are wanted.
    pub weight_rows: &'r [usize],
}

impl<'r> Request<'r> {
    pub fn new(mask: Mask, seed: u64) -> Self {
        Request { mask, seed, weight_rows: &[] }
    }
    pub fn with_rows(mask: Mask, seed: u64, rows: &'r [usize]) -> Self {
        Request { mask, seed, weight_rows: rows }
    }
}

/// The weights a method puts on the keys for some query rows: `w[r][j]` for query `rows[r]` and key
/// j (dense over all nk keys; zero outside the method's support).
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    pub rows: Vec<usize>,
    pub w: Vec<Vec<f64>>,
    /// True when every row is a probability distribution (non-negative, sums to 1), so that KL is
    /// defined; false for signed effective weights (Linformer's E, F mix tokens with signs).
    pub distribution: bool,
}

impl Weights {
    /// The weight rows `rows` (row i → `row(i)`), or None when none is asked for.
    pub fn of_rows(rows: &[usize], distribution: bool, row: impl FnMut(&usize) -> Vec<f64>) -> Option<Weights> {
        (!rows.is_empty()).then(|| Weights { rows: rows.to_vec(), w: rows.iter().map(row).collect(), distribution })
    }
}

/// Cost model of one forward pass, counted by the implementation from the sizes it uses.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cost {
    /// Floating-point operations (multiply and add counted separately; exp counted as one).
    pub flops: f64,
    /// Peak working memory in floats of a batched implementation that holds its intermediates at
    /// once (scores, features, projections, states) plus the `rows × dv` output; inputs excluded.
    pub peak_floats: f64,
}

/// A forward pass: outputs (rows as in [`Mask::rows`], `rows × dv`), weights for the requested
/// rows when the method defines them, and the cost.
#[derive(Debug, Clone)]
pub struct Output {
    pub out: Vec<f64>,
    pub dv: usize,
    pub weights: Option<Weights>,
    pub cost: Cost,
}

/// Gradients of a scalar loss with respect to Q, K, V (same layouts as the head).
#[derive(Debug, Clone, PartialEq)]
pub struct Grads {
    pub dq: Vec<f64>,
    pub dk: Vec<f64>,
    pub dv: Vec<f64>,
}

/// An attention method.
pub trait AttentionMethod: Send + Sync {
    /// A name with its parameters (`performer(m=64,orf)`).
    fn name(&self) -> String;
    /// True when the output of row i depends on tokens j ≤ i only under [`Mask::Causal`]. A method
    /// that cannot honour the mask (Linformer) still computes under `Causal` what a causal use of it
    /// would compute; the checker measures how much that leaks.
    fn supports_causal(&self) -> bool;
    fn forward(&self, h: &Head<'_, f32>, req: &Request<'_>) -> Result<Output>;
    /// Gradients of L = Σ g ⊙ O (g: `rows × dv`, rows as in [`Mask::rows`]) w.r.t. Q, K, V when the
    /// method has an analytic backward; `None` when it has none.
    fn backward(&self, _h: &Head<'_, f32>, _req: &Request<'_>, _g: &[f64]) -> Option<Result<Grads>> {
        None
    }
}

/// The checks every full-or-causal method runs first: the head ([`Head::check`]), the mask
/// ([`full_or_causal`]) and the requested weight rows ([`check_rows`]).
pub(crate) fn check_full_or_causal_request(name: &str, h: &Head<'_, f32>, req: &Request<'_>) -> Result<()> {
    h.check()?;
    full_or_causal(name, req.mask)?;
    check_rows(h, req.weight_rows)
}

/// Masks the approximate methods accept.
pub(crate) fn full_or_causal(name: &str, mask: Mask) -> Result<()> {
    match mask {
        Mask::Full | Mask::Causal => Ok(()),
        Mask::StrictPrefix => {
            Err(Error::invalid(name, "supports the full and causal masks only, got the strict-prefix mask"))
        }
    }
}

/// Check that requested weight rows are query rows of the head.
pub(crate) fn check_rows(h: &Head<'_, f32>, rows: &[usize]) -> Result<()> {
    if let Some(r) = rows.iter().find(|&&r| r >= h.nq) {
        return Err(Error::invalid("weight rows", format!("row {r} is outside 0..{}", h.nq)));
    }
    Ok(())
}

/// One method of every kind, with the parameters used by `criteria.matrix` (fixed, so that a
/// method keeps its name across heads; the Performer uses 4d features for dimension `d`).
pub fn zoo(_n: usize, d: usize) -> Vec<Box<dyn AttentionMethod>> {
    vec![
        Box::new(exact::ExactF64),
        Box::new(exact::ExactF32),
        Box::new(performer::Performer { features: 4 * d, orthogonal: true }),
        Box::new(linformer::Linformer { k: 128 }),
        Box::new(keyset::KeySet::Longformer { half_window: 32, global: 2 }),
        Box::new(keyset::KeySet::Reformer { buckets: 8, hashes: 2 }),
        Box::new(keyset::KeySet::Strided { stride: 32 }),
        Box::new(keyset::KeySet::Fixed { block: 64, summary: 8 }),
        Box::new(keyset::KeySet::TopK { k: 32 }),
        Box::new(keyset::KeySet::LastWindow { w: 10 }),
        Box::new(sparsemax::Sparsemax),
        Box::new(linear::LinearElu),
    ]
}

/// Row-major helpers.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}
