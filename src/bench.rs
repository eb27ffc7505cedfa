//! `attnproof bench`: FLOP rates measured side by side in one run (placeholder until the kernel lands).
use crate::Result;

/// Fast exact f32 causal attention vs a same-run f32 GEMM of equal FLOP count.
pub fn exact_vs_gemm(
    _n: &[usize],
    _d: usize,
    _threads: Option<usize>,
    _reps: usize,
    mut print: impl FnMut(String),
) -> Result<()> {
    print("bench exact: not yet implemented".into());
    Ok(())
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
        "real-stats" => D::RealStats { file: "tests/data/minilm_slice.safetensors".into(), layer: 0, head: 0, clusters: 16 },
        _ => {
            return Err(crate::Error::invalid(
                "--regime",
                format!("unknown regime `{name}` (expected clustered, lowdim, peaked, bounded or real-stats)"),
            ));
        }
    })
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
    d: usize,
    tol_rel: f64,
    regime: &str,
    seed: u64,
    exact_max: usize,
    mut print: impl FnMut(String),
) -> Result<Vec<SolverPoint>> {
    use crate::reference::{Head, Mask};
    use crate::solver::{SolverOptions, compare, solve};
    let spec = solver_regime(regime)?;
    let mut pts = Vec::new();
    let mut last_exact: Option<(usize, f64)> = None;
    print(format!("bench solver: regime {regime} = {}, d = {d} (dv = d), tol = {tol_rel:.1e}·max|v|, mask causal, seed {seed}", spec.label()));
    print("exact = crate::reference::fast_f32::attention_f32 as currently on this branch (row-loop placeholder until the tiled kernel is merged)".into());
    print(format!("{:>7} {:>11} {:>10} {:>8} {:>10} {:>10} {:>10} {:>6} {:>7}  plan", "n", "exact_s", "solver_s", "speedup", "max_cert", "cert/max|v|", "max_err", "rows", "work"));
    for &n in ns {
        let h = spec.generate(n, d, d, seed)?;
        let head = Head::new(&h.q, &h.k, &h.v, h.n, h.d, h.dv)?;
        let vmax = h.v.iter().fold(0.0f64, |m, x| m.max(x.abs() as f64));
        let tol = tol_rel * vmax.max(f64::MIN_POSITIVE);
        let (exact_secs, extrap) = if h.n <= exact_max {
            let t = std::time::Instant::now();
            let o = crate::reference::fast_f32::attention_f32(&head, Mask::Causal);
            std::hint::black_box(&o);
            let s = t.elapsed().as_secs_f64();
            last_exact = Some((h.n, s));
            (s, false)
        } else if let Some((n0, s0)) = last_exact {
            (s0 * (h.n as f64 / n0 as f64).powi(2), true)
        } else {
            (f64::NAN, true)
        };
        let t = std::time::Instant::now();
        let r = solve(&head, Mask::Causal, tol, &SolverOptions::default())?;
        let solver_secs = t.elapsed().as_secs_f64();
        // True error on ≤ 64 evenly spaced rows plus the row of the largest certificate.
        let step = (h.n / 64).max(1);
        let mut rows: Vec<usize> = (0..h.n).step_by(step).collect();
        let worst = r.cert.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|x| x.0 + r.rows.start).unwrap_or(0);
        rows.push(worst);
        rows.push(h.n - 1);
        let checks = compare::check_rows(&head, Mask::Causal, &r, Some(&rows));
        if let Some(c) = checks.iter().find(|c| !c.ok()) {
            return Err(crate::Error::invalid("solver", format!("certificate violated at n = {}, row {}: {c:?}", h.n, c.row)));
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
            "{:>7} {:>10.4}{} {:>10.4} {:>8.1} {:>10.2e} {:>10.2e} {:>10.2e} {:>6} {:>7.4}  {} (fallback rows {}, plan {:.3}s)",
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
            r.stats.plan_secs
        ));
        pts.push(p);
    }
    let xs: Vec<f64> = pts.iter().map(|p| p.n as f64).collect();
    let ys: Vec<f64> = pts.iter().map(|p| p.solver_secs).collect();
    if let Some(f) = crate::stats::loglog_slope(&xs, &ys, 0.95) {
        print(format!("solver time ∝ n^{:.2} (95% CI [{:.2}, {:.2}], {} points; crate::stats::loglog_slope)", f.slope, f.lo, f.hi, f.points));
    }
    if pts.iter().any(|p| p.exact_extrapolated) {
        print("* exact time extrapolated ∝ n² from the largest timed n (--exact-max)".into());
    }
    Ok(pts)
}

/// `attnproof solve FILE`: per head of a real-data file, the solver against the exact f32 kernel in
/// the same run, the largest certificate, the true error against float64 on every row, the plan.
pub fn solve_file(
    file: &std::path::Path,
    tol: f64,
    layer: Option<usize>,
    head: Option<usize>,
    mask: crate::reference::Mask,
    mut print: impl FnMut(String),
) -> Result<()> {
    use crate::reference::Head;
    use crate::solver::{SolverOptions, compare, solve};
    if !(tol > 0.0 && tol.is_finite()) {
        return Err(crate::Error::invalid("--tol", format!("expected a positive finite tolerance, got {tol}")));
    }
    let heads = crate::data::load_heads(file)?;
    let sel: Vec<_> = heads.iter().filter(|h| layer.is_none_or(|l| h.layer == l) && head.is_none_or(|x| h.head == x)).collect();
    if sel.is_empty() {
        return Err(crate::Error::invalid("--layer/--head", format!("no such head in {}", file.display())));
    }
    print(format!("solve {} tol {tol:.1e} mask {mask:?}; exact = fast_f32::attention_f32 as on this branch", file.display()));
    print(format!("{:<28} {:>6} {:>4} {:>9} {:>9} {:>7} {:>10} {:>10} {:>7}  plan", "head", "n", "d", "exact_s", "solver_s", "speedup", "max_cert", "max_err", "work"));
    for h in sel {
        let hd = Head::new(&h.q, &h.k, &h.v, h.n, h.d, h.dv())?;
        let t = std::time::Instant::now();
        let o = crate::reference::fast_f32::attention_f32(&hd, mask);
        std::hint::black_box(&o);
        let te = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let r = solve(&hd, mask, tol, &SolverOptions::default())?;
        let ts = t.elapsed().as_secs_f64();
        let checks = compare::check_rows(&hd, mask, &r, None);
        if let Some(c) = checks.iter().find(|c| !c.ok()) {
            return Err(crate::Error::invalid("solver", format!("certificate violated on {} row {}: {c:?}", h.label, c.row)));
        }
        let max_err = checks.iter().map(|c| c.err).fold(0.0, f64::max);
        print(format!(
            "{:<28} {:>6} {:>4} {:>9.4} {:>9.4} {:>7.2} {:>10.2e} {:>10.2e} {:>7.3}  {} (fallback rows {})",
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
    Ok(())
}
