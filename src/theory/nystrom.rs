//! Nyström approximation of distance and kernel matrices, landmark strategies, Nyström–Euclidean
//! attention, and the published SPSD bounds (theorems `nystrom.error_rank`, `nystrom.sqrt_n`,
//! `nystrom.landmarks`, `nystrom.attention`, `speed.crossover`, `memory.linear`,
//! `retrieval.passkey`).
//!
//! * Entry functions f(x, y): plain distance ‖x−y‖, squared distance ‖x−y‖², and the Euclidean
//!   attention kernel exp(−‖x−y‖²/τ) (SPSD: a Gaussian RBF).
//! * Nyström with landmark points L (k×d): A = f(X, Y) ≈ f(X, L) W⁺ f(L, Y), W = f(L, L); the
//!   pseudo-inverse (symmetric eigendecomposition) drops eigenvalues |λ| ≤ [`RCOND_FACTOR`]·k·ε₆₄·max|λ|
//!   (MATLAB's `pinv` default, max(size)·eps·‖W‖₂).
//! * Attention (note 000): out_i = (Φ_Q (W⁺ (Φ_Kᵀ V)))_i / (Φ_Q (W⁺ (Φ_Kᵀ 1)))_i with
//!   Φ_Q = f(Q, L), Φ_K = f(K, L), f the attention kernel: O(nkd + k³ + nk·dv) time and O(nk) memory.
//!   The normaliser is not guaranteed positive (W⁺ has negative entries); rows with normaliser ≤ 0
//!   are counted and their output is left at zero.
//! * Bounds for SPSD G (n×n), k = rank of the approximation, c (or l) landmarks:
//!   Drineas–Mahoney 2005 Thm 3 (Frobenius, c ≥ 64k/ε⁴ columns sampled i.i.d. ∝ G_ii²):
//!   ‖G − G̃_k‖_F ≤ ‖G − G_k‖_F + ε Σ G_ii² w.p. ≥ 1−δ when c ≥ 64kη²/ε⁴, η = 1 + √(8 ln(1/δ)),
//!   i.e. ε = (64kη²/c)^{1/4};
//!   Kumar–Mohri–Talwalkar 2012 Thm 2 (uniform without replacement): ‖K − K̃‖_F ≤ ‖K − K_k‖_F +
//!   (64k/l)^{1/4} n K_max [1 + √((n−l)/(n−½) · (1/β(l,n)) · ln(1/δ)) · d_max/K_max^{1/2}]^{1/2},
//!   β(l, n) = 1 − 1/(2 max{l, n−l}).
//!   No bound exists for (non-PSD) distance matrices.
use crate::{Error, Result};
use nalgebra::DMatrix;
use rand::RngExt;

/// The pseudo-inverse cutoff factor: σ ≤ RCOND_FACTOR·max(rows, cols)·ε₆₄·σ₁ is dropped.
pub const RCOND_FACTOR: f64 = 1.0;

/// The matrix whose entries Nyström approximates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Entry {
    /// ‖x − y‖.
    Dist,
    /// ‖x − y‖².
    SqDist,
    /// exp(−‖x − y‖²/τ).
    Kernel { tau: f64 },
}

impl Entry {
    pub fn eval(self, a: &[f64], b: &[f64]) -> f64 {
        let s: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
        match self {
            Entry::Dist => s.sqrt(),
            Entry::SqDist => s,
            Entry::Kernel { tau } => (-s / tau).exp(),
        }
    }
    pub fn label(self) -> String {
        match self {
            Entry::Dist => "‖q−k‖".into(),
            Entry::SqDist => "‖q−k‖²".into(),
            Entry::Kernel { tau } => format!("exp(−‖q−k‖²/{tau:.3})"),
        }
    }
}

/// f(X, Y) for row-major X (nx×d), Y (ny×d).
pub fn matrix(e: Entry, x: &[f64], y: &[f64], d: usize) -> DMatrix<f64> {
    let (nx, ny) = (x.len() / d, y.len() / d);
    DMatrix::from_fn(nx, ny, |i, j| e.eval(&x[i * d..(i + 1) * d], &y[j * d..(j + 1) * d]))
}

