//! One check per theorem id. A check reads the claimed quantities from its theorem file, measures
//! them on generated and real data, and returns a [`Report`]. The table [`CHECKS`] maps every id to
//! its function; `tests/registry.rs` asserts that every theorem file has a check and every check a
//! file.
use crate::Result;
use crate::data::{self, RealHead};
use crate::registry::Theorem;
use crate::verdict::{Report, Verdict};
use std::path::PathBuf;
use std::sync::OnceLock;

// --- note 000 modules ---
pub mod dist_decomposition;
pub mod dist_rank;
pub mod euclid_as_dot;
pub mod euclid_locality;
pub mod ivww_bound;
pub mod ivww_reads;
pub mod ivww_sampling;
pub mod jl_distances;
pub mod memory_linear;
pub mod nystrom_attention;
pub mod nystrom_error_rank;
pub mod nystrom_landmarks;
pub mod nystrom_sqrt_n;
pub mod prefix_problem;
pub mod reference_f32_rounding;
pub mod retrieval_passkey;
pub mod rewrite_gaussian;
pub mod softmax_invariance;
pub mod speed_crossover;
// --- note 001 modules ---
pub mod eikonal_gradient;
pub mod merge_centroid;
pub mod merge_drift;
pub mod prefix_subquadratic;
pub mod split_scale_classes;
pub mod split_sign;
pub mod taylor_slow;
// --- notes 002-004 modules ---
// [E2] FLOP/memory tables, top-K, window and learned mask (notes 002, 004)
pub mod flops_count;
pub mod flops_table;
pub mod mask_learned;
pub mod memory_table;
pub mod topk_crossover;
pub mod topk_error;
pub mod topk_order;
pub mod window_last10;
// --- solver ---
pub mod criteria_matrix;
pub mod linear_recurrence;
pub mod linformer_lowrank;
pub mod longformer_window;
pub mod performer_unbiased;
pub mod reformer_lsh;
pub mod solver_certificate;
pub mod solver_complexity;
pub mod solver_feasibility;
pub mod sparse_patterns;

/// A check: theorem file and context in, report out.
pub type CheckFn = fn(&Theorem, &Ctx) -> Result<Report>;

/// Every check, by theorem id.
pub const CHECKS: &[(&str, CheckFn)] = &[
    // --- note 000 ---
    ("dist.decomposition", dist_decomposition::check),
    ("dist.rank", dist_rank::check),
    ("euclid.as_dot", euclid_as_dot::check),
    ("euclid.locality", euclid_locality::check),
    ("ivww.bound", ivww_bound::check),
    ("ivww.reads", ivww_reads::check),
    ("ivww.sampling", ivww_sampling::check),
    ("jl.distances", jl_distances::check),
    ("memory.linear", memory_linear::check),
    ("nystrom.attention", nystrom_attention::check),
    ("nystrom.error_rank", nystrom_error_rank::check),
    ("nystrom.landmarks", nystrom_landmarks::check),
    ("nystrom.sqrt_n", nystrom_sqrt_n::check),
    ("retrieval.passkey", retrieval_passkey::check),
    ("prefix.problem", prefix_problem::check),
    ("rewrite.gaussian", rewrite_gaussian::check),
    ("reference.f32_rounding", reference_f32_rounding::check),
    ("softmax.invariance", softmax_invariance::check),
    ("speed.crossover", speed_crossover::check),
    // --- note 001 ---
    ("eikonal.gradient", eikonal_gradient::check),
    ("merge.centroid", merge_centroid::check),
    ("merge.drift", merge_drift::check),
    ("prefix.subquadratic", prefix_subquadratic::check),
    ("split.scale_classes", split_scale_classes::check),
    ("split.sign", split_sign::check),
    ("taylor.slow", taylor_slow::check),
    // --- notes 002-004 ---
    // [E2] FLOP/memory tables, top-K, window and learned mask (notes 002, 004)
    ("flops.count", flops_count::check),
    ("flops.table", flops_table::check),
    ("mask.learned", mask_learned::check),
    ("memory.table", memory_table::check),
    ("topk.crossover", topk_crossover::check),
    ("topk.error", topk_error::check),
    ("topk.order", topk_order::check),
    ("window.last10", window_last10::check),
    // --- solver ---
    ("solver.certificate", solver_certificate::check),
    ("solver.complexity", solver_complexity::check),
    ("solver.feasibility", solver_feasibility::check),
    ("criteria.matrix", criteria_matrix::check),
    ("linformer.lowrank", linformer_lowrank::check),
    ("reformer.lsh", reformer_lsh::check),
    ("sparse.patterns", sparse_patterns::check),
    ("longformer.window", longformer_window::check),
    ("performer.unbiased", performer_unbiased::check),
    ("linear.recurrence", linear_recurrence::check),
];

/// The check of a theorem id.
pub fn find(id: &str) -> Option<CheckFn> {
    CHECKS.iter().find(|(i, _)| *i == id).map(|(_, f)| *f)
}

