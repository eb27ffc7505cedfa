//! `attnproof bench`: FLOP rates measured side by side in one run (placeholder until the kernel lands).
use crate::Result;

/// Fast exact f32 causal attention vs a same-run f32 GEMM of equal FLOP count.
pub fn exact_vs_gemm(
    _n: &[usize],
    _d: usize,
    _threads: Option<usize>,
    _reps: usize,
    mut print: impl FnMut(String),
) -> Result<()> {
    print("bench exact: not yet implemented".into());
    Ok(())
}
