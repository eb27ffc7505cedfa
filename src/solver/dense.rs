//! Blocked float64 evaluation for the solver: scores of a block of rows against a block of keys (or
//! node centres) by one GEMM, weights, and numerators by a second GEMM, with the certificate of
//! [`super::certificate`].
//!
//! Rounding: `gemm` forms every entry Σ_l a_l b_l by some binary tree of additions over the products
//! (each product rounded or fused, any blocking; no Strassen-type algorithm). That is all the
//! model of [`crate::theory::solver`] assumes of a dot product (γ_d relative to Σ|a_l b_l|) and of a
//! sum of T weighted terms (γ_T relative to the sum of absolute values); exact zeros (masked keys,
//! nodes not accepted) add no rounding, so counting them in T only loosens the bound.
use super::Prepared;
use super::certificate::{Accum, RowModel, SKIP_BELOW};
use super::lanes::{lanes_max, lanes_min, lanes_sum_above, shifted_exp};

/// C (m×n) = A (m×k) · Bᵀ, A and B row-major (B is n×k), C row-major; one thread.
pub fn gemm_abt(m: usize, n: usize, k: usize, a: &[f64], b: &[f64], c: &mut [f64]) {
    assert!(a.len() >= m * k && b.len() >= n * k && c.len() >= m * n, "gemm_abt: shapes");
    // SAFETY: the asserted lengths cover every index the strides reach (Bᵀ: column stride k).
    unsafe { gemm_raw(m, n, k, c, false, a, k, b, (k as isize, 1)) }
}

/// [`gemm_abt`] in float32 (the tree path's float32 block products); same rounding model, u = 2⁻²⁴.
pub fn gemm_abt_f32(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= n * k && c.len() >= m * n, "gemm_abt_f32: shapes");
    // SAFETY: the asserted lengths cover every index the strides reach (Bᵀ: column stride k).
    unsafe { gemm_raw(m, n, k, c, false, a, k, b, (k as isize, 1)) }
}

/// C (m×n) (+)= A (m×k, row stride `lda`) · B (k×n row-major); C row-major. `accumulate` adds to C.
pub fn gemm_ab(m: usize, n: usize, k: usize, a: &[f64], lda: usize, b: &[f64], c: &mut [f64], accumulate: bool) {
    assert!(lda >= k && (m == 0 || a.len() >= (m - 1) * lda + k), "gemm_ab: shapes of A");
    assert!(b.len() >= k * n && c.len() >= m * n, "gemm_ab: shapes of B, C");
    // SAFETY: the asserted lengths cover every index the strides reach.
    unsafe { gemm_raw(m, n, k, c, accumulate, a, lda, b, (1, n as isize)) }
}

/// [`gemm_ab`] in float32 (the first-order moments and their products, [`super::tree`],
/// [`super::batch`]), with B's row stride `ldb` ≥ n; same rounding model with u = 2⁻²⁴. With n a
/// multiple of the vector width and B column-contiguous, gemm reads B in place instead of packing
/// it for every call (the tree path's transposed frontier centres, `ldb` = their capacity).
#[allow(clippy::too_many_arguments)]
pub fn gemm_ab_f32(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    accumulate: bool,
) {
    assert!(lda >= k && (m == 0 || a.len() >= (m - 1) * lda + k), "gemm_ab_f32: shapes of A");
    assert!(ldb >= n && (k == 0 || b.len() >= (k - 1) * ldb + n) && c.len() >= m * n, "gemm_ab_f32: shapes of B, C");
    // SAFETY: the asserted lengths cover every index the strides reach.
    unsafe { gemm_raw(m, n, k, c, accumulate, a, lda, b, (1, ldb as isize)) }
}

