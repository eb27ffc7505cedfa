//! The bounds of the theorems as plain functions, so that solvers and tests call the same code the
//! theorem files derive. Each module's doc names the theorem ids it serves.
pub mod dist;
pub mod eikonal;
pub mod expansion;
pub mod flops;
pub mod fp;
pub mod gaussian;
pub mod ivww;
pub mod jl;
pub mod kernel;
pub mod lsh;
pub mod mask;
pub mod merge;
pub mod nystrom;
pub mod rounding;
pub mod softmax;
pub mod solver;
pub mod split;
pub mod taylor;
pub mod topk;
