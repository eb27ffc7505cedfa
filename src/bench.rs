//! `attnproof bench exact`: the fast exact float32 causal kernel and an f32 GEMM of equal FLOP count,
//! timed side by side in one run, on one rayon pool of the requested size.
//!
//! FLOP convention: causal attention of n tokens costs **2·n²·d** FLOPs — the useful half of
//! S = QKᵀ (n²/2 dot products of length d, 2d FLOPs each: n²d) plus the useful half of PV (n²d) —
//! the work of exactly causal FlashAttention, not counting the masked parts of diagonal tiles the
//! kernel computes anyway, nor exponentials, max and sums. The comparison GEMM is one square
//! C = A·B with m = n = k = n_g, n_g = round((n²·d)^{1/3}), 2·n_g³ ≈ 2·n²·d FLOPs, through
//! `gemm::gemm` with `Parallelism::Rayon(T)`; its rate is computed from its own 2·n_g³.
//! The two are timed alternately after one warm-up each, and the best of `reps` times of each is
//! kept (more repetitions for short runs; see [`time_pair`]).
//!
//! Submodules: [`pareto`] (`bench pareto`: the error/time Pareto front of the solver and the
//! approximate methods), [`fast`] (the fast f32 method implementations it times), [`plot`] (log-log
//! SVG plots of `bench pareto` and `bench solver --plot`), [`screen`] (the minimal pass of a per-key
//! rank-r screen, timed against the exact kernel under criterion).
pub mod fast;
pub mod pareto;
pub mod plot;
pub mod screen;

use crate::reference::fast_f32::{self, Tiling};
use crate::reference::{Head, Mask};
use crate::{Error, Result};
use rand_distr::{Distribution, StandardNormal};
use std::time::Instant;

/// Gaussian f32 data, entries N(0, σ²).
fn gaussian(seed: u64, stream: u64, len: usize, sigma: f64) -> Vec<f32> {
    let mut rng = crate::rng::stream(seed, stream);
    (0..len)
        .map(|_| {
            let z: f64 = StandardNormal.sample(&mut rng);
            (sigma * z) as f32
        })
        .collect()
}

/// n_g = round((n²·d)^{1/3}): the square GEMM with 2·n_g³ ≈ 2·n²·d FLOPs.
pub fn equal_flop_gemm_size(n: usize, d: usize) -> usize {
    ((n as f64).powi(2) * d as f64).cbrt().round().max(1.0) as usize
}

/// Random GEMM operands A, B (n_g × n_g, row-major, N(0,1)).
pub fn gemm_inputs(ng: usize) -> [Vec<f32>; 2] {
    [gaussian(7, 1, ng * ng, 1.0), gaussian(7, 2, ng * ng, 1.0)]
}

/// C = A·B for square row-major n_g × n_g matrices through `gemm::gemm` with
/// `Parallelism::Rayon(threads)` (`None` for one thread).
pub fn gemm_square(ng: usize, a: &[f32], b: &[f32], c: &mut [f32], threads: usize) {
    assert!(a.len() == ng * ng && b.len() == ng * ng && c.len() == ng * ng, "gemm_square: shapes");
    let par = if threads <= 1 { gemm::Parallelism::None } else { gemm::Parallelism::Rayon(threads) };
    // SAFETY: all three buffers are ng×ng, row-major (checked above).
    unsafe {
        gemm::gemm(
            ng,
            ng,
            ng,
            c.as_mut_ptr(),
            1,
            ng as isize,
            false,
            a.as_ptr(),
            1,
            ng as isize,
            b.as_ptr(),
            1,
            ng as isize,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        )
    }
}

/// Random q, k, v (n × d each, row-major): q, k with entries N(0, 1/√d) (scores of order 1, as after
/// the usual 1/√d scaling), v with entries N(0, 1); seeded by n.
pub fn causal_inputs(n: usize, d: usize) -> [Vec<f32>; 3] {
    let s = (d as f64).powf(-0.25);
    [
        gaussian(11, n as u64 * 3, n * d, s),
        gaussian(11, n as u64 * 3 + 1, n * d, s),
        gaussian(11, n as u64 * 3 + 2, n * d, 1.0),
    ]
}

