//! GPU kernels behind one interface, split by backend folder (the candle layout):
//!
//! * [`wgpu`] — WGSL compute shaders (Vulkan, Metal, DX12, GL) in `src/gpu/wgpu/kernels/*.wgsl`;
//! * [`cuda`] — CUDA C in `src/gpu/cuda/kernels/*.cu`, compiled at run time with NVRTC through
//!   `cudarc` (dynamic loading: builds without a CUDA toolkit, runs only where a driver exists).
//!
//! Each backend is behind a cargo feature (`wgpu`, `cuda`); without it the module is a stub with the
//! same names whose constructor returns [`GpuUnavailable`], so the public API is identical and a
//! CPU-only build compiles neither. Kernel results are held against the float64 reference with the
//! rounding model of [`bound`].
pub mod bench;
pub mod bound;

#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(not(feature = "cuda"))]
#[path = "cuda/stub.rs"]
pub mod cuda;

#[cfg(feature = "wgpu")]
pub mod wgpu;
#[cfg(not(feature = "wgpu"))]
#[path = "wgpu/stub.rs"]
pub mod wgpu;

use crate::reference::Head;

/// Why a GPU backend cannot be used here (not compiled in, no driver, no device) — a reason to skip,
/// not a failure.
#[derive(Debug, Clone)]
pub struct GpuUnavailable(pub String);

impl std::fmt::Display for GpuUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What every GPU backend provides.
pub trait Backend {
    /// Device and driver, for result files and bench output.
    fn device_name(&self) -> String;
    /// Exact softmax attention in f32 (causal when `causal`, else full); rows × dv, row-major.
    fn attention(&self, h: &Head<'_, f32>, causal: bool) -> crate::Result<Vec<f32>>;
    /// C = A·B (m×k times k×n), f32: the same-device GEMM the attention kernel is timed against.
    fn matmul(&self, a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> crate::Result<Vec<f32>>;
    /// Seconds for `reps` attention launches on resident inputs (best of the reps), synchronised.
    fn time_attention(&self, h: &Head<'_, f32>, causal: bool, reps: usize) -> crate::Result<f64>;
    /// Seconds for `reps` GEMM launches on resident inputs (best), synchronised.
    fn time_matmul(&self, m: usize, n: usize, k: usize, reps: usize) -> crate::Result<f64>;
}

/// Largest head dimension the kernels support (register/workgroup arrays are sized for it).
pub const MAX_D: usize = 64;
