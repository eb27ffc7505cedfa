//! Order-p Taylor expansion of the attention weight across a (query node, key node) pair, the
//! dual-tree ("improved fast Gauss transform") alternative to the solver's first-order single-tree
//! nodes (theorem `solver.complexity`, its low-dimension part).
//!
//! For a query node A (centre c_A, radius R_A ≥ max ‖q − c_A‖) and a key node B (centre c_B,
//! radius R_B), write q = c_A + a, k = c_B + b. Then
//! $$e^{q·k} = e^{q·c_B}\,e^{c_A·b}\,e^{a·b},\qquad |a·b| ≤ ‖a‖‖b‖ ≤ Δ := R_A R_B$$
//! (Cauchy–Schwarz). The first two factors are exact per query resp. per key; only the cross factor
//! is expanded, $e^{a·b} ≈ T_p(a·b) = Σ_{j≤p} (a·b)^j/j! = Σ_{|α|≤p} a^α b^α/α!$ (multinomial
//! theorem), so the pair needs the F = C(p + k, k) moments Σ_b e^{c_A·b} b^α v_b of the key node
//! (k = dimension of the space the offsets live in) and F terms per query. Lagrange's remainder
//! gives |e^x − T_p(x)| ≤ |x|^{p+1}/(p+1)!·e^{|x|}, and e^{a·b} ≥ e^{−Δ}, so every weight of the pair
//! is approximated with relative error
//! $$|ŵ − w| ≤ w\,ε_p(Δ),\qquad ε_p(Δ) = \frac{Δ^{p+1}}{(p+1)!}\,e^{2Δ}.$$
//! If every weight of a row has relative error ≤ ε, the row output o = Σ w v/Σ w satisfies
//! |ô − o|_∞ ≤ 2·max|v|·ε/(1 − ε) (ô − o = Σ_j w_j η_j (v_j − o)/Ẑ), so tol = t·max|v| needs
//! ε ≤ (t/2)/(1 + t/2) ([`uniform_budget`]).

/// Number of monomials of total degree ≤ p in k variables: C(p + k, k).
pub fn monomials(p: u32, k: u32) -> u64 {
    // C(p + k, k) = Π_{i=1..k} (p + i)/i, exact in integers at every step.
    (1..=k as u64).fold(1u64, |c, i| c * (p as u64 + i) / i)
}

/// ε_p(Δ) = Δ^{p+1} e^{2Δ}/(p+1)!: relative error of every weight of a pair under the order-p cross
/// expansion, Δ = R_A·R_B (module doc).
pub fn cross_relative_error(p: u32, delta: f64) -> f64 {
    let mut term = (2.0 * delta).exp();
    for j in 1..=p + 1 {
        term *= delta / j as f64;
    }
    term
}

/// The smallest order p ≤ p_max with ε_p(Δ) ≤ eps, if any.
pub fn order_needed(delta: f64, eps: f64, p_max: u32) -> Option<u32> {
    (0..=p_max).find(|&p| cross_relative_error(p, delta) <= eps)
}

/// Δ_p for p = 0..=p_max: the largest Δ with ε_p(Δ) ≤ eps (ε_p increases in Δ; bisection to
/// 2⁻⁸⁰ of [0, 64]). They increase in p, so the order a pair of width Δ needs is the first p with
/// Δ ≤ Δ_p ([`order_from_thresholds`]): one table per budget instead of a search per pair.
pub fn order_thresholds(eps: f64, p_max: u32) -> Vec<f64> {
    (0..=p_max)
        .map(|p| {
            let (mut lo, mut hi) = (0.0f64, 64.0f64);
            for _ in 0..80 {
                let mid = 0.5 * (lo + hi);
                if cross_relative_error(p, mid) <= eps { lo = mid } else { hi = mid }
            }
            lo
        })
        .collect()
}

/// The order a pair of width Δ needs under [`order_thresholds`], if any is ≤ p_max.
pub fn order_from_thresholds(thresholds: &[f64], delta: f64) -> Option<u32> {
    let p = thresholds.partition_point(|&th| th < delta);
    (p < thresholds.len()).then_some(p as u32)
}

/// The per-weight relative error ε that keeps a row within tol = t·max|v| (module doc):
/// 2ε/(1 − ε) ≤ t ⇔ ε ≤ (t/2)/(1 + t/2).
pub fn uniform_budget(t: f64) -> f64 {
    (t / 2.0) / (1.0 + t / 2.0)
}