/// Best times (kernel, GEMM) of the causal kernel on random n×d heads and of the equal-FLOP square
/// GEMM (n_g = [`equal_flop_gemm_size`]), on the current rayon pool with `threads` threads for the
/// GEMM. After one warm-up of each, the two are timed alternately ([`time_alternating`]), so that
/// load from other processes hits both alike, and the best time of each is kept.
pub fn time_pair(n: usize, d: usize, threads: usize, reps: usize) -> (f64, f64) {
    let [q, k, v] = causal_inputs(n, d);
    let h = Head { q: &q, k: &k, v: &v, nq: n, nk: n, d, dv: d };
    let mut out = vec![0f32; n * d];
    let ng = equal_flop_gemm_size(n, d);
    let [a, b] = gemm_inputs(ng);
    let mut c = vec![0f32; ng * ng];
    let tiling = Tiling::for_rows(n);
    let mut kernel = || fast_f32::attention_f32_into(&h, Mask::Causal, tiling, &mut out);
    let mut gemm = || gemm_square(ng, &a, &b, &mut c, threads);
    kernel();
    gemm();
    let Ok((tk, tg, ())) = time_alternating(reps, kernel, || -> std::result::Result<(), std::convert::Infallible> {
        gemm();
        Ok(())
    });
    (tk, tg)
}

/// Pairs of a side-by-side timing whose first pair took `first` seconds: `reps` (≥ 1), or more for
/// short runs, up to ~0.5 s of pairs and at most 1000.
fn short_run_pairs(reps: usize, first: f64) -> usize {
    reps.max(1).max(((0.5 / first.max(1e-7)).ceil() as usize).min(1000))
}

/// Fast exact f32 causal attention vs a same-run f32 GEMM of equal FLOP count; one line per n.
pub fn exact_vs_gemm(
    n: &[usize],
    d: usize,
    threads: Option<usize>,
    reps: usize,
    mut print: impl FnMut(String),
) -> Result<()> {
    check_sizes(n, d, reps)?;
    if threads == Some(0) {
        return Err(Error::invalid("--threads", "expected ≥ 1 (leave it out for every core)"));
    }
    let t = threads.unwrap_or_else(|| std::thread::available_parallelism().map(|x| x.get()).unwrap_or(1)).max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(t)
        .build()
        .map_err(|e| Error::invalid("--threads", format!("cannot start {t} threads: {e}")))?;
    let feats = fast_f32::cpu_features();
    let isa = fast_f32::Isa::detect().name();
    let (small, large) = (Tiling::default(), Tiling::for_rows(usize::MAX));
    print(format!(
        "bench exact: causal f32 kernel (tile_k {}, block_q {} below 32768 rows, {} from there; element-wise path {isa}; cpu: {feats}) vs gemm crate f32 GEMM, same run, {t} thread(s), best of ≥ {reps}",
        small.tile_k, small.block_q, large.block_q
    ));
    print("  flops: kernel 2·n²·d (causal QKᵀ + PV); GEMM square n_g³ with n_g = round((n²d)^⅓), 2·n_g³ flops".into());
    print(format!(
        "{:>7} {:>4} {:>3} {:>11} {:>13} {:>6} {:>11} {:>11} {:>7}  {}",
        "n", "d", "T", "kernel_s", "kernel_GF/s", "n_g", "gemm_s", "gemm_GF/s", "ratio", "cpu"
    ));
    for &nn in n {
        let ng = equal_flop_gemm_size(nn, d);
        let (tk, tg) = pool.install(|| time_pair(nn, d, t, reps));
        let fk = 2.0 * (nn as f64).powi(2) * d as f64 / tk / 1e9;
        let fg = 2.0 * (ng as f64).powi(3) / tg / 1e9;
        print(format!(
            "{nn:>7} {d:>4} {t:>3} {tk:>11.4e} {fk:>13.1} {ng:>6} {tg:>11.4e} {fg:>11.1} {:>6.1}%  {feats}",
            100.0 * fk / fg
        ));
    }
    Ok(())
}

