//! Stub of the CUDA backend when the `cuda` feature is off: same names, always unavailable.
use super::GpuUnavailable;

pub struct CudaBackend;

/// The kernel source (kept available so its launch configuration and text can be tested anywhere).
pub const ATTENTION_CU: &str = include_str!("kernels/causal_attention.cu");

impl CudaBackend {
    /// Always unavailable: built without the `cuda` feature.
    pub fn new() -> Result<CudaBackend, GpuUnavailable> {
        Err(GpuUnavailable("built without the `cuda` feature (cargo build --features cuda)".into()))
    }
}
