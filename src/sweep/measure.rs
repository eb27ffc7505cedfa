//! The measures a sweep can name: functions from one parameter point (and the theorem, for its
//! claimed quantities) to named metrics. Each lives beside its theorem's check in
//! `src/checks/<id_snake>.rs`; this table only names them.
use super::run::Metrics;
use super::spec::Point;
use crate::Result;
use crate::checks;
use crate::registry::Theorem;

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

/// Measures that hold n×n float64 matrices, with how many they hold at once (read off their code:
/// score / distance / kernel matrices, their approximations and factorisation workspaces) and the
/// default `n` they use when a point has none. Every other measure works in O(n·(d + dv)) memory.
pub const QUADRATIC: &[(&str, u64, u64)] = &[
    ("criteria.matrix", 2, 256),
    ("dist.rank", 3, 64),
    ("euclid.locality", 1, 256),
    ("ivww.bound", 2, 256),
    ("ivww.reads", 2, 256),
    ("ivww.sampling", 2, 256),
    ("jl.distances", 2, 256),
    ("linformer.lowrank", 2, 256),
    ("mask.learned", 1, 256),
    ("nystrom.attention", 3, 256),
    ("nystrom.error_rank", 3, 256),
    ("nystrom.landmarks", 3, 256),
    ("nystrom.sqrt_n", 3, 256),
    ("retrieval.passkey", 1, 256),
    ("sparse.patterns", 1, 256),
    ("topk.error", 1, 256),
];

/// Measures whose head has one row per trial (n = the point's `trials`).
pub const TRIAL_ROWS: &[&str] = &["dist.decomposition", "rewrite.gaussian"];

/// Estimated peak bytes of one evaluation of `measure` at point `p`, from its sizes only (nothing
/// is allocated): 8·c·n² for the n×n float64 matrices of a [`QUADRATIC`] measure, plus
/// 8·4·n·(2d + dv) for the head (f32 and widened f64 copies, outputs). Parameters default to
/// n = 256 (or the measure's own default), d = dv = 64; n is the point's trials for [`TRIAL_ROWS`]. Used by the sweep runner's memory budget.
pub fn estimate_bytes(measure: &str, p: &Point) -> u64 {
    let quad = QUADRATIC.iter().find(|(m, _, _)| *m == measure);
    let n = if TRIAL_ROWS.contains(&measure) {
        p.trials as u128
    } else {
        p.usize_or("n", quad.map_or(256, |q| q.2 as usize)).unwrap_or(0) as u128
    };
    let d = p.usize_or("d", 64).unwrap_or(64) as u128;
    let dv = p.usize_or("dv", 64).unwrap_or(64) as u128;
    let c = quad.map_or(0, |q| q.1) as u128;
    let est = 8 * c * n * n + 32 * n * (2 * d + dv);
    est.min(u64::MAX as u128) as u64
}

/// Bytes as `1.5 GiB` (binary units).
pub fn human_bytes(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut x = b as f64;
    let mut u = 0;
    while x >= 1024.0 && u + 1 < units.len() {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{b} B") } else { format!("{x:.1} {}", units[u]) }
}

/// Parse a byte count: an integer with an optional K, M, G or T suffix (powers of 1024, `iB` or
/// `B` allowed after it), e.g. `8G`, `512MiB`, `1000000`.
pub fn parse_bytes(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    // One optional `iB` or `B` after the unit (`8KiBiB` is not a byte count).
    let t2 = t.strip_suffix("iB").or_else(|| t.strip_suffix('B')).unwrap_or(t);
    let (num, mult) = match t2.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("expected a byte count like 8G, 512M or 1000000, found `{s}`")),
            };
            (&t2[..i], m)
        }
        _ => (t2, 1),
    };
    let n: u64 =
        num.trim().parse().map_err(|_| format!("expected a byte count like 8G, 512M or 1000000, found `{s}`"))?;
    n.checked_mul(mult).ok_or_else(|| format!("byte count `{s}` overflows 64 bits"))
}
