//! Collision probability of angular LSH by random rotations (serves `reformer.lsh`).
//!
//! Hash h(x) = argmax([xR; −xR]) with R a d × b/2 Gaussian matrix (Reformer, Kitaev et al. 2020,
//! after Andoni et al. 2015). For unit x, y at angle θ the pair (xR, yR) consists of b/2 i.i.d.
//! bivariate normal pairs with correlation ρ = cos θ.
//! * b = 2: h = sign(x·r), so P[h(x) = h(y)] = 1 − θ/π (Charikar 2002; Goemans–Williamson).
//! * b = 4: u = xR, w = yR ∈ R² are isotropic; the angle of u is uniform and independent of the
//!   angle difference φ between w and u, so the buckets (four 90° sectors around ±e₁, ±e₂) give
//!   P[collision | φ] = max(0, 1 − |φ|/(π/2)). The density of φ for correlation ρ (the phase
//!   difference of two correlated circular Gaussians) is
//!   f(φ) = (1 − ρ²)/(2π(1 − β²)) · (1 + β arccos(−β)/√(1 − β²)), β = ρ cos φ;
//!   P₄(θ) = ∫ f(φ) max(0, 1 − 2|φ|/π) dφ (Simpson's rule, 4000 panels).
//!   No closed form is used for b ≥ 6.

/// Density of the angle difference of two correlated isotropic 2-D Gaussians.
pub fn angle_difference_density(phi: f64, rho: f64) -> f64 {
    let beta = rho * phi.cos();
    let one = 1.0 - beta * beta;
    (1.0 - rho * rho) / (2.0 * std::f64::consts::PI * one) * (1.0 + beta * (-beta).acos() / one.sqrt())
}

/// P[h(x) = h(y)] for b ∈ {2, 4} buckets at angle θ ∈ (0, π]; `slope_b2` is the claimed
/// coefficient in 1 − slope·θ/π (1).
pub fn collision_probability(buckets: usize, theta: f64, slope_b2: f64) -> Option<f64> {
    use std::f64::consts::PI;
    match buckets {
        2 => Some(1.0 - slope_b2 * theta / PI),
        4 => {
            let rho = theta.cos();
            let (a, b, n) = (-PI / 2.0, PI / 2.0, 4000);
            let hstep = (b - a) / n as f64;
            let f = |x: f64| angle_difference_density(x, rho) * (1.0 - 2.0 * x.abs() / PI).max(0.0);
            let mut s = f(a) + f(b);
            for k in 1..n {
                s += f(a + k as f64 * hstep) * if k % 2 == 1 { 4.0 } else { 2.0 };
            }
            Some(s * hstep / 3.0)
        }
        _ => None,
    }
}
