//! Synthetic heads for checks and tests. Every generator takes the RNG it draws from, so the caller
//! decides the seed (see [`crate::rng`]).
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

/// Owned f32 head data, row-major.
#[derive(Debug, Clone)]
pub struct SynthHead {
    pub n: usize,
    pub d: usize,
    pub dv: usize,
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
}

impl SynthHead {
    /// The head as a checked [`crate::reference::Head`] view (shapes and finiteness).
    pub fn head(&self) -> crate::Result<crate::reference::Head<'_, f32>> {
        crate::reference::Head::new(&self.q, &self.k, &self.v, self.n, self.d, self.dv)
    }
}

fn normal_vec(rng: &mut impl rand::Rng, len: usize, scale: f64) -> Vec<f32> {
    (0..len)
        .map(|_| {
            let z: f64 = StandardNormal.sample(rng);
            (scale * z) as f32
        })
        .collect::<Vec<f32>>()
}

/// Gaussian q, k, v with entries N(0, σ²), σ = `scale`/√d for q and k (so ‖q‖, ‖k‖ ≈ scale) and
/// N(0, 1) for v.
pub fn gaussian(rng: &mut impl rand::Rng, n: usize, d: usize, dv: usize, scale: f64) -> SynthHead {
    let s = scale / (d as f64).sqrt();
    SynthHead { n, d, dv, q: normal_vec(rng, n * d, s), k: normal_vec(rng, n * d, s), v: normal_vec(rng, n * dv, 1.0) }
}

/// A random vector of length `d` with entries N(0, σ²), in f32.
pub fn vector(rng: &mut impl rand::Rng, d: usize, sigma: f64) -> Vec<f32> {
    normal_vec(rng, d, sigma)
}

/// A uniform draw in [lo, hi).
pub fn uniform(rng: &mut impl rand::Rng, lo: f64, hi: f64) -> f64 {
    rng.random_range(lo..hi)
}

/// A log-uniform draw in [lo, hi).
pub fn log_uniform(rng: &mut impl rand::Rng, lo: f64, hi: f64) -> f64 {
    uniform(rng, lo.ln(), hi.ln()).exp()
}
