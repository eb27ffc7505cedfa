//! `nystrom.*`: Nyström reproduces the landmark rows/columns; with every key as a landmark, Nyström
//! attention equals exact Euclidean attention; the pseudo-inverse satisfies W W⁺ W = W.
use crate::common::*;
use attnproof::theory::fp::{U64, gamma};
use attnproof::theory::nystrom::{self, Entry};
use proptest::prelude::*;

proptest! {
    #![proptest_config(cfg())]
    #[test]
    fn all_keys_as_landmarks_give_exact_euclidean_attention(n in 2usize..=24, d in 1usize..=8, seed: u64) {
        // Spread points (scale 3, τ = 1) keep W = exp(−‖k_i − k_j‖²) well conditioned.
        let h = head(seed, n, d, 2, 3.0 * (d as f64).sqrt());
        let (q, k, v) = (widen(&h.q), widen(&h.k), widen(&h.v));
        let w = nystrom::matrix(Entry::Kernel { tau: 1.0 }, &k, &k, d);
        let sv = w.singular_values();
        let cond = sv.max() / sv.min();
        prop_assume!(cond < 1e6);
        let exact = nystrom::euclid_exact(&q, &k, &v, d, 2, 1.0).unwrap();
        let ap = nystrom::attention(&q, &k, &v, &k, d, 2, 1.0);
        // Two error sources. (1) The two paths compute the logits differently (exact: the expanded form
        // 2q·k/τ − ‖k‖²/τ; Nyström: the direct ‖q−l‖²), each within γ_{d+4}(‖q‖²+‖k‖²+2Σ|q_i k_i|)/τ
        // (theory::dist bounds); a logit perturbation η changes softmax weights by a factor e^{±2η}, so the
        // output moves by ≤ (e^{4η} − 1)·max|v|. (2) W⁺ by SVD: backward stable, so W W⁺ Φ_Kᵀ differs from
        // Φ_Kᵀ by ≤ cond(W)·γ_{n²+n+8}·‖·‖ (Golub–Van Loan §5.5; p(n) = n² taken for the SVD's modest
        // polynomial), which moves each normalised output by at most twice that relative amount.
        let mut eta = 0.0f64;
        for i in 0..n {
            for j in 0..n {
                let (qi, kj) = (&q[i * d..(i + 1) * d], &k[j * d..(j + 1) * d]);
                let s: f64 = qi.iter().map(|x| x * x).sum::<f64>() + kj.iter().map(|x| x * x).sum::<f64>() + 2.0 * qi.iter().zip(kj).map(|(a, b)| (a * b).abs()).sum::<f64>();
                eta = eta.max(2.0 * gamma(d + 4, U64) * s);
            }
        }
        let vmax = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let tol_logits = ((4.0 * eta).exp() - 1.0) * vmax;
        let tol_w = 2.0 * cond * gamma(n * n + n + 8, U64);
        if ap.nonpositive == 0 {
            for (a, b) in ap.out.iter().zip(&exact) {
                prop_assert!((a - b).abs() <= tol_logits + tol_w * vmax, "{a} vs {b}, cond {cond:.2e}, η {eta:.2e}");
            }
        }
    }

    #[test]
    fn pseudo_inverse_reproduces_landmark_block(n in 3usize..=30, k in 1usize..=10, d in 1usize..=6, seed: u64) {
        let h = head(seed, n, d, 1, 1.0);
        let x = widen(&h.k);
        let k = k.min(n);
        let l = &x[..k * d];
        // Nyström with landmarks among the points reproduces the landmark columns of the distance matrix.
        let a = nystrom::matrix(Entry::Dist, &x, &x, d);
        let ap = nystrom::approximate(Entry::Dist, &x, &x, l, d);
        let w = nystrom::matrix(Entry::Dist, l, l, d);
        let sv = w.singular_values();
        prop_assume!(sv.min() > 1e-6 * sv.max());
        // C (W⁺ R): the forward error of X = W⁺R is ≤ cond(W)·p·u·‖X‖ with ‖X‖ ≤ ‖W⁺‖‖R‖, and multiplying
        // back by the landmark rows of C (= W) gives ≤ cond(W)²·p·u·‖R‖, p = γ-count (n+k)² + 8 (the SVD's
        // modest polynomial taken as (n+k)², Golub–Van Loan §5.5); ‖R‖ ≤ ‖A‖_F.
        let cond = sv.max() / sv.min();
        let tol = gamma((n + k) * (n + k) + 8, U64) * a.norm() * cond * cond;
        for j in 0..k {
            for i in 0..n {
                prop_assert!((ap[(i, j)] - a[(i, j)]).abs() <= tol, "({i},{j}) {} vs {}", ap[(i, j)], a[(i, j)]);
            }
        }
    }
}
