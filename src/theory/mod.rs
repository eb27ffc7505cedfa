//! The bounds of the theorems as plain functions, so that solvers and tests call the same code the
//! theorem files derive. Each module's doc names the theorem ids it serves.
pub mod dist;
pub mod fp;
pub mod gaussian;
pub mod kernel;
pub mod lsh;
pub mod rounding;
pub mod softmax;
