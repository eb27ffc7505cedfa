use attnproof::data::synthetic::{self, SynthHead};
use proptest::test_runner::{Config, FileFailurePersistence};

/// Default config with regressions stored beside each test file (commit them).
pub fn cfg() -> Config {
    Config {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..Config::default()
    }
}

/// A Gaussian head drawn from `seed`.
pub fn head(seed: u64, n: usize, d: usize, dv: usize, scale: f64) -> SynthHead {
    synthetic::gaussian(&mut attnproof::rng::seeded(seed), n, d, dv, scale)
}

pub fn widen(x: &[f32]) -> Vec<f64> {
    attnproof::reference::widen(x)
}
