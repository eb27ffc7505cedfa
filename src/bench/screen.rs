//! The minimal pass of a per-key rank-r screen, timed against the exact kernel to bound from above
//! what a certified per-key path could gain on a head (`solver.feasibility`, per-key part; the
//! schedules themselves are counted in `checks::solver_feasibility::perkey`).
//!
//! [`screen_pass`] does, in f32, only what any rank-r per-key screen must do before it can compute
//! a single kept key, and nothing that certifies: the mean key μ and the keys' scatter matrix (GEMM),
//! r orthonormal axes U_r near its top eigenvectors (subspace iteration, [`top_axes`]), the
//! coordinates Y = (K − μ)U_r and P = QU_r (GEMMs), the tail norms t_j = √(‖k_j − μ‖² − ‖y_j‖²) and
//! ρ_i = √(‖q_i‖² − ‖p_i‖²), then per row i the rank-r scores ŝ_ij (eight keys per register with
//! AVX2 + FMA where the CPU has them), the largest lower bound L_i = max_{j≤i}(ŝ_ij − ρ_i t_j) and
//! the count of keys whose upper bound ŝ_ij + ρ_i t_j reaches L_i + ln(ε/(i + 1)) (a key below it
//! is dropped; (i + 1)·e^{L_i + ln(ε/(i+1))} = ε·e^{L_i} ≤ ε·Z). A certified path adds the kept
//! keys' exact scores and values, the output and the rounding margins, so time(exact kernel) /
//! time(screen pass) is an upper bound on its speedup *for this implementation of the pass*.
//! Rounding margins are omitted: the survivor count is the f32 count, not a certified one.
use crate::reference::Head;

/// What one pass found: keys surviving the screen, out of the causal pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScreenCount {
    pub survivors: usize,
    pub pairs: usize,
}

/// C = A·B for `[m, n, k]` through `gemm::gemm`, single-threaded: C (m×n), A (m×k) and B (k×n) each
/// given as (buffer, column stride, row stride), so that a transposed operand is a swap of strides.
/// Panics (an internal shape error, not an input error) if a stride reaches outside its buffer.
fn gemm_strided(
    [m, n, k]: [usize; 3],
    c: (&mut [f32], usize, usize),
    a: (&[f32], usize, usize),
    b: (&[f32], usize, usize),
) {
    let reach = |rows: usize, cols: usize, cs: usize, rs: usize| {
        if rows == 0 || cols == 0 { 0 } else { (rows - 1) * rs + (cols - 1) * cs + 1 }
    };
    assert!(
        reach(m, n, c.1, c.2) <= c.0.len() && reach(m, k, a.1, a.2) <= a.0.len() && reach(k, n, b.1, b.2) <= b.0.len(),
        "gemm_strided: a stride reaches outside its buffer"
    );
    // SAFETY: every index the strides reach lies inside its buffer (asserted above).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.0.as_mut_ptr(),
            c.1 as isize,
            c.2 as isize,
            false,
            a.0.as_ptr(),
            a.1 as isize,
            a.2 as isize,
            b.0.as_ptr(),
            b.1 as isize,
            b.2 as isize,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

per_isa! {
    /// r orthonormal axes of the symmetric d×d matrix `c` (row-major) close to its top eigenvectors:
    /// `iters` steps of subspace iteration V ← orth(C·V) from the r coordinate axes of largest
    /// diagonal, modified Gram–Schmidt in f64. Any orthonormal axes give valid bounds; better ones
    /// keep fewer keys.
    pub fn top_axes(c: &[f64], d: usize, r: usize, iters: usize) -> Vec<f64> = top_axes_body;
}

#[inline(always)]
fn top_axes_body(c: &[f64], d: usize, r: usize, iters: usize) -> Vec<f64> {
    let mut diag: Vec<usize> = (0..d).collect();
    diag.sort_by(|&a, &b| c[b * d + b].total_cmp(&c[a * d + a]));
    let mut v = vec![0f64; r * d];
    for (a, &t) in diag[..r].iter().enumerate() {
        v[a * d + t] = 1.0;
    }
    let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>();
    let orth = |v: &mut [f64]| {
        for a in 0..r {
            let (done, rest) = v.split_at_mut(a * d);
            let va = &mut rest[..d];
            for vb in done.chunks_exact(d) {
                let w = dot(va, vb);
                va.iter_mut().zip(vb).for_each(|(x, &y)| *x -= w * y);
            }
            let nrm = dot(va, va).sqrt();
            if nrm > 0.0 {
                va.iter_mut().for_each(|x| *x /= nrm);
            }
        }
    };
    let mut cv = vec![0f64; r * d];
    for _ in 0..iters {
        // cv_a = C·v_a as axpys over C's rows (C is symmetric), so that it vectorises.
        cv.fill(0.0);
        for (out, va) in cv.chunks_exact_mut(d).zip(v.chunks_exact(d)) {
            for (&w, crow) in va.iter().zip(c.chunks_exact(d)) {
                out.iter_mut().zip(crow).for_each(|(o, &x)| *o += x * w);
            }
        }
        std::mem::swap(&mut v, &mut cv);
        orth(&mut v);
    }
    v
}

/// The per-row inputs of [`screen_rows`]: [`ScreenPrep`]'s arrays, the key count n, the padded
/// row length `stride` of `yt`, `ktail` (n rounded up to 8, zeros beyond n), the rank r and ε.
struct RowsIn<'a> {
    p: &'a [f32],
    yt: &'a [f32],
    ktail: &'a [f32],
    rho: &'a [f32],
    qmu: &'a [f32],
    n: usize,
    stride: usize,
    r: usize,
    eps: f64,
}