/// Median of the squared distances between rows of x and rows of y (at most 200×200 pairs are
/// looked at): the median heuristic for τ.
pub fn median_sqdist(x: &[f64], y: &[f64], d: usize) -> f64 {
    let (nx, ny) = (x.len() / d, y.len() / d);
    let (sx, sy) = ((nx / 200).max(1), (ny / 200).max(1));
    let mut v = Vec::new();
    for i in (0..nx).step_by(sx) {
        for j in (0..ny).step_by(sy) {
            v.push(Entry::SqDist.eval(&x[i * d..(i + 1) * d], &y[j * d..(j + 1) * d]));
        }
    }
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(1.0).max(f64::MIN_POSITIVE)
}

/// Pseudo-inverse with the cutoff of [`RCOND_FACTOR`]. W = f(L, L) is symmetric (every entry function
/// here is), so the symmetric eigendecomposition W = Σ λ_t v_t v_tᵀ is used (W⁺ = Σ_{|λ_t| > tol} v_t v_tᵀ/λ_t,
/// tol = RCOND_FACTOR·k·ε₆₄·max|λ|; singular values are |λ_t|); a non-symmetric W falls back to the SVD.
/// (nalgebra's SVD lost ~1e-9 relative accuracy on a near-identity RBF Gram matrix in a property test;
/// the symmetric eigensolver does not.)
pub fn pinv(w: &DMatrix<f64>) -> DMatrix<f64> {
    let (r, c) = w.shape();
    let symmetric = r == c && (0..r).all(|i| (0..i).all(|j| w[(i, j)] == w[(j, i)]));
    if symmetric {
        let e = w.clone().symmetric_eigen();
        let lmax = e.eigenvalues.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let tol = RCOND_FACTOR * r as f64 * f64::EPSILON * lmax;
        let mut out = DMatrix::zeros(r, r);
        for (t, &l) in e.eigenvalues.iter().enumerate() {
            if l.abs() > tol {
                let v = e.eigenvectors.column(t);
                out += v * v.transpose() / l;
            }
        }
        return out;
    }
    let svd = w.clone().svd(true, true);
    let s1 = svd.singular_values.iter().cloned().fold(0.0, f64::max);
    let tol = RCOND_FACTOR * r.max(c) as f64 * f64::EPSILON * s1;
    let (u, vt) = (svd.u.expect("u requested"), svd.v_t.expect("v_t requested"));
    let mut out = DMatrix::zeros(c, r);
    for (t, &s) in svd.singular_values.iter().enumerate() {
        if s > tol {
            out += vt.row(t).transpose() * u.column(t).transpose() / s;
        }
    }
    out
}

/// Landmark strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// k distinct points uniformly without replacement.
    Uniform,
    /// k-means++ seeding (D² sampling) then 5 Lloyd iterations (as Kumar et al. 2012); landmarks are
    /// the centroids.
    KmeansPP,
    /// Greedy pivoted Cholesky of the kernel exp(−‖x−y‖²/τ) on the points: the point with the largest
    /// residual diagonal is taken next.
    PivotedCholesky,
}

impl Strategy {
    pub const ALL: [Strategy; 3] = [Strategy::Uniform, Strategy::KmeansPP, Strategy::PivotedCholesky];
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Uniform => "uniform",
            Strategy::KmeansPP => "kmeans++",
            Strategy::PivotedCholesky => "pivoted-cholesky",
        }
    }
    pub fn from_index(i: usize) -> Result<Strategy> {
        Strategy::ALL
            .get(i)
            .copied()
            .ok_or_else(|| Error::invalid("strategy", format!("landmark strategy index {i} outside 0..3")))
    }
}