/// The arguments every benchmark shares: sequence lengths ≥ 1, head dimension ≥ 1, 1 ≤ reps ≤ 1000
/// (one-line errors naming the flag).
pub fn check_sizes(ns: &[usize], d: usize, reps: usize) -> Result<()> {
    if let Some(&bad) = ns.iter().find(|&&x| x == 0) {
        return Err(Error::invalid("--n", format!("sequence lengths must be ≥ 1, got {bad}")));
    }
    if d == 0 {
        return Err(Error::invalid("--d", "head dimension must be ≥ 1"));
    }
    if !(1..=1000).contains(&reps) {
        return Err(Error::invalid("--reps", format!("expected 1 ≤ reps ≤ 1000, got {reps}")));
    }
    // n·d elements per tensor, counted without wrapping; beyond 2^30 (4 GiB of f32 per tensor) the
    // allocation would abort the process instead of failing here.
    use crate::sweep::dataset::MAX_TENSOR_ELEMS;
    if let Some(&n) = ns.iter().find(|&&n| n.checked_mul(d).is_none_or(|e| e > MAX_TENSOR_ELEMS)) {
        return Err(Error::invalid(
            "--n",
            format!("n = {n} with d = {d} is more than 2^30 elements per tensor (4 GiB of f32): refused"),
        ));
    }
    Ok(())
}

/// Time `exact` and `solver` alternately and keep the fastest of each (the solver's last result is
/// returned): ratios of the two are measured side by side in one run. `reps` pairs (≥ 1), or more
/// for short runs ([`short_run_pairs`]), so that a sub-millisecond head is not judged on three
/// samples of a noisy machine; the first pair counts.
fn time_alternating<T, E>(
    reps: usize,
    mut exact: impl FnMut(),
    mut solver: impl FnMut() -> std::result::Result<T, E>,
) -> std::result::Result<(f64, f64, T), E> {
    let mut pair = || -> std::result::Result<(f64, f64, T), E> {
        let t = Instant::now();
        exact();
        let te = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let r = solver()?;
        Ok((te, t.elapsed().as_secs_f64(), r))
    };
    let (mut te, mut ts, mut last) = pair()?;
    for _ in 1..short_run_pairs(reps, te + ts) {
        let (e, s, r) = pair()?;
        (te, ts, last) = (te.min(e), ts.min(s), r);
    }
    Ok((te, ts, last))
}

/// A solver benchmark regime: the dataset it draws heads from.
pub fn solver_regime(name: &str) -> Result<crate::sweep::dataset::DatasetSpec> {
    use crate::sweep::dataset::DatasetSpec as D;
    Ok(match name {
        // A few hundred tight centres, ‖q‖ ≈ ‖k‖ ≈ 2.
        "clustered" => D::Clustered { clusters: 256, spread: 1e-4, scale: 2.0 },
        // Keys/queries on a random 4-dim subspace plus small noise.
        "lowdim" => D::LowDim { rank: 4, noise: 1e-4, scale: 2.0 },
        // Peaked rows with structure: 64 tight centres, ‖q‖ ≈ ‖k‖ ≈ 6 (top cluster dominates).
        "peaked" => D::Clustered { clusters: 64, spread: 1e-4, scale: 6.0 },
        // Alman–Song: entries uniform in [−B, B], B = √(ln n).
        "bounded" => D::Bounded { entry: None, entry_rel: Some(1.0) },
        // Generator fitted to a real MiniLM head (shipped slice, layer 0 head 0, 16 clusters).
        "real-stats" => {
            D::RealStats { file: "tests/data/minilm_slice.safetensors".into(), layer: 0, head: 0, clusters: 16 }
        }
        _ => {
            return Err(crate::Error::invalid(
                "--regime",
                format!("unknown regime `{name}` (expected clustered, lowdim, peaked, bounded or real-stats)"),
            ));
        }
    })
}

