//! YAML-driven parameter sweeps (issue [F]).
//!
//! A sweep file `sweeps/<name>.yaml` names the theorem(s) it tests, a *measure* (a registered
//! function from one parameter point to named metrics, [`measure`]), datasets ([`dataset`]),
//! parameter axes (a cartesian `grid`, a paired `zip`, ranges in log2 steps), trials, the recorded
//! metrics, how the metrics become a verdict, an optional plot, and a `quick:` subset run by CI and
//! `verify --quick`. [`run`] evaluates the points with resume, sharding and deterministic seeds: each
//! point's seed depends only on the sweep seed and the point's own parameters.
pub mod dataset;
pub mod measure;
pub mod run;
pub mod spec;

pub use run::{RunOptions, SweepSummary, run_sweep};
pub use spec::{Point, Scalar, SweepSpec, load as load_spec};

use std::path::{Path, PathBuf};

/// `sweeps/` of this repository.
pub fn sweeps_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sweeps")
}
