// Exact causal (or full) softmax attention, f32, online softmax; one thread per query row, a block
// of BLOCK rows loads tiles of BLOCK keys into shared memory. Same algorithm as
// src/gpu/wgpu/kernels/causal_attention.wgsl; rounding model in src/gpu/bound.rs.
#define BLOCK 64
#define MAX_D 64

extern "C" __global__ void causal_attention(const float* __restrict__ q, const float* __restrict__ k,
                                            const float* __restrict__ v, float* __restrict__ out,
                                            unsigned int n, unsigned int d, unsigned int dv,
                                            unsigned int causal) {
    __shared__ float k_tile[BLOCK * MAX_D];
    __shared__ float v_tile[BLOCK * MAX_D];
    unsigned int row = blockIdx.x * BLOCK + threadIdx.x;
    bool active = row < n;
    float qr[MAX_D];
    float acc[MAX_D];
    for (unsigned int c = 0; c < MAX_D; ++c) { qr[c] = 0.0f; acc[c] = 0.0f; }
    if (active) for (unsigned int c = 0; c < d; ++c) qr[c] = q[row * d + c];
    float m = -3.0e38f, l = 0.0f;
    unsigned int kend = causal ? min(n, (blockIdx.x + 1) * BLOCK) : n;
    for (unsigned int t0 = 0; t0 < kend; t0 += BLOCK) {
        unsigned int kj = t0 + threadIdx.x;
        if (kj < n) {
            for (unsigned int c = 0; c < d; ++c) k_tile[threadIdx.x * MAX_D + c] = k[kj * d + c];
            for (unsigned int c = 0; c < dv; ++c) v_tile[threadIdx.x * MAX_D + c] = v[kj * dv + c];
        }
        __syncthreads();
        if (active) {
            unsigned int tend = min(BLOCK, n - t0);
            if (causal) tend = row < t0 ? 0 : min(tend, row - t0 + 1);
            for (unsigned int j = 0; j < tend; ++j) {
                float s = 0.0f;
                for (unsigned int c = 0; c < d; ++c) s += qr[c] * k_tile[j * MAX_D + c];
                if (s > m) {
                    float a = expf(m - s);
                    l *= a;
                    for (unsigned int c = 0; c < dv; ++c) acc[c] *= a;
                    m = s;
                }
                float w = expf(s - m);
                l += w;
                for (unsigned int c = 0; c < dv; ++c) acc[c] += w * v_tile[j * MAX_D + c];
            }
        }
        __syncthreads();
    }
    if (active) for (unsigned int c = 0; c < dv; ++c) out[row * dv + c] = acc[c] / l;
}