/// The head dimension a run of `regime` uses: `d` when given, else the regime's own — 64 for the
/// synthetic regimes, the fitted real head's for `real-stats`, which draws that d whatever is asked
/// ([`crate::sweep::dataset::DatasetSpec::fixed_d`]), so another `--d` is refused rather than ignored.
pub fn regime_d(regime: &str, spec: &crate::sweep::dataset::DatasetSpec, d: Option<usize>) -> Result<usize> {
    const SYNTHETIC_D: usize = 64;
    match (d, spec.fixed_d()?) {
        (Some(0), _) => Err(Error::invalid("--d", "head dimension must be ≥ 1")),
        (Some(d), Some(own)) if d != own => Err(Error::invalid(
            "--d",
            format!("regime `{regime}` draws heads of d = {own} (fitted to a real head), got --d {d}"),
        )),
        (_, Some(own)) => Ok(own),
        (Some(d), None) => Ok(d),
        (None, None) => Ok(SYNTHETIC_D),
    }
}

/// One line of `bench solver`.
#[derive(Debug, Clone)]
pub struct SolverPoint {
    pub n: usize,
    pub exact_secs: f64,
    pub exact_extrapolated: bool,
    pub solver_secs: f64,
    pub max_cert: f64,
    pub max_err: f64,
    pub rows_checked: usize,
    pub plan: String,
    pub work_fraction: f64,
}

