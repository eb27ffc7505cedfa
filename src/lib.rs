//! # attnproof
//!
//! Theory-first numerical verification of the claims of five research notes on fast transformer
//! attention (`../shared/notes/`), and the exact references every approximate method is measured
//! against.
//!
//! * [`registry`]: one `theorems/<id>.yaml` per claim, strict schema, claimed quantities.
//! * [`checks`]: one check per theorem id (`src/checks/<id_snake>.rs`), returning a [`verdict::Report`].
//! * [`reference`]: float64 exact attention (full, causal, strict prefix) with stable log-sum-exp and
//!   Neumaier summation, and the fast tiled float32 causal kernel with its rounding model.
//! * [`tensor`]: safetensors and `.npy` input with shape, dtype and finiteness checks.
//! * [`theory`]: the bounds of the theorems as plain functions, callable by solvers and tests.
#[macro_use]
mod per_isa;
pub mod alloc_count;
pub mod bench;
pub mod check_reference;
pub mod checks;
pub mod cli;
pub mod data;
pub mod docs;
pub mod error;
pub mod gpu;
#[cfg(feature = "lm")]
pub mod lm;
pub mod methods;
pub mod out_file;
pub mod reference;
pub mod registry;
pub mod repeats;
pub mod rng;
pub mod solver;
pub mod stats;
pub mod sweep;
pub mod tensor;
pub mod theory;
pub mod verdict;
pub mod verify;

pub use error::{Error, Result};
