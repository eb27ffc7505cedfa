//! wgpu backend: WGSL compute shaders (`kernels/*.wgsl`, embedded with `include_str!`) on any
//! adapter wgpu finds — a GPU through Vulkan/Metal/DX12, or Mesa's software lavapipe/llvmpipe in CI.
//! The adapter can be chosen with wgpu's environment variables (`WGPU_BACKEND`, `WGPU_ADAPTER_NAME`).
use super::{Backend, GpuUnavailable, MAX_D};
use crate::reference::Head;
use crate::{Error, Result};
use wgpu::util::DeviceExt;

pub const ATTENTION_WGSL: &str = include_str!("kernels/causal_attention.wgsl");
pub const MATMUL_WGSL: &str = include_str!("kernels/matmul.wgsl");
/// Rows per workgroup of the attention kernel (its `@workgroup_size`).
pub const WG_ROWS: usize = 64;

pub struct WgpuBackend {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    attention: wgpu::ComputePipeline,
    matmul: wgpu::ComputePipeline,
}

fn gpu_err(e: impl std::fmt::Display) -> Error {
    Error::invalid("wgpu", e.to_string())
}

impl WgpuBackend {
    /// The first adapter wgpu offers (honouring `WGPU_BACKEND` etc.), or why there is none.
    pub fn new() -> std::result::Result<WgpuBackend, GpuUnavailable> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
            .map_err(|e| GpuUnavailable(format!("no wgpu adapter: {e}")))?;
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default()))
            .map_err(|e| GpuUnavailable(format!("wgpu device request failed on {}: {e}", info.name)))?;
        let make = |src: &str, label: &str| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(src.into()),
            });
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        // Shader or pipeline errors are returned, not raised through wgpu's panicking default handler.
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let attention = make(ATTENTION_WGSL, "causal_attention");
        let matmul = make(MATMUL_WGSL, "matmul");
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(GpuUnavailable(format!("WGSL pipelines failed to build on {}: {e}", info.name)));
        }
        Ok(WgpuBackend { device, queue, info, attention, matmul })
    }

    fn storage(&self, data: &[f32], label: &str) -> wgpu::Buffer {
        let bytes: &[u8] = if data.is_empty() { &[0u8; 4] } else { bytemuck::cast_slice(data) };
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        })
    }

    fn uniform(&self, words: [u32; 4]) -> wgpu::Buffer {
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: bytemuck::cast_slice(&words),
            usage: wgpu::BufferUsages::UNIFORM,
        })
    }

    fn output(&self, len: usize) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("out"),
            size: (len.max(1) * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    }

    fn bind(&self, pipeline: &wgpu::ComputePipeline, bufs: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let layout = pipeline.get_bind_group_layout(0);
        let entries: Vec<wgpu::BindGroupEntry<'_>> = bufs
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &layout, entries: &entries })
    }

    fn dispatch(&self, pipeline: &wgpu::ComputePipeline, bg: &wgpu::BindGroup, groups: (u32, u32), reps: usize) {
        let mut enc = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, bg, &[]);
            for _ in 0..reps {
                pass.dispatch_workgroups(groups.0, groups.1, 1);
            }
        }
        self.queue.submit(Some(enc.finish()));
    }

    fn wait(&self) -> Result<()> {
        self.device.poll(wgpu::PollType::wait_indefinitely()).map(|_| ()).map_err(gpu_err)
    }

    fn read(&self, buf: &wgpu::Buffer, len: usize) -> Result<Vec<f32>> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("staging"),
            size: (len.max(1) * 4) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        enc.copy_buffer_to_buffer(buf, 0, &staging, 0, (len.max(1) * 4) as u64);
        self.queue.submit(Some(enc.finish()));
        let slice = staging.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv().map_err(gpu_err)?.map_err(gpu_err)?;
        let data = slice.get_mapped_range().map_err(gpu_err)?;
        let out: Vec<f32> = bytemuck::cast_slice(&data)[..len].to_vec();
        drop(data);
        staging.unmap();
        Ok(out)
    }

    fn check_head(h: &Head<'_, f32>) -> Result<()> {
        h.check()?;
        if h.d > MAX_D || h.dv > MAX_D {
            return Err(Error::invalid(
                "head",
                format!("the GPU kernels support d, dv ≤ {MAX_D}, got d = {}, dv = {}", h.d, h.dv),
            ));
        }
        if h.nq != h.nk {
            return Err(Error::invalid("head", "the GPU kernels need as many queries as keys"));
        }
        Ok(())
    }
}