fn sq(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// k landmark points (k×d, row-major) chosen from the rows of `pts` (n×d). `tau` is the kernel
/// bandwidth used by pivoted Cholesky.
pub fn landmarks(s: Strategy, pts: &[f64], d: usize, k: usize, tau: f64, rng: &mut impl rand::Rng) -> Result<Vec<f64>> {
    let n = pts.len() / d.max(1);
    if d == 0 || k == 0 || k > n {
        return Err(Error::invalid("landmarks", format!("need 1 ≤ k ≤ n and d ≥ 1, got k = {k}, n = {n}, d = {d}")));
    }
    let row = |i: usize| &pts[i * d..(i + 1) * d];
    let idx: Vec<usize> = match s {
        Strategy::Uniform => {
            let mut perm: Vec<usize> = (0..n).collect();
            for t in 0..k {
                let j = rng.random_range(t..n);
                perm.swap(t, j);
            }
            perm.truncate(k);
            perm
        }
        Strategy::KmeansPP => {
            let mut cent: Vec<Vec<f64>> = vec![row(rng.random_range(0..n)).to_vec()];
            let mut dmin: Vec<f64> = (0..n).map(|i| sq(row(i), &cent[0])).collect();
            while cent.len() < k {
                let tot: f64 = dmin.iter().sum();
                let pick = if tot > 0.0 {
                    let u = rng.random_range(0.0..tot);
                    let mut acc = 0.0;
                    let mut p = n - 1;
                    for (i, &x) in dmin.iter().enumerate() {
                        acc += x;
                        if u < acc {
                            p = i;
                            break;
                        }
                    }
                    p
                } else {
                    rng.random_range(0..n)
                };
                cent.push(row(pick).to_vec());
                let c = cent.last().expect("just pushed").clone();
                for i in 0..n {
                    dmin[i] = dmin[i].min(sq(row(i), &c));
                }
            }
            for _ in 0..5 {
                let mut sums = vec![vec![0.0; d]; k];
                let mut cnt = vec![0usize; k];
                for i in 0..n {
                    let a = (0..k).min_by(|&a, &b| sq(row(i), &cent[a]).total_cmp(&sq(row(i), &cent[b]))).unwrap_or(0);
                    cnt[a] += 1;
                    for t in 0..d {
                        sums[a][t] += row(i)[t];
                    }
                }
                for c in 0..k {
                    if cnt[c] > 0 {
                        for t in 0..d {
                            cent[c][t] = sums[c][t] / cnt[c] as f64;
                        }
                    }
                }
            }
            return Ok(cent.concat());
        }
        Strategy::PivotedCholesky => {
            let kern = Entry::Kernel { tau };
            let mut diag = vec![1.0f64; n];
            let mut cols: Vec<Vec<f64>> = Vec::with_capacity(k);
            let mut piv = Vec::with_capacity(k);
            for _ in 0..k {
                let p = (0..n).filter(|i| !piv.contains(i)).max_by(|&a, &b| diag[a].total_cmp(&diag[b])).unwrap_or(0);
                let dp = diag[p];
                piv.push(p);
                if dp <= 0.0 {
                    continue;
                }
                let mut col: Vec<f64> = (0..n).map(|i| kern.eval(row(i), row(p))).collect();
                for c in &cols {
                    let cp = c[p];
                    for i in 0..n {
                        col[i] -= c[i] * cp;
                    }
                }
                let sdp = dp.sqrt();
                col.iter_mut().for_each(|x| *x /= sdp);
                for i in 0..n {
                    diag[i] -= col[i] * col[i];
                }
                cols.push(col);
            }
            piv
        }
    };
    Ok(idx.iter().flat_map(|&i| row(i).iter().copied()).collect())
}

/// Nyström approximation f(X, L) W⁺ f(L, Y).
pub fn approximate(e: Entry, x: &[f64], y: &[f64], l: &[f64], d: usize) -> DMatrix<f64> {
    let c = matrix(e, x, l, d);
    let w = matrix(e, l, l, d);
    let r = matrix(e, l, y, d);
    c * (pinv(&w) * r)
}

/// ‖A − Ã‖_F / ‖A‖_F.
pub fn rel_frobenius(a: &DMatrix<f64>, approx: &DMatrix<f64>) -> f64 {
    (a - approx).norm() / a.norm()
}

/// Result of Nyström–Euclidean attention.
pub struct AttnOut {
    /// n × dv row-major.
    pub out: Vec<f64>,
    /// Rows whose normaliser was ≤ 0 (output left at 0).
    pub nonpositive: usize,
}

/// Nyström–Euclidean attention with landmarks `l` (k×d) and kernel exp(−‖q−k‖²/τ).
pub fn attention(q: &[f64], k: &[f64], v: &[f64], l: &[f64], d: usize, dv: usize, tau: f64) -> AttnOut {
    let e = Entry::Kernel { tau };
    let n = q.len() / d;
    let nk = k.len() / d;
    let phi_q = matrix(e, q, l, d);
    let phi_k = matrix(e, k, l, d);
    let w = pinv(&matrix(e, l, l, d));
    let mut v1 = DMatrix::zeros(nk, dv + 1);
    for j in 0..nk {
        for t in 0..dv {
            v1[(j, t)] = v[j * dv + t];
        }
        v1[(j, dv)] = 1.0;
    }
    let num = phi_q * (w * (phi_k.transpose() * v1));
    let mut out = vec![0.0; n * dv];
    let mut nonpositive = 0;
    for i in 0..n {
        let z = num[(i, dv)];
        if z > 0.0 {
            for t in 0..dv {
                out[i * dv + t] = num[(i, t)] / z;
            }
        } else {
            nonpositive += 1;
        }
    }
    AttnOut { out, nonpositive }
}

/// Exact Euclidean attention softmax_j(−‖q_i − k_j‖²/τ) V in float64, through the reference
/// [`crate::reference::attention_f64`] on augmented vectors: by `euclid.as_dot`,
/// −‖q−k‖²/τ = (2q/τ)·k − ‖k‖²/τ − ‖q‖²/τ and the last term cancels in the softmax, so
/// q' = [2q/τ, 1], k' = [k, −‖k‖²/τ] gives the same weights.
pub fn euclid_exact(q: &[f64], k: &[f64], v: &[f64], d: usize, dv: usize, tau: f64) -> Result<Vec<f64>> {
    let (n, nk) = (q.len() / d, k.len() / d);
    let qa: Vec<f64> = (0..n)
        .flat_map(|i| q[i * d..(i + 1) * d].iter().map(move |x| 2.0 * x / tau).chain(std::iter::once(1.0)))
        .collect();
    let ka: Vec<f64> = (0..nk)
        .flat_map(|j| {
            let r = &k[j * d..(j + 1) * d];
            let nn: f64 = r.iter().map(|x| x * x).sum();
            r.iter().copied().chain(std::iter::once(-nn / tau))
        })
        .collect();
    let h = crate::reference::Head { q: &qa, k: &ka, v, nq: n, nk, d: d + 1, dv };
    h.check()?;
    Ok(crate::reference::attention_f64(&h, crate::reference::Mask::Full).out)
}

/// Drineas–Mahoney 2005 Thm 3 (Frobenius, w.p. ≥ 1 − δ): the additive term ε Σ G_ii² with
/// ε = (64 k η² / c)^{1/4}, η = 1 + √(8 ln(1/δ)).
pub fn dm05_frobenius_additive(k: usize, c: usize, delta: f64, sum_diag_sq: f64) -> f64 {
    let eta = 1.0 + (8.0 * (1.0 / delta).ln()).sqrt();
    (64.0 * k as f64 * eta * eta / c as f64).powf(0.25) * sum_diag_sq
}

/// Kumar–Mohri–Talwalkar 2012 Thm 2 (Frobenius, uniform without replacement, w.p. ≥ 1 − δ): the
/// additive term.
pub fn kmt_frobenius_additive(k: usize, l: usize, n: usize, delta: f64, kmax: f64, dmax: f64) -> f64 {
    let (nf, lf) = (n as f64, l as f64);
    let beta = 1.0 - 1.0 / (2.0 * (l.max(n - l)) as f64);
    let inner = ((nf - lf) / (nf - 0.5) / beta * (1.0 / delta).ln()).sqrt() * dmax / kmax.sqrt();
    (64.0 * k as f64 / lf).powf(0.25) * nf * kmax * (1.0 + inner).sqrt()
}

/// Flop model of exact attention (n queries, n keys): 2n²d for scores, 2n²dv for the weighted sum,
/// ~n² exponentials (counted as 1 flop each here).
pub fn flops_exact(n: usize, d: usize, dv: usize) -> f64 {
    let n = n as f64;
    n * n * (2.0 * d as f64 + 2.0 * dv as f64 + 1.0)
}

/// Flop model of Nyström attention with k landmarks: Φ_Q, Φ_K (2·3nkd), W (3k²d), pinv by SVD
/// (~ 12k³ as a round figure), Φ_Kᵀ[V 1] (2nk(dv+1)), W⁺·(k×(dv+1)) (2k²(dv+1)), Φ_Q·(…) (2nk(dv+1)).
pub fn flops_nystrom(n: usize, k: usize, d: usize, dv: usize) -> f64 {
    let (n, k, d, dv) = (n as f64, k as f64, d as f64, dv as f64);
    6.0 * n * k * d + 3.0 * k * k * d + 12.0 * k * k * k + 4.0 * n * k * (dv + 1.0) + 2.0 * k * k * (dv + 1.0)
}

/// Nyström–Euclidean attention in float32 for every query row (the timed and memory-measured
/// variant): Φ_Q (n×k), Φ_K (n×k) and the output are the only O(n) buffers; W⁺ is formed in float64
/// (k×k) by [`pinv`] and rounded to float32. `l` holds k landmark rows of width h.d.
pub fn attention_f32(h: &crate::reference::Head<'_, f32>, l: &[f32], tau: f32) -> Vec<f32> {
    let (d, dv) = (h.d, h.dv);
    let k = l.len() / d;
    let kern = |a: &[f32], b: &[f32]| -> f32 {
        let s: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
        (-s / tau).exp()
    };
    // W⁺ first (constant size), so that the O(n) buffers below determine the peak for every n.
    let wp: Vec<f32> = {
        let w = DMatrix::from_fn(k, k, |a, b| kern(&l[a * d..(a + 1) * d], &l[b * d..(b + 1) * d]) as f64);
        pinv(&w).iter().map(|&x| x as f32).collect() // column-major k×k
    };
    // t = Φ_Kᵀ [V 1] (k × (dv+1)), Φ_K dropped afterwards.
    let c = dv + 1;
    let mut t = vec![0f32; k * c];
    {
        let mut phi_k = vec![0f32; h.nk * k];
        for j in 0..h.nk {
            for a in 0..k {
                phi_k[j * k + a] = kern(h.k_row(j), &l[a * d..(a + 1) * d]);
            }
        }
        for j in 0..h.nk {
            let vj = h.v_row(j);
            for a in 0..k {
                let p = phi_k[j * k + a];
                let row = &mut t[a * c..(a + 1) * c];
                for (r, x) in row.iter_mut().zip(vj) {
                    *r += p * x;
                }
                row[dv] += p;
            }
        }
    }
    // u = W⁺ t.
    let mut u = vec![0f32; k * c];
    for a in 0..k {
        for b in 0..k {
            let wab = wp[a + b * k];
            for x in 0..c {
                u[a * c + x] += wab * t[b * c + x];
            }
        }
    }
    let mut phi_q = vec![0f32; h.nq * k];
    for i in 0..h.nq {
        for a in 0..k {
            phi_q[i * k + a] = kern(h.q_row(i), &l[a * d..(a + 1) * d]);
        }
    }
    let mut out = vec![0f32; h.nq * dv];
    let mut acc = vec![0f32; c];
    for i in 0..h.nq {
        acc.iter_mut().for_each(|x| *x = 0.0);
        for a in 0..k {
            let p = phi_q[i * k + a];
            for x in 0..c {
                acc[x] += p * u[a * c + x];
            }
        }
        let z = acc[dv];
        if z > 0.0 {
            for x in 0..dv {
                out[i * dv + x] = acc[x] / z;
            }
        }
    }
    out
}
