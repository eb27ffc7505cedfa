//! CUDA backend through `cudarc` with dynamic loading: the crate builds with no CUDA toolkit, and at
//! run time [`CudaBackend::new`] returns [`GpuUnavailable`] unless `libcuda` (driver), a device and
//! `libnvrtc` are present. The kernel (`kernels/causal_attention.cu`) is compiled with NVRTC on first
//! use; the GEMM reference is cuBLAS SGEMM.
use super::{Backend, GpuUnavailable, MAX_D};
use crate::reference::Head;
use crate::{Error, Result};
use cudarc::cublas::{CudaBlas, Gemm, GemmConfig, sys::cublasOperation_t};
use cudarc::driver::{CudaContext, CudaFunction, CudaStream, LaunchConfig, PushKernelArg};
use std::sync::Arc;

pub const ATTENTION_CU: &str = include_str!("kernels/causal_attention.cu");
/// Rows per block (the kernel's BLOCK).
pub const BLOCK_ROWS: usize = 64;

pub struct CudaBackend {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    attention: CudaFunction,
    blas: CudaBlas,
}

fn cu_err(e: impl std::fmt::Debug) -> Error {
    Error::invalid("cuda", format!("{e:?}"))
}

/// Launch configuration of the attention kernel for n rows.
pub fn attention_launch(n: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (super::bound::launch_blocks(n, BLOCK_ROWS), 1, 1),
        block_dim: (BLOCK_ROWS as u32, 1, 1),
        shared_mem_bytes: 0,
    }
}

impl CudaBackend {
    /// Device 0 with the kernel compiled, or why not (no driver library, no device, no NVRTC).
    pub fn new() -> std::result::Result<CudaBackend, GpuUnavailable> {
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(GpuUnavailable("no CUDA driver library (libcuda.so) found".into()));
        }
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            return Err(GpuUnavailable("no NVRTC library (libnvrtc.so) found".into()));
        }
        let ctx = CudaContext::new(0).map_err(|e| GpuUnavailable(format!("no CUDA device: {e:?}")))?;
        let opts = cudarc::nvrtc::CompileOptions {
            fmad: Some(false),
            prec_div: Some(true),
            prec_sqrt: Some(true),
            use_fast_math: Some(false),
            ..Default::default()
        };
        let ptx = cudarc::nvrtc::compile_ptx_with_opts(ATTENTION_CU, opts)
            .map_err(|e| GpuUnavailable(format!("NVRTC: {e:?}")))?;
        let module = ctx.load_module(ptx).map_err(|e| GpuUnavailable(format!("loading PTX: {e:?}")))?;
        let attention = module.load_function("causal_attention").map_err(|e| GpuUnavailable(format!("{e:?}")))?;
        let stream = ctx.default_stream();
        let blas = CudaBlas::new(stream.clone()).map_err(|e| GpuUnavailable(format!("cuBLAS: {e:?}")))?;
        Ok(CudaBackend { ctx, stream, attention, blas })
    }

    fn check_head(h: &Head<'_, f32>) -> Result<()> {
        h.check()?;
        if h.d > MAX_D || h.dv > MAX_D || h.nq != h.nk {
            return Err(Error::invalid("head", format!("the CUDA kernel needs d, dv ≤ {MAX_D} and nq = nk")));
        }
        Ok(())
    }

    fn run_attention(&self, h: &Head<'_, f32>, causal: bool, reps: usize) -> Result<(Vec<f32>, f64)> {
        Self::check_head(h)?;
        let s = &self.stream;
        let q = s.clone_htod(h.q).map_err(cu_err)?;
        let k = s.clone_htod(h.k).map_err(cu_err)?;
        let v = s.clone_htod(h.v).map_err(cu_err)?;
        let mut out = s.alloc_zeros::<f32>(h.nq * h.dv).map_err(cu_err)?;
        let (n, d, dv, c) = (h.nq as u32, h.d as u32, h.dv as u32, causal as u32);
        let mut best = f64::INFINITY;
        for _ in 0..reps.max(1) + 1 {
            let t = std::time::Instant::now();
            let mut b = s.launch_builder(&self.attention);
            b.arg(&q).arg(&k).arg(&v).arg(&mut out).arg(&n).arg(&d).arg(&dv).arg(&c);
            unsafe { b.launch(attention_launch(h.nq)) }.map_err(cu_err)?;
            s.synchronize().map_err(cu_err)?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        Ok((s.clone_dtoh(&out).map_err(cu_err)?, best))
    }

    fn run_gemm(&self, a: &[f32], b: &[f32], m: usize, n: usize, k: usize, reps: usize) -> Result<(Vec<f32>, f64)> {
        let s = &self.stream;
        let (da, db) = (s.clone_htod(a).map_err(cu_err)?, s.clone_htod(b).map_err(cu_err)?);
        let mut dc = s.alloc_zeros::<f32>(m * n).map_err(cu_err)?;
        // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: call cuBLAS with (n, m, k) and B first.
        let cfg = GemmConfig {
            transa: cublasOperation_t::CUBLAS_OP_N,
            transb: cublasOperation_t::CUBLAS_OP_N,
            m: n as i32,
            n: m as i32,
            k: k as i32,
            alpha: 1.0f32,
            lda: n as i32,
            ldb: k as i32,
            beta: 0.0f32,
            ldc: n as i32,
        };
        let mut best = f64::INFINITY;
        for _ in 0..reps.max(1) + 1 {
            let t = std::time::Instant::now();
            unsafe { self.blas.gemm(cfg, &db, &da, &mut dc) }.map_err(cu_err)?;
            s.synchronize().map_err(cu_err)?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        Ok((s.clone_dtoh(&dc).map_err(cu_err)?, best))
    }
}

impl Backend for CudaBackend {
    fn device_name(&self) -> String {
        format!("{} (CUDA, cudarc)", self.ctx.name().unwrap_or_else(|_| "unknown device".into()))
    }
    fn attention(&self, h: &Head<'_, f32>, causal: bool) -> Result<Vec<f32>> {
        Ok(self.run_attention(h, causal, 0)?.0)
    }
    fn matmul(&self, a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Result<Vec<f32>> {
        Ok(self.run_gemm(a, b, m, n, k, 0)?.0)
    }
    fn time_attention(&self, h: &Head<'_, f32>, causal: bool, reps: usize) -> Result<f64> {
        Ok(self.run_attention(h, causal, reps)?.1)
    }
    fn time_matmul(&self, m: usize, n: usize, k: usize, reps: usize) -> Result<f64> {
        let (a, b) = (vec![1.0f32; m * k], vec![0.5f32; k * n]);
        Ok(self.run_gemm(&a, &b, m, n, k, reps)?.1)
    }
}
