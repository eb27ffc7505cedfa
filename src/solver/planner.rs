//! The planner: decide early whether the tree can save work, so that the solver is never much slower
//! than the exact kernel.
//!
//! * n < 4·band: [`Plan::Exact`] (the band alone is most of the work).
//! * otherwise build the tree (O(n·d·log n)), insert the first p = ⌊n/2⌋ keys (rounded down to a
//!   multiple of the band), and run the tree path on up to `probe_rows` rows of the next band —
//!   rows whose prefix is the median prefix length, so their work fraction
//!   w = (work of the tree path, + L for rows that fall back) / L is representative of the rows that
//!   dominate the exact cost (the rows with i ≥ n/2 carry 3/4 of Σ L). If the mean fraction is
//!   ≤ `max_work_fraction` the plan is [`Plan::Tree`], else [`Plan::Exact`]; the tree's sums are
//!   reset either way. The probe costs O(n·depth·dv + probe_rows·L), negligible against Σ L·d for
//!   n ≥ 4·band.
use super::certificate::{RowModel, Terms, sum_and_certify};
use super::eval::tree_terms;
use super::tree::Tree;
use super::{Prepared, SolverOptions};
use rayon::prelude::*;

/// What the solver does for a head.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Every row exact (with its rounding certificate); the reason.
    Exact { reason: String },
    /// Band + tree per row (fallback to exact per row when ε > tol); the probe's work fraction
    /// (NaN when the tree was forced).
    Tree { probe_work_fraction: f64 },
}

impl Plan {
    pub fn label(&self) -> String {
        match self {
            Plan::Exact { reason } => format!("exact ({reason})"),
            Plan::Tree { probe_work_fraction } => format!("tree (probe work {probe_work_fraction:.3})"),
        }
    }
    pub fn is_tree(&self) -> bool {
        matches!(self, Plan::Tree { .. })
    }
}

/// Forced plans (tests, theorem checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Force {
    Tree,
    Exact,
}

/// Choose the plan; returns the tree (with no keys inserted) when the plan is [`Plan::Tree`].
/// The exact plan when it can be decided from n alone (no forced plan): n < 4·band, or the exact
/// band alone — on average band/2 keys per row against ≈ n/2 for exact attention at the probe's rows —
/// already exceeds the admissible work fraction, so no tree could pass the probe.
pub fn early_exact(n: usize, opts: &SolverOptions) -> Option<Plan> {
    if opts.force.is_some() {
        return None;
    }
    let band = opts.band.max(1);
    if n < 4 * band {
        return Some(Plan::Exact { reason: format!("n = {n} < 4·band = {}", 4 * band) });
    }
    let f = band as f64 / n as f64;
    if f > opts.max_work_fraction {
        return Some(Plan::Exact { reason: format!("band/n = {f:.3} > max work fraction {}", opts.max_work_fraction) });
    }
    None
}

pub fn plan(p: &Prepared<'_>, opts: &SolverOptions, tol: f64) -> (Plan, Option<Tree>) {
    let n = p.n;
    let band = opts.band.max(1);
    match opts.force {
        Some(Force::Exact) => return (Plan::Exact { reason: "forced".into() }, None),
        Some(Force::Tree) => {
            let t = build(p, opts);
            return (Plan::Tree { probe_work_fraction: f64::NAN }, Some(t));
        }
        None => {}
    }
    if let Some(plan) = early_exact(n, opts) {
        return (plan, None);
    }
    let t0 = std::time::Instant::now();
    let mut t = build(p, opts);
    if std::env::var_os("ATTNPROOF_TRACE").is_some() {
        eprintln!("trace: build {:.3}s", t0.elapsed().as_secs_f64());
    }
    let start = (n / 2 / band) * band;
    for j in 0..start {
        t.insert_next(&p.v32[j * p.dv..(j + 1) * p.dv]);
    }
    let rows: Vec<usize> = {
        let end = (start + band).min(n);
        let step = ((end - start) / opts.probe_rows.max(1)).max(1);
        (start..end).step_by(step).collect()
    };
    let (work, exact): (f64, f64) = rows
        .par_iter()
        .map_init(
            || (Terms::default(), Vec::new(), Vec::new(), vec![0.0; p.dv]),
            |(terms, stack, scratch, o), &i| {
                let limit = p.mask.keys(i, n).end;
                let inp = p.row_input(i, limit, tol, opts.share);
                let mut w = tree_terms(&inp, &t, terms, stack) as f64;
                let model = RowModel { eta: p.eta(i), vmax: p.vmax };
                let eps = sum_and_certify(terms, &p.vw, Some(&t), p.dv, model, o, scratch);
                if !(eps <= tol) {
                    w += limit as f64;
                }
                (w, limit as f64)
            },
        )
        .reduce(|| (0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    let frac = work / exact.max(1.0);
    t.reset();
    if frac <= opts.max_work_fraction {
        (Plan::Tree { probe_work_fraction: frac }, Some(t))
    } else {
        (Plan::Exact { reason: format!("probe work fraction {frac:.3} > {}", opts.max_work_fraction) }, None)
    }
}

/// Build the tree and set its frontier at r ≤ frontier_nats / max_i ‖q_i‖.
fn build(p: &Prepared<'_>, opts: &SolverOptions) -> Tree {
    let mut t = Tree::build(p.k32, p.v32, p.n, p.d, p.dv, opts.leaf);
    let qmax = p.qnorm.iter().cloned().fold(0.0f64, f64::max);
    if opts.frontier_nats > 0.0 && qmax > 0.0 {
        t.set_frontier(opts.frontier_nats / qmax);
    }
    t
}