/// Multiply-add saving of an *idealised* dual-tree order-p cross expansion on n queries and n keys
/// drawn from N(0, I_k) (the rank-k part of the low-dimension generator), tol = t·max|v|, against
/// the exact n²(d + dv). Idealisation, every step in the expansion's favour:
/// * a node of m points around x is a ball of the smallest radius m points can fill at the local
///   density f(x) = (2π)^{−k/2} e^{−‖x‖²/2}: r(m, x) = (m/(n f(x) c_k))^{1/k}, c_k = π^{k/2}/Γ(k/2 + 1);
/// * every query–key interaction (at radii ‖x‖, ‖y‖) chooses its own node sizes m_A, m_B (powers of
///   two ≤ n), the cheaper of exact (d + dv) and the expansion's (dv + 1)·C(p + k, k)·(1/m_A + 1/m_B)
///   per interaction, p = [`order_needed`](r_A r_B, [`uniform_budget`](t));
/// * the per-interaction cost is averaged over the radial law χ_k of ‖x‖ and ‖y‖ (midpoint rule on
///   [0, 8] in steps of 0.1).
///
/// No partition of real samples has smaller nodes on average, so the schedules that
/// `solver.complexity` measures should stay below this figure.
pub fn ideal_gaussian_saving(n: usize, k: u32, d: usize, dv: usize, t: f64) -> f64 {
    use statrs::function::gamma::gamma;
    let kf = k as f64;
    let ck = std::f64::consts::PI.powf(kf / 2.0) / gamma(kf / 2.0 + 1.0);
    let step = 0.1;
    let radii: Vec<f64> = (0..80).map(|i| (i as f64 + 0.5) * step).collect();
    let pdf: Vec<f64> = radii.iter().map(|&r| r.powf(kf - 1.0) * (-r * r / 2.0).exp()).collect();
    let total: f64 = pdf.iter().sum();
    let weight: Vec<f64> = pdf.iter().map(|w| w / total).collect();
    let density = |r: f64| (2.0 * std::f64::consts::PI).powf(-kf / 2.0) * (-r * r / 2.0).exp();
    let sizes: Vec<f64> = (0..).map(|e| (1u64 << e) as f64).take_while(|&m| m <= n as f64).collect();
    // node radius per (radius bin, size)
    let rad: Vec<Vec<f64>> = radii
        .iter()
        .map(|&r| sizes.iter().map(|&m| (m / (n as f64 * density(r) * ck)).powf(1.0 / kf)).collect())
        .collect();
    let eps = uniform_budget(t);
    let thresholds = order_thresholds(eps, 60);
    let exact = (d + dv) as f64;
    let mut cost = 0.0;
    for (i, ra) in rad.iter().enumerate() {
        for (j, rb) in rad.iter().enumerate() {
            let mut best = exact;
            for (a, &ma) in ra.iter().zip(&sizes) {
                for (b, &mb) in rb.iter().zip(&sizes) {
                    if let Some(p) = order_from_thresholds(&thresholds, a * b) {
                        best = best.min((dv + 1) as f64 * monomials(p, k) as f64 * (1.0 / ma + 1.0 / mb));
                    }
                }
            }
            cost += weight[i] * weight[j] * best;
        }
    }
    exact / cost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monomial_counts_are_binomials() {
        assert_eq!(monomials(0, 4), 1);
        assert_eq!(monomials(1, 4), 5);
        assert_eq!(monomials(3, 4), 35);
        assert_eq!(monomials(6, 4), 210);
        assert_eq!(monomials(2, 64), 2145);
    }

    #[test]
    fn remainder_bound_covers_the_true_taylor_error() {
        for &x in &[-1.5f64, -0.7, -0.1, 0.05, 0.3, 0.9, 1.4] {
            for p in 0..8u32 {
                let (mut t, mut s) = (1.0f64, 1.0f64);
                for j in 1..=p {
                    t *= x / j as f64;
                    s += t;
                }
                let rel = (x.exp() - s).abs() / x.exp();
                assert!(rel <= cross_relative_error(p, x.abs()) * (1.0 + 1e-12), "x={x} p={p}: {rel}");
            }
        }
    }

    #[test]
    fn order_needed_is_the_smallest_sufficient_order() {
        let eps = uniform_budget(1e-3);
        let p = order_needed(1.0, eps, 30).unwrap();
        assert!(cross_relative_error(p, 1.0) <= eps && cross_relative_error(p - 1, 1.0) > eps);
        assert_eq!(order_needed(50.0, eps, 10), None);
        let th = order_thresholds(eps, 30);
        for &delta in &[0.0, 0.01, 0.3, 1.0, 2.5, 7.0] {
            assert_eq!(order_from_thresholds(&th, delta), order_needed(delta, eps, 30), "Δ = {delta}");
        }
    }

    #[test]
    fn ideal_saving_grows_with_n_and_with_tol() {
        let a = ideal_gaussian_saving(1 << 16, 4, 64, 64, 1e-3);
        let b = ideal_gaussian_saving(1 << 17, 4, 64, 64, 1e-3);
        let c = ideal_gaussian_saving(1 << 17, 4, 64, 64, 1e-2);
        assert!(1.0 <= a && a < b && b < c, "{a} {b} {c}");
        // Tiny n: nothing beats exact.
        assert!((ideal_gaussian_saving(16, 4, 64, 64, 1e-3) - 1.0).abs() < 1e-12);
    }
}