impl RowsIn<'_> {
    /// Row i's visible key count m, its coordinates p_i, tail norm ρ_i and q_i·μ.
    #[inline(always)]
    fn row(&self, i: usize) -> (usize, &[f32], f32, f32) {
        ((i + 1).min(self.n), &self.p[i * self.r..(i + 1) * self.r], self.rho[i], self.qmu[i])
    }
}

/// Surviving keys of rows b0..b1: AVX2 + FMA intrinsics where the CPU has them ([`screen_rows_avx2`];
/// the compiler does not vectorise the portable form's lanes), else the portable form.
fn screen_rows(x: &RowsIn<'_>, b0: usize, b1: usize) -> usize {
    use crate::reference::fast_f32::Isa;
    #[cfg(target_arch = "x86_64")]
    if matches!(Isa::detect(), Isa::Avx2Fma | Isa::Avx512) {
        // SAFETY: Isa::detect reports these only where AVX2 and FMA are present.
        return unsafe { screen_rows_avx2(x, b0, b1) };
    }
    screen_rows_body(x, b0, b1)
}

/// [`screen_rows_body`] with 8-lane AVX2 registers: the same steps (FMA-contracted rank-r scores, so
/// its count can differ from the portable one by keys within rounding of the threshold). The last,
/// partial vector of a row is computed whole (the arrays are padded to `stride`) and its lanes
/// beyond the row masked.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn screen_rows_avx2(x: &RowsIn<'_>, b0: usize, b1: usize) -> usize {
    use std::arch::x86_64::*;
    let (s, r) = (x.stride, x.r);
    let mut upper = vec![0f32; s];
    let mut kept = 0usize;
    let mut pv = [_mm256_setzero_ps(); 64];
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let ninf = _mm256_set1_ps(f32::NEG_INFINITY);
    for i in b0..b1 {
        let (m, pi, rho, c) = x.row(i);
        for (a, &pa) in pi.iter().enumerate() {
            pv[a] = _mm256_set1_ps(pa);
        }
        let (rv, cv) = (_mm256_set1_ps(rho), _mm256_set1_ps(c));
        // Upper bounds of the 8 keys at j (stored) and their lower bounds (returned).
        let bounds8 = |j: usize, upper: &mut [f32]| {
            let mut acc = cv;
            for (a, p) in pv[..r].iter().enumerate() {
                // SAFETY: j + 8 ≤ stride; yt holds r rows of stride.
                acc = _mm256_fmadd_ps(*p, unsafe { _mm256_loadu_ps(x.yt.as_ptr().add(a * s + j)) }, acc);
            }
            // SAFETY: j + 8 ≤ stride = ktail.len() = upper.len().
            let w = _mm256_mul_ps(rv, unsafe { _mm256_loadu_ps(x.ktail.as_ptr().add(j)) });
            unsafe { _mm256_storeu_ps(upper.as_mut_ptr().add(j), _mm256_add_ps(acc, w)) };
            _mm256_sub_ps(acc, w)
        };
        let full = m / 8 * 8;
        let mut lmax = ninf;
        let mut j = 0;
        // Four independent vectors of 8 keys per step, so that the r-long FMA chains of different
        // keys overlap (one chain alone waits on the FMA latency at every step).
        // SAFETY (loads and stores): j + 32 ≤ full ≤ stride; yt holds r rows of stride, ktail and
        // upper stride each.
        while j + 32 <= full {
            let mut acc = [cv; 4];
            for (a, p) in pv[..r].iter().enumerate() {
                let y = unsafe { x.yt.as_ptr().add(a * s + j) };
                for (u, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm256_fmadd_ps(*p, unsafe { _mm256_loadu_ps(y.add(8 * u)) }, *acc);
                }
            }
            for (u, acc) in acc.iter().enumerate() {
                let w = _mm256_mul_ps(rv, unsafe { _mm256_loadu_ps(x.ktail.as_ptr().add(j + 8 * u)) });
                lmax = _mm256_max_ps(lmax, _mm256_sub_ps(*acc, w));
                unsafe { _mm256_storeu_ps(upper.as_mut_ptr().add(j + 8 * u), _mm256_add_ps(*acc, w)) };
            }
            j += 32;
        }
        while j < full {
            lmax = _mm256_max_ps(lmax, bounds8(j, &mut upper));
            j += 8;
        }
        // Lanes of the last vector that belong to the row (keys full..m).
        let valid = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((m - full) as i32), lane));
        if m > full {
            lmax = _mm256_max_ps(lmax, _mm256_blendv_ps(ninf, bounds8(full, &mut upper), valid));
        }
        let mut lanes = [0f32; 8];
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), lmax) };
        let lm = lanes.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let tau = lm + (x.eps / m as f64).ln() as f32;
        let tv = _mm256_set1_ps(tau);
        let count = |j: usize, mask: __m256| {
            // SAFETY: j + 8 ≤ stride = upper.len().
            let ge = _mm256_cmp_ps::<_CMP_GE_OQ>(unsafe { _mm256_loadu_ps(upper.as_ptr().add(j)) }, tv);
            (_mm256_movemask_ps(_mm256_and_ps(ge, mask)) as u32).count_ones() as usize
        };
        let all = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
        let mut j = 0;
        while j < full {
            kept += count(j, all);
            j += 8;
        }
        if m > full {
            kept += count(full, valid);
        }
    }
    kept
}

