//! The measures a sweep can name: functions from one parameter point (and the theorem, for its
//! claimed quantities) to named metrics. Each lives beside its theorem's check in
//! `src/checks/<id_snake>.rs`; this table only names them.
use super::run::Metrics;
use super::spec::Point;
use crate::checks;
use crate::registry::Theorem;
use crate::Result;

pub type MeasureFn = fn(&Point, &Theorem) -> Result<Metrics>;

/// Every measure, by name (the theorem id it serves).
pub const MEASURES: &[(&str, MeasureFn)] = &[
    ("dist.decomposition", checks::dist_decomposition::measure),
    ("dist.rank", checks::dist_rank::measure),
    ("euclid.as_dot", checks::euclid_as_dot::measure),
    ("prefix.problem", checks::prefix_problem::measure),
    ("rewrite.gaussian", checks::rewrite_gaussian::measure),
    ("softmax.invariance", checks::softmax_invariance::measure),
    // --- note 000 ---
    ("euclid.locality", checks::euclid_locality::measure),
    ("ivww.bound", checks::ivww_bound::measure),
    ("ivww.reads", checks::ivww_reads::measure),
    ("ivww.sampling", checks::ivww_sampling::measure),
    ("jl.distances", checks::jl_distances::measure),
    ("memory.linear", checks::memory_linear::measure),
    ("nystrom.attention", checks::nystrom_attention::measure),
    ("nystrom.error_rank", checks::nystrom_error_rank::measure),
    ("nystrom.landmarks", checks::nystrom_landmarks::measure),
    ("nystrom.sqrt_n", checks::nystrom_sqrt_n::measure),
    ("retrieval.passkey", checks::retrieval_passkey::measure),
    ("speed.crossover", checks::speed_crossover::measure),
    // --- note 001 ---
    ("eikonal.gradient", checks::eikonal_gradient::measure),
    ("merge.centroid", checks::merge_centroid::measure),
    ("merge.drift", checks::merge_drift::measure),
    ("prefix.subquadratic", checks::prefix_subquadratic::measure),
    ("split.scale_classes", checks::split_scale_classes::measure),
    ("split.sign", checks::split_sign::measure),
    ("taylor.slow", checks::taylor_slow::measure),
    // --- notes 002-004 ---
    // [E2] FLOP counts, top-K, window and learned mask (notes 002, 004)
    ("flops.count", checks::flops_count::measure),
    ("mask.learned", checks::mask_learned::measure),
    ("topk.crossover", checks::topk_crossover::measure),
    ("topk.error", checks::topk_error::measure),
    ("topk.order", checks::topk_order::measure),
    ("window.last10", checks::window_last10::measure),
    // --- solver ---
    ("solver.certificate", checks::solver_certificate::measure),
    ("solver.complexity", checks::solver_complexity::measure),
    ("solver.feasibility", checks::solver_feasibility::measure),
    ("criteria.matrix", checks::criteria_matrix::measure),
    ("linformer.lowrank", checks::linformer_lowrank::measure),
    ("reformer.lsh", checks::reformer_lsh::measure),
    ("sparse.patterns", checks::sparse_patterns::measure),
    ("longformer.window", checks::longformer_window::measure),
    ("performer.unbiased", checks::performer_unbiased::measure),
    ("linear.recurrence", checks::linear_recurrence::measure),
];

pub fn find(name: &str) -> Option<MeasureFn> {
    MEASURES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

pub fn names() -> Vec<&'static str> {
    MEASURES.iter().map(|(n, _)| *n).collect()
}