/// `attnproof bench solver`: the certified solver against the exact f32 causal kernel
/// ([`crate::reference::fast_f32::attention_f32`], whatever it currently is) in the same run.
/// `tol_rel` is relative to max|v|. Exact timings for n > `exact_max` are extrapolated ∝ n² from
/// the largest timed n (and marked so).
#[allow(clippy::too_many_arguments)]
pub fn solver_vs_exact(
    ns: &[usize],
    d: Option<usize>,
    tol_rel: f64,
    regime: &str,
    seed: u64,
    exact_max: usize,
    reps: usize,
    mut print: impl FnMut(String),
) -> Result<Vec<SolverPoint>> {
    use crate::reference::Mask;
    use crate::solver::{SolverOptions, compare, solve};
    let spec = solver_regime(regime)?;
    let d = regime_d(regime, &spec, d)?;
    check_sizes(ns, d, reps)?;
    if !(tol_rel.is_finite() && tol_rel > 0.0) {
        return Err(crate::Error::invalid("--tol", format!("expected a positive finite tolerance, got {tol_rel}")));
    }
    // An n above --exact-max borrows its exact time from the last timed n before it: there must be one.
    if let Some(&n) = ns.iter().take_while(|&&n| n > exact_max).next() {
        return Err(crate::Error::invalid(
            "--exact-max",
            format!(
                "{exact_max} is below n = {n}, the first size listed, so no exact time could be measured to extrapolate \
                 from (expected --exact-max ≥ {n}, or a smaller n listed first)"
            ),
        ));
    }
    let mut pts = Vec::new();
    let mut last_exact: Option<(usize, f64)> = None;
    print(format!(
        "bench solver: regime {regime} = {}, d = {d} (dv = d), tol = {tol_rel:.1e}·max|v|, mask causal, seed {seed}",
        spec.label()
    ));
    print(format!(
        "exact = crate::reference::fast_f32::attention_f32 (tiled f32 kernel, all cores); exact and solver timed \
         alternately, fastest of ≥ {reps} (more pairs for short runs)"
    ));
    print(format!(
        "{:>7} {:>11} {:>10} {:>8} {:>10} {:>10} {:>10} {:>6} {:>7}  plan",
        "n", "exact_s", "solver_s", "speedup", "max_cert", "cert/max|v|", "max_err", "rows", "work"
    ));
    for &n in ns {
        let h = spec.generate(n, d, d, seed)?;
        let head = h.head()?;
        let vmax = crate::theory::fp::max_abs_f64(&h.v);
        let tol = tol_rel * vmax.max(f64::MIN_POSITIVE);
        let exact_run = || {
            let o = crate::reference::fast_f32::attention_f32(&head, Mask::Causal);
            std::hint::black_box(&o);
        };
        let solver_run = || solve(&head, Mask::Causal, tol, &SolverOptions::default());
        let (exact_secs, extrap, solver_secs, r) = if h.n <= exact_max {
            let (te, ts, r) = time_alternating(reps, exact_run, solver_run)?;
            last_exact = Some((h.n, te));
            (te, false, ts, r)
        } else {
            let (_, ts, r) = time_alternating(reps, || {}, solver_run)?;
            // Always Some: the first size is timed (checked above) and every timed size sets it.
            let Some((n0, s0)) = last_exact else {
                return Err(crate::Error::invalid("--exact-max", format!("no exact time measured before n = {}", h.n)));
            };
            (s0 * (h.n as f64 / n0 as f64).powi(2), true, ts, r)
        };
        // True error on ≤ 64 evenly spaced rows plus the row of the largest certificate.
        let step = (h.n / 64).max(1);
        let mut rows: Vec<usize> = (0..h.n).step_by(step).collect();
        let worst =
            r.cert.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|x| x.0 + r.rows.start).unwrap_or(0);
        rows.push(worst);
        rows.push(h.n - 1);
        let checks = compare::check_rows(&head, Mask::Causal, &r, Some(&rows));
        if let Some(c) = checks.iter().find(|c| !c.ok()) {
            return Err(crate::Error::invalid(
                "solver",
                format!("certificate violated at n = {}, row {}: {c:?}", h.n, c.row),
            ));
        }
        let max_err = checks.iter().map(|c| c.err).fold(0.0, f64::max);
        let p = SolverPoint {
            n: h.n,
            exact_secs,
            exact_extrapolated: extrap,
            solver_secs,
            max_cert: r.max_cert(),
            max_err,
            rows_checked: checks.len(),
            plan: r.plan.label(),
            work_fraction: r.stats.work as f64 / r.stats.exact_work.max(1) as f64,
        };
        print(format!(
            "{:>7} {:>10.3e}{} {:>10.3e} {:>8.1} {:>10.2e} {:>10.2e} {:>10.2e} {:>6} {:>7.4}  {} (fallback rows {}, plan {:.3}s of which build {:.3}s, insert {:.3}s, gather {:.3}s)",
            p.n,
            p.exact_secs,
            if extrap { "*" } else { " " },
            p.solver_secs,
            p.exact_secs / p.solver_secs,
            p.max_cert,
            p.max_cert / vmax,
            p.max_err,
            p.rows_checked,
            p.work_fraction,
            p.plan,
            r.stats.fallback_rows,
            r.stats.plan_secs,
            r.stats.build_secs,
            r.stats.insert_secs,
            r.stats.gather_secs
        ));
        pts.push(p);
    }
    let fit = |sel: &[&SolverPoint]| {
        let xs: Vec<f64> = sel.iter().map(|p| p.n as f64).collect();
        let ys: Vec<f64> = sel.iter().map(|p| p.solver_secs).collect();
        crate::stats::loglog_slope(&xs, &ys, 0.95)
    };
    let all: Vec<&SolverPoint> = pts.iter().collect();
    if let Some(f) = fit(&all) {
        print(format!(
            "solver time ∝ n^{:.2} (95% CI [{:.2}, {:.2}], {} points; crate::stats::loglog_slope)",
            f.slope, f.lo, f.hi, f.points
        ));
    }
    // The same fit over the points where the tree plan ran (the exact plan is ∝ n² by design).
    let tree: Vec<&SolverPoint> = pts.iter().filter(|p| p.plan.starts_with("tree")).collect();
    if let (true, Some(f)) = (tree.len() < pts.len(), fit(&tree)) {
        print(format!(
            "solver time over the tree-plan points only ∝ n^{:.2} (95% CI [{:.2}, {:.2}], {} points)",
            f.slope, f.lo, f.hi, f.points
        ));
    }
    if pts.iter().any(|p| p.exact_extrapolated) {
        print("* exact time extrapolated ∝ n² from the largest timed n (--exact-max)".into());
    }
    Ok(pts)
}