#[inline(always)]
fn screen_rows_body(x: &RowsIn<'_>, b0: usize, b1: usize) -> usize {
    let s = x.stride;
    let mut upper = vec![0f32; s];
    let mut kept = 0usize;
    for i in b0..b1 {
        let (m, pi, rho, c) = x.row(i);
        // Eight keys at a time: ŝ = c + Σ_a p_a y_a (r FMAs per lane), the lower bound's running
        // maximum and the upper bound kept for the count.
        let mut lmax = [f32::NEG_INFINITY; 8];
        let full = m / 8 * 8;
        let mut j = 0;
        while j < full {
            let mut acc = [c; 8];
            for (a, &pa) in pi.iter().enumerate() {
                let ya = &x.yt[a * s + j..a * s + j + 8];
                for l in 0..8 {
                    acc[l] += pa * ya[l];
                }
            }
            let kt = &x.ktail[j..j + 8];
            let up = &mut upper[j..j + 8];
            for l in 0..8 {
                let w = rho * kt[l];
                lmax[l] = lmax[l].max(acc[l] - w);
                up[l] = acc[l] + w;
            }
            j += 8;
        }
        let mut lm = lmax.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for jj in full..m {
            let mut acc = c;
            for (a, &pa) in pi.iter().enumerate() {
                acc += pa * x.yt[a * s + jj];
            }
            let w = rho * x.ktail[jj];
            lm = lm.max(acc - w);
            upper[jj] = acc + w;
        }
        let tau = lm + (x.eps / m as f64).ln() as f32;
        let mut cnt = [0u32; 8];
        let mut j = 0;
        while j < full {
            let up = &upper[j..j + 8];
            for l in 0..8 {
                cnt[l] += (up[l] >= tau) as u32;
            }
            j += 8;
        }
        kept += cnt.iter().map(|&v| v as usize).sum::<usize>() + upper[full..m].iter().filter(|&&u| u >= tau).count();
    }
    kept
}

