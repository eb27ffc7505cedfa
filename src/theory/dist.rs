//! Squared Euclidean distance: the decomposition ‖q−k‖² = ‖q‖² + ‖k‖² − 2⟨q,k⟩ and its
//! floating-point error (theorems `dist.decomposition`, `dist.rank`, `euclid.as_dot`).
//!
//! Direct form D̂ = fl(Σ (qᵢ − kᵢ)²): each difference is rounded once, each square once, the sum of
//! d terms with γ_{d−1}; together |D̂ − D| ≤ γ_{d+2}·D — a *relative* bound, good even when q ≈ k.
//!
//! Expanded form Ê = fl(fl(‖q‖²) + fl(‖k‖²) − fl(2⟨q,k⟩)): each of the three sums of d products
//! carries γ_d relative to its absolute sum, the two outer additions γ₂ more, so
//! |Ê − D| ≤ γ_{d+2}·(‖q‖² + ‖k‖² + 2Σ|qᵢkᵢ|) — an *absolute* bound of size ≈ 4γ‖q‖² when q ≈ k, where
//! D → 0: the expanded form loses all relative accuracy under cancellation.
use super::fp::gamma;

/// ‖q−k‖² in the direct form, in the precision of `T`.
pub fn sqdist_direct<T: num_traits::Float>(q: &[T], k: &[T]) -> T {
    q.iter().zip(k).fold(T::zero(), |acc, (&a, &b)| {
        let t = a - b;
        acc + t * t
    })
}

/// ‖q‖² + ‖k‖² − 2⟨q,k⟩ in the expanded form, in the precision of `T`, with the coefficient of the
/// inner product as a parameter (`coef = −2` is the claim).
pub fn sqdist_expanded<T: num_traits::Float>(q: &[T], k: &[T], coef: T) -> T {
    let qq = q.iter().fold(T::zero(), |a, &x| a + x * x);
    let kk = k.iter().fold(T::zero(), |a, &x| a + x * x);
    let qk = q.iter().zip(k).fold(T::zero(), |a, (&x, &y)| a + x * y);
    qq + kk + coef * qk
}

/// Bound on |D̂_direct − D| for dimension d, unit roundoff u and exact value D.
pub fn direct_bound(d: usize, u: f64, exact: f64) -> f64 {
    gamma(d + 2, u) * exact.abs()
}

/// Bound on |Ê_expanded − D| given ‖q‖², ‖k‖², Σ|qᵢkᵢ| (computed exactly or in higher precision).
pub fn expanded_bound(d: usize, u: f64, qq: f64, kk: f64, abs_qk: f64) -> f64 {
    gamma(d + 2, u) * (qq + kk + 2.0 * abs_qk)
}

/// Exact factors of width d+2 with D = A Bᵀ: row i of A is (‖qᵢ‖², 1, qᵢ), row j of B is
/// (1, ‖kⱼ‖², −2kⱼ). Returns (A, B) row-major, `nq × (d+2)` and `nk × (d+2)`.
pub fn rank_factors(q: &[f64], k: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let w = d + 2;
    let mut a = Vec::with_capacity(q.len() / d * w);
    for qi in q.chunks_exact(d) {
        a.push(qi.iter().map(|x| x * x).sum());
        a.push(1.0);
        a.extend_from_slice(qi);
    }
    let mut b = Vec::with_capacity(k.len() / d * w);
    for kj in k.chunks_exact(d) {
        b.push(1.0);
        b.push(kj.iter().map(|x| x * x).sum());
        b.extend(kj.iter().map(|x| -2.0 * x));
    }
    (a, b)
}