/// `bench solver --plot`: solver and exact-kernel time against n, log-log, with the fitted
/// slopes ([`crate::stats::loglog_slope`]) in the legend. Extrapolated exact times are left out.
pub fn solver_svg(pts: &[SolverPoint], regime: &str, tol_rel: f64) -> Result<String> {
    let slope = |xy: &[(f64, f64)]| -> String {
        let (xs, ys): (Vec<f64>, Vec<f64>) = xy.iter().copied().unzip();
        match crate::stats::loglog_slope(&xs, &ys, 0.95) {
            Some(f) => format!("slope {:.2} [{:.2}, {:.2}]", f.slope, f.lo, f.hi),
            None => "slope: too few points".into(),
        }
    };
    let solver: Vec<(f64, f64)> = pts.iter().map(|p| (p.n as f64, p.solver_secs)).collect();
    let exact: Vec<(f64, f64)> =
        pts.iter().filter(|p| !p.exact_extrapolated).map(|p| (p.n as f64, p.exact_secs)).collect();
    let series = vec![
        plot::Series {
            name: format!("solver, tol {tol_rel:.0e}·max|v| ({})", slope(&solver)),
            pts: solver,
            dashed: false,
            color: 1,
        },
        plot::Series { name: format!("exact f32 kernel ({})", slope(&exact)), pts: exact, dashed: true, color: 0 },
    ];
    plot::loglog_svg(
        &format!("bench solver, regime {regime}: time vs n"),
        "n",
        "seconds",
        &series,
        None,
        plotters::prelude::SeriesLabelPosition::UpperLeft,
    )
}

/// The tolerance of `attnproof solve`: absolute, or relative to each head's max|v|.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tol {
    Absolute(f64),
    RelativeToMaxV(f64),
}

impl Tol {
    fn value(&self) -> f64 {
        match *self {
            Tol::Absolute(t) | Tol::RelativeToMaxV(t) => t,
        }
    }
    /// The absolute tolerance for a head whose values have max|v| = `vmax`.
    pub fn for_head(&self, vmax: f64) -> f64 {
        match *self {
            Tol::Absolute(t) => t,
            Tol::RelativeToMaxV(t) => t * vmax,
        }
    }
    fn label(&self) -> String {
        match *self {
            Tol::Absolute(t) => format!("{t:.1e}"),
            Tol::RelativeToMaxV(t) => format!("{t:.1e}·max|v| (per head)"),
        }
    }
}