/// What [`screen_count`] needs of a head, computed once ([`screen_prepare`]): the keys' coordinates
/// Yᵀ = U_r(K − μ)ᵀ stored axis by axis (r rows of `stride` = n rounded up to 8, zero-padded), the
/// queries' P = QU_rᵀ (nq × r), the keys' tail norms t_j = √(‖k_j − μ‖² − ‖y_j‖²) (zero-padded),
/// and per query ρ_i = √(‖q_i‖² − ‖p_i‖²) and q_i·μ.
#[derive(Debug, Clone)]
pub struct ScreenPrep {
    yt: Vec<f32>,
    p: Vec<f32>,
    ktail: Vec<f32>,
    rho: Vec<f32>,
    qmu: Vec<f32>,
    stride: usize,
    r: usize,
}

/// x·y with eight partial sums (lanes the compiler can vectorise; a single running sum cannot be).
#[inline(always)]
fn dot8(x: &[f32], y: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    for (a, b) in x.chunks_exact(8).zip(y.chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += a[l] * b[l];
        }
    }
    let tail: f32 = x.chunks_exact(8).remainder().iter().zip(y.chunks_exact(8).remainder()).map(|(a, b)| a * b).sum();
    acc.iter().sum::<f32>() + tail
}

/// The preparation of a rank-r screen ([module docs](self)): μ, the scatter matrix (K − μ)ᵀ(K − μ) by
/// one GEMM, r axes by `iters` steps of subspace iteration ([`top_axes`]), the coordinate GEMMs and
/// the norms. All on the calling thread: at n = 512 handing a GEMM to a second thread
/// (`rayon::join`) cost more than the GEMM.
pub fn screen_prepare(h: &Head<'_, f32>, r: usize, iters: usize) -> ScreenPrep {
    let (n, d, nq) = (h.nk, h.d, h.nq);
    let r = r.clamp(1, d.min(64));
    let stride = n.div_ceil(8) * 8;
    let mut mu = vec![0f64; d];
    for row in h.k.chunks_exact(d) {
        mu.iter_mut().zip(row).for_each(|(m, &x)| *m += x as f64);
    }
    let mu: Vec<f32> = mu.iter().map(|m| (m / n.max(1) as f64) as f32).collect();
    let mut kc = vec![0f32; n * d];
    for (o, row) in kc.chunks_exact_mut(d).zip(h.k.chunks_exact(d)) {
        o.iter_mut().zip(row).zip(&mu).for_each(|((o, &x), &m)| *o = x - m);
    }
    // Scatter matrix Kcᵀ·Kc (d×d): Kcᵀ read through strides (column stride d, row stride 1).
    let mut scatter = vec![0f32; d * d];
    gemm_strided([d, d, n], (&mut scatter, 1, d), (&kc, d, 1), (&kc, 1, d));
    let c64: Vec<f64> = scatter.iter().map(|&x| x as f64).collect();
    let ut: Vec<f32> = top_axes(&c64, d, r, iters).iter().map(|&x| x as f32).collect();
    // Keys' coordinates axis by axis (Yᵀ = U_r·Kcᵀ, r × stride), queries' row by row (P = Q·U_rᵀ).
    let mut yt = vec![0f32; r * stride];
    let mut p = vec![0f32; nq * r];
    gemm_strided([r, n, d], (&mut yt, 1, stride), (&ut, 1, d), (&kc, d, 1));
    gemm_strided([nq, r, d], (&mut p, 1, r), (h.q, 1, d), (&ut, d, 1));
    let mut ky2 = vec![0f32; n];
    for a in 0..r {
        ky2.iter_mut().zip(&yt[a * stride..a * stride + n]).for_each(|(s, &y)| *s += y * y);
    }
    let mut ktail = vec![0f32; stride];
    for ((t, k), &y2) in ktail.iter_mut().zip(kc.chunks_exact(d)).zip(&ky2) {
        *t = (dot8(k, k) - y2).max(0.0).sqrt();
    }
    let (mut rho, mut qmu) = (vec![0f32; nq], vec![0f32; nq]);
    for (i, q) in h.q.chunks_exact(d).enumerate() {
        let pi = &p[i * r..(i + 1) * r];
        rho[i] = (dot8(q, q) - dot8(pi, pi)).max(0.0).sqrt();
        qmu[i] = dot8(q, &mu);
    }
    ScreenPrep { yt, p, ktail, rho, qmu, stride, r }
}

