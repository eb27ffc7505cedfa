//! Property tests, one module per theorem (`<id_snake>.rs`). All randomness comes from proptest
//! strategies (a `seed` drawn by the strategy drives `rand_pcg` for bulk data), so a failure replays
//! from its regressions file. Case counts come from `PROPTEST_CASES` (default 256; CI sets it).
mod common;
mod dist_decomposition;
mod dist_rank;
mod euclid_as_dot;
mod prefix_problem;
mod rewrite_gaussian;
mod softmax_invariance;
mod special_values;
// --- note 000 ---
mod ivww_reads;
mod ivww_sampling;
mod jl_distances;
mod nystrom;
// --- note 001 ---
mod note001;
// --- notes 002-004 ---
// [E2] top-K identities and FLOP counts (note 002)
mod topk_error;
// --- solver ---
mod criteria_matrix;
mod linear_recurrence;
mod linformer_lowrank;
mod longformer_window;
mod performer_unbiased;
mod reformer_lsh;
mod solver_certificate;
mod solver_complexity;
mod solver_feasibility;
mod sparse_patterns;