/// `attnproof solve FILE`: per head of a real-data file, the solver against the exact f32 kernel in
/// the same run, the largest certificate, the true error against float64 on every row, the plan.
pub fn solve_file(
    file: &std::path::Path,
    tol: Tol,
    layer: Option<usize>,
    head: Option<usize>,
    mask: crate::reference::Mask,
    reps: usize,
    mut print: impl FnMut(String),
) -> Result<()> {
    use crate::reference::Head;
    use crate::solver::{SolverOptions, compare, solve};
    if !(tol.value() > 0.0 && tol.value().is_finite()) {
        return Err(crate::Error::invalid(
            "--tol",
            format!("expected a positive finite tolerance, got {}", tol.value()),
        ));
    }
    if !(1..=1000).contains(&reps) {
        return Err(Error::invalid("--reps", format!("expected 1 ≤ reps ≤ 1000, got {reps}")));
    }
    let heads = crate::data::load_heads(file)?;
    let sel: Vec<_> =
        heads.iter().filter(|h| layer.is_none_or(|l| h.layer == l) && head.is_none_or(|x| h.head == x)).collect();
    if sel.is_empty() {
        return Err(crate::Error::invalid("--layer/--head", format!("no such head in {}", file.display())));
    }
    print(format!(
        "solve {} tol {} mask {mask:?}; exact = fast_f32::attention_f32; exact and solver timed alternately, \
         fastest of ≥ {reps} (more pairs for short runs)",
        file.display(),
        tol.label()
    ));
    let (mut speedups, mut max_cert, mut all_err) = (Vec::new(), 0.0f64, 0.0f64);
    print(format!(
        "{:<28} {:>6} {:>4} {:>9} {:>9} {:>7} {:>10} {:>10} {:>7}  plan",
        "head", "n", "d", "exact_s", "solver_s", "speedup", "max_cert", "max_err", "work"
    ));
    for h in sel {
        let hd = Head::new(&h.q, &h.k, &h.v, h.n, h.d, h.dv()).map_err(|e| e.on_head(&h.label))?;
        let tol = tol.for_head(crate::theory::fp::max_abs_f64(&h.v).max(f64::MIN_POSITIVE));
        let (te, ts, r) = time_alternating(
            reps,
            || {
                let o = crate::reference::fast_f32::attention_f32(&hd, mask);
                std::hint::black_box(&o);
            },
            || solve(&hd, mask, tol, &SolverOptions::default()),
        )
        .map_err(|e| e.on_head(&h.label))?;
        speedups.push(te / ts);
        max_cert = max_cert.max(r.max_cert());
        let checks = compare::check_rows(&hd, mask, &r, None);
        if let Some(c) = checks.iter().find(|c| !c.ok()) {
            return Err(crate::Error::invalid(
                "solver",
                format!("certificate violated on {} row {}: {c:?}", h.label, c.row),
            ));
        }
        let max_err = checks.iter().map(|c| c.err).fold(0.0, f64::max);
        all_err = all_err.max(max_err);
        print(format!(
            "{:<28} {:>6} {:>4} {:>9.3e} {:>9.3e} {:>7.2} {:>10.2e} {:>10.2e} {:>7.3}  {} (fallback rows {})",
            h.label,
            h.n,
            h.d,
            te,
            ts,
            te / ts,
            r.max_cert(),
            max_err,
            r.stats.work as f64 / r.stats.exact_work.max(1) as f64,
            r.plan.label(),
            r.stats.fallback_rows
        ));
    }
    let median = crate::stats::median(&mut speedups);
    if let (Some(lo), Some(hi)) = (speedups.first(), speedups.last()) {
        print(format!(
            "{} heads: speedup (exact/solver) min {lo:.2}, median {median:.2}, max {hi:.2}; max certificate {max_cert:.2e}, \
             max true error {all_err:.2e}",
            speedups.len(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_runs_take_more_pairs_up_to_a_cap() {
        assert_eq!(short_run_pairs(3, 10.0), 3);
        assert_eq!(short_run_pairs(0, 10.0), 1);
        assert_eq!(short_run_pairs(3, 0.01), 50);
        assert_eq!(short_run_pairs(3, 1e-9), 1000);
        assert_eq!(short_run_pairs(2000, 1e-9), 2000);
    }

    #[test]
    fn alternating_timing_runs_both_each_pair_and_stops_at_the_first_error() {
        let (mut e, mut s) = (0usize, 0usize);
        let sleep = || std::thread::sleep(std::time::Duration::from_millis(30));
        let r: std::result::Result<_, ()> = time_alternating(
            4,
            || {
                e += 1;
                sleep()
            },
            || {
                s += 1;
                sleep();
                Ok(s)
            },
        );
        let (te, ts, last) = r.expect("no error");
        // 60 ms per pair: short_run_pairs gives ⌈0.5/0.06⌉ = 9 ≥ 4 pairs (or fewer if the sleeps
        // overran), the first one counted; the result is the solver's last.
        assert!(e >= 4 && e == s && last == s, "e {e} s {s} last {last}");
        assert!(te >= 0.03 && ts >= 0.03);
        let mut calls = 0;
        let r: std::result::Result<(f64, f64, ()), &str> = time_alternating(
            5,
            || {},
            || {
                calls += 1;
                if calls == 2 { Err("second") } else { Ok(()) }
            },
        );
        assert_eq!(r.err(), Some("second"));
        assert_eq!(calls, 2);
    }
}
