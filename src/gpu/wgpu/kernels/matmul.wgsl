// C = A·B, f32, row-major A (m×k), B (k×n), C (m×n); 16×16 tiles in workgroup memory. The same-device
// reference FLOP rate for the attention kernel's benchmark.
struct Dims {
    m: u32,
    n: u32,
    k: u32,
    pad: u32,
};

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> dims: Dims;

const T: u32 = 16u;
var<workgroup> at: array<f32, 256>;
var<workgroup> bt: array<f32, 256>;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = gid.y;
    let col = gid.x;
    var s = 0.0;
    for (var t = 0u; t < dims.k; t = t + T) {
        let ak = t + lid.x;
        let bk = t + lid.y;
        at[lid.y * T + lid.x] = select(0.0, a[row * dims.k + ak], row < dims.m && ak < dims.k);
        bt[lid.y * T + lid.x] = select(0.0, b[bk * dims.n + col], bk < dims.k && col < dims.n);
        workgroupBarrier();
        for (var i = 0u; i < T; i = i + 1u) {
            s = s + at[lid.y * T + i] * bt[i * T + lid.x];
        }
        workgroupBarrier();
    }
    if (row < dims.m && col < dims.n) {
        c[row * dims.n + col] = s;
    }
}