/// The per-row part of the screen ([module docs](self)) with tolerance ε on the dropped mass
/// relative to Z, given the head's [`screen_prepare`], on the calling thread: on the rayon pool the
/// rows ran no faster on two threads than on one, and waking the second thread after the
/// preparation cost more than the rows (`cargo bench --bench bench_main -- cpu_screen`: the whole
/// rank-8 pass 194 µs with the pool at 60f5570, 135 µs without, on the Intel Xeon of session 13).
/// One buffer of upper bounds serves every row. Per row the
/// rank-r scores are r axpys over the keys' coordinates, then one max pass and one count.
pub fn screen_count(h: &Head<'_, f32>, prep: &ScreenPrep, eps: f64) -> ScreenCount {
    let n = h.nk;
    ScreenCount { survivors: screen_rows(&prep.rows(n, eps), 0, h.nq), pairs: (0..h.nq).map(|i| (i + 1).min(n)).sum() }
}

impl ScreenPrep {
    /// The per-row inputs over `n` keys with tolerance ε.
    fn rows(&self, n: usize, eps: f64) -> RowsIn<'_> {
        RowsIn {
            p: &self.p,
            yt: &self.yt,
            ktail: &self.ktail,
            rho: &self.rho,
            qmu: &self.qmu,
            n,
            stride: self.stride,
            r: self.r,
            eps,
        }
    }
}

/// The minimal rank-r screen pass of a causal self-attention head ([module docs](self)), tolerance ε
/// on the dropped mass relative to Z; `iters` subspace-iteration steps for the axes ([`top_axes`]):
/// [`screen_prepare`] then [`screen_count`].
pub fn screen_pass(h: &Head<'_, f32>, r: usize, eps: f64, iters: usize) -> ScreenCount {
    screen_count(h, &screen_prepare(h, r, iters), eps)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The f32 pass counts what a float64 evaluation of the same rule counts, up to keys within
    /// f32 rounding of the threshold (≤ 0.5 % of the pairs), on the shipped sink head.
    #[test]
    fn screen_counts_match_a_float64_evaluation() {
        let heads = crate::data::load_heads(&crate::data::shipped_slice()).unwrap();
        let hd = heads.iter().find(|h| h.layer == 0 && h.head == 0).unwrap();
        let h = Head::new(&hd.q, &hd.k, &hd.v, hd.n, hd.d, hd.dv()).unwrap();
        let (q, k, _) = hd.widen();
        let (n, d) = (hd.n, hd.d);
        let kp = crate::checks::solver_feasibility::perkey::key_principal(&k, n, d);
        for r in [8usize, 16, d] {
            let got = screen_pass(&h, r, 5e-3, 12);
            let mut want = 0usize;
            for i in 0..n {
                let qi = &q[i * d..(i + 1) * d];
                let s: Vec<f64> =
                    k[..(i + 1) * d].chunks_exact(d).map(|kj| kj.iter().zip(qi).map(|(a, b)| a * b).sum()).collect();
                let b = kp.row_bounds(&kp.row_query(qi, &s), i + 1, r);
                let lmax = b.iter().map(|x| x.0).fold(f64::NEG_INFINITY, f64::max);
                let tau = lmax + (5e-3 / (i + 1) as f64).ln();
                want += b.iter().filter(|x| x.1 >= tau).count();
            }
            assert_eq!(got.pairs, n * (n + 1) / 2);
            let diff = got.survivors.abs_diff(want) as f64 / got.pairs as f64;
            assert!(diff <= 5e-3, "rank {r}: f32 {} vs f64 {want} survivors of {}", got.survivors, got.pairs);
            // The portable body (what a CPU without AVX2 runs) counts the same up to rounding.
            let prep = screen_prepare(&h, r, 12);
            let portable = screen_rows_body(&prep.rows(n, 5e-3), 0, n);
            assert!(
                portable.abs_diff(want) as f64 / got.pairs as f64 <= 5e-3,
                "rank {r}: portable {portable} vs f64 {want}"
            );
            if r == d {
                assert!(want >= n, "every row keeps its largest score");
            }
        }
    }
}
