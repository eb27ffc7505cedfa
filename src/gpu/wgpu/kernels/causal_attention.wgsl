// Exact causal (or full) softmax attention, f32, online softmax over key tiles held in workgroup
// memory. One invocation per query row; a workgroup of WG rows loads tiles of WG keys cooperatively.
// Layout: q, k row-major n×d, v row-major n×dv, out n×dv. d, dv ≤ MAX_D.
// Rounding model: see src/gpu/bound.rs (WGSL exp: 3 + 2|x| ULP; division: 2.5 ULP).

struct Params {
    n: u32,
    d: u32,
    dv: u32,
    causal: u32,
};

const WG: u32 = 64u;
const MAX_D: u32 = 64u;

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> k_tile: array<f32, 4096>; // WG × MAX_D
var<workgroup> v_tile: array<f32, 4096>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wid.x * WG + lid.x;
    let live = row < p.n;
    var qr: array<f32, 64>;
    var acc: array<f32, 64>;
    for (var c = 0u; c < MAX_D; c = c + 1u) {
        qr[c] = 0.0;
        acc[c] = 0.0;
    }
    if (live) {
        for (var c = 0u; c < p.d; c = c + 1u) {
            qr[c] = q[row * p.d + c];
        }
    }
    var m = -3.0e38;
    var l = 0.0;
    // Last key any row of this workgroup needs (exclusive).
    var kend = p.n;
    if (p.causal == 1u) {
        kend = min(p.n, (wid.x + 1u) * WG);
    }
    for (var t0 = 0u; t0 < kend; t0 = t0 + WG) {
        let kj = t0 + lid.x;
        if (kj < p.n) {
            for (var c = 0u; c < p.d; c = c + 1u) {
                k_tile[lid.x * MAX_D + c] = k[kj * p.d + c];
            }
            for (var c = 0u; c < p.dv; c = c + 1u) {
                v_tile[lid.x * MAX_D + c] = v[kj * p.dv + c];
            }
        }
        workgroupBarrier();
        if (live) {
            var tend = min(WG, p.n - t0);
            if (p.causal == 1u) {
                if (row < t0) {
                    tend = 0u;
                } else {
                    tend = min(tend, row - t0 + 1u);
                }
            }
            for (var j = 0u; j < tend; j = j + 1u) {
                var s = 0.0;
                for (var c = 0u; c < p.d; c = c + 1u) {
                    s = s + qr[c] * k_tile[j * MAX_D + c];
                }
                if (s > m) {
                    let a = exp(m - s);
                    l = l * a;
                    for (var c = 0u; c < p.dv; c = c + 1u) {
                        acc[c] = acc[c] * a;
                    }
                    m = s;
                }
                let w = exp(s - m);
                l = l + w;
                for (var c = 0u; c < p.dv; c = c + 1u) {
                    acc[c] = acc[c] + w * v_tile[j * MAX_D + c];
                }
            }
        }
        workgroupBarrier();
    }
    if (live) {
        for (var c = 0u; c < p.dv; c = c + 1u) {
            out[row * p.dv + c] = acc[c] / l;
        }
    }
}