/// What a check may use: the mode, the seed, and the real data.
pub struct Ctx {
    /// Quick mode (CI, `verify --quick`): fewer trials, the shipped slice of real data.
    pub quick: bool,
    pub seed: u64,
    /// Real data files; empty means the slice shipped in `tests/data/`.
    pub data_files: Vec<PathBuf>,
    heads: OnceLock<std::result::Result<Vec<RealHead>, String>>,
}

impl Ctx {
    pub fn new(quick: bool, seed: u64, data_files: Vec<PathBuf>) -> Self {
        Ctx { quick, seed, data_files, heads: OnceLock::new() }
    }
    /// Trials for a randomised check: `full` normally, `full / 10` (at least 10) in quick mode.
    pub fn trials(&self, full: usize) -> usize {
        if self.quick { (full / 10).max(10) } else { full }
    }
    /// The real heads (loaded once).
    pub fn real_heads(&self) -> Result<&[RealHead]> {
        let r = self.heads.get_or_init(|| {
            let files = if self.data_files.is_empty() { vec![data::shipped_slice()] } else { self.data_files.clone() };
            let mut all = Vec::new();
            for f in &files {
                all.extend(data::load_heads(f).map_err(|e| e.to_string())?);
            }
            Ok(all)
        });
        r.as_deref().map_err(|e| crate::Error::Registry(e.clone()))
    }
    /// A short description of the real data in use, for reports.
    pub fn data_label(&self) -> String {
        if self.data_files.is_empty() {
            "shipped MiniLM slice (tests/data/minilm_slice.safetensors)".into()
        } else {
            self.data_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        }
    }
}

/// The outcome of running one theorem's check against the registry's expectation.
pub struct Outcome {
    pub report: std::result::Result<Report, String>,
    pub expected: Verdict,
}

impl Outcome {
    /// True when the measured verdict equals the recorded one.
    pub fn agrees(&self) -> bool {
        matches!(&self.report, Ok(r) if r.verdict == self.expected)
    }
}

/// Run the check of one theorem, then every sweep in `sweeps/` that names it (its quick subset in
/// quick mode); the sweeps' verdict findings join the report, and a failing sweep finding turns a
/// `holds` into `fails`.
pub fn run(thm: &Theorem, ctx: &Ctx) -> Outcome {
    run_with_records(thm, ctx).0
}

/// The result lines of the sweeps a theorem's [`run`] ran, with their specs (for the docs' plots).
pub type SweepRecords = Vec<(crate::sweep::SweepSpec, Vec<crate::sweep::run::Record>)>;

/// [`run`], also returning the records of the sweeps it ran, so that callers that need them (the docs
/// generator) do not run the sweeps a second time.
pub fn run_with_records(thm: &Theorem, ctx: &Ctx) -> (Outcome, SweepRecords) {
    let mut records = Vec::new();
    let report = match find(&thm.id) {
        None => Err(format!("no check registered for `{}` in src/checks/mod.rs", thm.id)),
        Some(f) => f(thm, ctx).and_then(|r| with_sweeps(r, thm, ctx, &mut records)).map_err(|e| e.to_string()),
    };
    (Outcome { report, expected: thm.expected.verdict }, records)
}

/// The sweep files that name a theorem.
pub fn sweeps_of(id: &str) -> Result<Vec<crate::sweep::SweepSpec>> {
    let dir = crate::sweep::sweeps_dir();
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(&dir) else { return Ok(out) };
    let mut paths: Vec<PathBuf> =
        rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "yaml")).collect();
    paths.sort();
    for p in paths {
        let spec = crate::sweep::load_spec(&p)?;
        if spec.theorems.iter().any(|t| t == id) {
            out.push(spec);
        }
    }
    Ok(out)
}

fn with_sweeps(mut rep: Report, thm: &Theorem, ctx: &Ctx, records: &mut SweepRecords) -> Result<Report> {
    for spec in sweeps_of(&thm.id)? {
        let sum = run_sweep_to_temp(&spec, thm, ctx.quick)?;
        if rep.verdict == Verdict::Holds && !sum.findings.iter().all(|f| f.ok()) {
            rep.verdict = Verdict::Fails;
        }
        rep.findings.extend(sum.findings);
        records.push((spec, sum.records));
    }
    Ok(rep)
}

/// Run a sweep (its quick subset when `quick`) into a temporary results file that is removed again.
pub fn run_sweep_to_temp(
    spec: &crate::sweep::SweepSpec,
    thm: &Theorem,
    quick: bool,
) -> Result<crate::sweep::run::SweepSummary> {
    let dir = std::env::temp_dir().join(format!("attnproof-verify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| crate::Error::io(&dir, e))?;
    let out = dir.join(format!("{}.jsonl", spec.name));
    let _ = std::fs::remove_file(&out);
    let opts = crate::sweep::RunOptions { quick, out: Some(out.clone()), ..Default::default() };
    let sum = crate::sweep::run::run_sweep_with(spec, thm, &opts, &mut |_| {});
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(out.with_extension("timing.jsonl"));
    sum
}