impl Backend for WgpuBackend {
    fn device_name(&self) -> String {
        format!(
            "{} ({:?}, {:?}, driver {} {})",
            self.info.name, self.info.backend, self.info.device_type, self.info.driver, self.info.driver_info
        )
    }

    fn attention(&self, h: &Head<'_, f32>, causal: bool) -> Result<Vec<f32>> {
        Self::check_head(h)?;
        let (q, k, v) = (self.storage(h.q, "q"), self.storage(h.k, "k"), self.storage(h.v, "v"));
        let out = self.output(h.nq * h.dv);
        let params = self.uniform([h.nq as u32, h.d as u32, h.dv as u32, causal as u32]);
        let bg = self.bind(&self.attention, &[&q, &k, &v, &out, &params]);
        self.dispatch(&self.attention, &bg, (super::bound::launch_blocks(h.nq, WG_ROWS), 1), 1);
        self.read(&out, h.nq * h.dv)
    }

    fn matmul(&self, a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Result<Vec<f32>> {
        if a.len() != m * k || b.len() != k * n {
            return Err(Error::invalid("matmul", format!("expected {m}×{k} and {k}×{n} inputs")));
        }
        let (ab, bb, cb) = (self.storage(a, "a"), self.storage(b, "b"), self.output(m * n));
        let dims = self.uniform([m as u32, n as u32, k as u32, 0]);
        let bg = self.bind(&self.matmul, &[&ab, &bb, &cb, &dims]);
        self.dispatch(&self.matmul, &bg, (n.div_ceil(16) as u32, m.div_ceil(16) as u32), 1);
        self.read(&cb, m * n)
    }

    fn time_attention(&self, h: &Head<'_, f32>, causal: bool, reps: usize) -> Result<f64> {
        Self::check_head(h)?;
        let (q, k, v) = (self.storage(h.q, "q"), self.storage(h.k, "k"), self.storage(h.v, "v"));
        let out = self.output(h.nq * h.dv);
        let params = self.uniform([h.nq as u32, h.d as u32, h.dv as u32, causal as u32]);
        let bg = self.bind(&self.attention, &[&q, &k, &v, &out, &params]);
        let groups = (super::bound::launch_blocks(h.nq, WG_ROWS), 1);
        self.dispatch(&self.attention, &bg, groups, 1);
        self.wait()?;
        let mut best = f64::INFINITY;
        for _ in 0..reps.max(1) {
            let t = std::time::Instant::now();
            self.dispatch(&self.attention, &bg, groups, 1);
            self.wait()?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        Ok(best)
    }

    fn time_matmul(&self, m: usize, n: usize, k: usize, reps: usize) -> Result<f64> {
        let a = vec![1.0f32; m * k];
        let b = vec![0.5f32; k * n];
        let (ab, bb, cb) = (self.storage(&a, "a"), self.storage(&b, "b"), self.output(m * n));
        let dims = self.uniform([m as u32, n as u32, k as u32, 0]);
        let bg = self.bind(&self.matmul, &[&ab, &bb, &cb, &dims]);
        let groups = (n.div_ceil(16) as u32, m.div_ceil(16) as u32);
        self.dispatch(&self.matmul, &bg, groups, 1);
        self.wait()?;
        let mut best = f64::INFINITY;
        for _ in 0..reps.max(1) {
            let t = std::time::Instant::now();
            self.dispatch(&self.matmul, &bg, groups, 1);
            self.wait()?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        Ok(best)
    }
}
