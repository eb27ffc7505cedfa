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
    // --- note 001 ---
    // --- notes 002-004 ---
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