/// C (m×n, row-major) (+)= A (m×k, row stride `lda`) · B with B's (column, row) strides `bs`; one
/// thread. Empty shapes are handled here (k = 0: C = 0 unless accumulating).
///
/// SAFETY: the caller guarantees that every addressed element is in bounds of its buffer.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_raw<T: num_traits::Float + 'static>(
    m: usize,
    n: usize,
    k: usize,
    c: &mut [T],
    accumulate: bool,
    a: &[T],
    lda: usize,
    b: &[T],
    bs: (isize, isize),
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(T::zero());
        }
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            1,
            lda as isize,
            b.as_ptr(),
            bs.0,
            bs.1,
            if accumulate { T::one() } else { T::zero() },
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// Rows per block of [`exact_rows`] (`solve` SmolLM2 gpl3_n4096 at tol 1e-3, median speedup over
/// 27 heads: 0.21 with 16 rows, 0.22 with 32, 0.23 with 64).
pub const EXACT_BLOCK: usize = 64;

per_isa! {
    /// The exact path for the query rows `rows` (sorted ascending, each row sees keys [0, L(i))): per
    /// block of [`EXACT_BLOCK`] rows, S = Q_block·K[0, L_max)ᵀ, ρ_i = max_j ŝ_ij, P_ij = e^{ŝ_ij − ρ_i}
    /// (0 for j ≥ L(i)), N = P·V, certified by [`Accum::finish`] with T = L(i) terms. Returns per row
    /// (ε, output row). One thread per call (callers parallelise over blocks).
    pub fn exact_rows(p: &Prepared<'_>, rows: &[usize]) -> Vec<(f64, Vec<f64>)> = exact_rows_body;
}

#[inline(always)]
fn exact_rows_body(p: &Prepared<'_>, rows: &[usize]) -> Vec<(f64, Vec<f64>)> {
    let (d, dv, n) = (p.d, p.dv, p.n);
    let mut res = Vec::with_capacity(rows.len());
    let mut s = Vec::new();
    let mut qb = Vec::new();
    let mut nb = Vec::new();
    let mut sc = Vec::new();
    let (kw, vw) = p.kv_wide();
    for blk in rows.chunks(EXACT_BLOCK) {
        let r = blk.len();
        let lim: Vec<usize> = blk.iter().map(|&i| p.mask.keys(i, n).end).collect();
        let lmax = lim.iter().cloned().max().unwrap_or(0);
        p.widen_q_rows(blk.iter().copied(), &mut qb);
        s.clear();
        s.resize(r * lmax, 0.0);
        gemm_abt(r, lmax, d, &qb, &kw[..lmax * d], &mut s);
        let mut accs = Vec::with_capacity(r);
        for (t, &i) in blk.iter().enumerate() {
            let row = &mut s[t * lmax..(t + 1) * lmax];
            let l = lim[t];
            let rho = lanes_max(&row[..l]);
            let model = RowModel { eta: p.eta(i), vmax: p.vmax };
            let mut acc = Accum::new(rho, model);
            acc.nterms = l;
            // Weights e^{ŝ − ρ} (vectorised exp, within θ); scores below ρ + SKIP_BELOW are zeroed
            // and their mass counted as skipped (one cut for both).
            sc.clear();
            sc.extend_from_slice(&row[..l]);
            shifted_exp(&sc, rho, &mut row[..l]);
            let cut = rho + SKIP_BELOW;
            acc.zh += lanes_sum_above(&sc, cut, &mut row[..l]);
            if l > 0 && lanes_min(&sc) < cut {
                for &x in sc.iter().filter(|&&x| x < cut) {
                    acc.skip_exact(x - rho);
                }
            }
            row[l..].fill(0.0);
            accs.push((acc, model));
        }
        nb.clear();
        nb.resize(r * dv, 0.0);
        gemm_ab(r, dv, lmax, &s, lmax, &vw[..lmax * dv], &mut nb, false);
        for (t, (acc, model)) in accs.into_iter().enumerate() {
            let mut o = nb[t * dv..(t + 1) * dv].to_vec();
            let eps = if lim[t] == 0 { f64::INFINITY } else { acc.finish(model, &mut o) };
            res.push((eps, o));
        }
    }
    res
}
