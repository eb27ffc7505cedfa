//! Stub of the wgpu backend when the `wgpu` feature is off: same names, always unavailable.
use super::GpuUnavailable;

pub struct WgpuBackend;

impl WgpuBackend {
    /// Always unavailable: built without the `wgpu` feature.
    pub fn new() -> Result<WgpuBackend, GpuUnavailable> {
        Err(GpuUnavailable("built without the `wgpu` feature (cargo build --features wgpu)".into()))
    }
}
