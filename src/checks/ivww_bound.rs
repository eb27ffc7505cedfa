//! Check of `ivww.bound` (theorem file `theorems/ivww.bound.yaml`).
//!
//! Statistical verdict of ‖A − VUᵀ‖²_F ≤ ‖A − A_k‖²_F + ε‖A‖²_F for Algorithm 1 with s = c·k/ε
//! ([`crate::theory::ivww::algorithm1`]): independent runs (fresh seed each) over bipartite and
//! symmetric matrices of every metric on synthetic and real points; the Clopper–Pearson upper limit
//! of the failure rate at the claimed c is held against δ; the same runs with c = 1 and smaller show
//! where the bound breaks. A Table-1-style timing against a full SVD (k = 40) goes to the notes.
use super::Ctx;
use crate::Result;
use crate::data::synthetic;
use crate::registry::Theorem;
use crate::stats::{clopper_pearson_interval, clopper_pearson_upper};
use crate::theory::fp::{U64, gamma};
use crate::theory::ivww::{DistOracle, Metric, algorithm1, best_rank_k_residual};
use crate::verdict::{Finding, Report, Verdict};
use nalgebra::DMatrix;
use std::time::Instant;

/// One matrix with its best rank-k residual.
pub struct Case {
    pub label: String,
    pub x: Vec<f64>,
    pub y: Option<Vec<f64>>,
    pub d: usize,
    pub metric: Metric,
    pub k: usize,
    pub eps: f64,
    pub a: DMatrix<f64>,
    pub tail: f64,
    pub fro: f64,
}

impl Case {
    pub fn new(
        label: String,
        x: Vec<f64>,
        y: Option<Vec<f64>>,
        d: usize,
        metric: Metric,
        k: usize,
        eps: f64,
    ) -> Result<Case> {
        let a = match &y {
            Some(y) => DistOracle::bipartite(&x, y, d, metric)?.full(),
            None => DistOracle::symmetric(&x, d, metric)?.full(),
        };
        let (tail, fro) = best_rank_k_residual(&a, k);
        Ok(Case { label, x, y, d, metric, k, eps, a, tail, fro })
    }
    /// One run with constant c: (excess = (‖A−VU‖² − ‖A−A_k‖²)/‖A‖², failed?).
    pub fn run(&self, c: f64, seed: u64) -> Result<(f64, bool)> {
        let o = match &self.y {
            Some(y) => DistOracle::bipartite(&self.x, y, self.d, self.metric)?,
            None => DistOracle::symmetric(&self.x, self.d, self.metric)?,
        };
        let mut rng = crate::rng::seeded(seed);
        let ap = algorithm1(&o, self.k, self.eps, c, &mut rng)?;
        let err = (&self.a - ap.matrix()).norm_squared();
        // Rounding of the three computed squared norms (sums of n·m non-negative terms in binary64,
        // the approximation itself a k-term product per entry): γ_{nm+k+2}·‖A‖² covers them.
        let (n, m) = self.a.shape();
        let tol = 3.0 * gamma(n * m + self.k + 2, U64) * (self.fro + err);
        let excess = (err - self.tail) / self.fro;
        Ok((excess, err > self.tail + self.eps * self.fro + tol))
    }
}

/// Heavy-tailed point sets (α = 1.5, d = 8) drawn for the family stage of [`check`]: a draw often
/// has one point far from the rest, and that is where Algorithm 1 fails most (symmetric matrices,
/// k = 1; squared ℓ2 at k = 2, 3).
pub const HEAVY_DRAWS: usize = 8;

/// The (k, ε) of the matrices, rotated over point sets, metrics and the symmetric variant.
const PARAMS: [(usize, f64); 4] = [(1, 0.1), (2, 0.1), (3, 0.2), (5, 0.3)];

/// Every metric, bipartite and symmetric, of one point set (x: n × d, y: bipartite columns).
fn matrices(out: &mut Vec<Case>, si: usize, label: &str, x: &[f64], y: &[f64], d: usize, m: usize) -> Result<()> {
    for (mi, metric) in Metric::ALL.into_iter().enumerate() {
        for sym in [false, true] {
            let (k, eps) = PARAMS[(si + mi + sym as usize) % PARAMS.len()];
            let nx = x.len() / d;
            let mm = (y.len() / d).min(m.max(nx * 3 / 4));
            let lab =
                format!("{label} {} {} k={k} ε={eps}", metric.name(), if sym { "symmetric" } else { "bipartite" });
            let yy = if sym { None } else { Some(y[..mm * d].to_vec()) };
            out.push(Case::new(lab, x.to_vec(), yy, d, metric, k, eps)?);
        }
    }
    Ok(())
}

/// The matrices of the heavy-tailed family: [`HEAVY_DRAWS`] draws (seeds derived from the context's),
/// each with every metric, bipartite and symmetric.
pub fn heavy_cases(ctx: &Ctx) -> Result<Vec<Case>> {
    let (n, m) = if ctx.quick { (80, 60) } else { (200, 150) };
    let mut out = Vec::new();
    for h in 0..HEAVY_DRAWS {
        let seed = ctx.seed ^ (h as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let ht = crate::sweep::dataset::DatasetSpec::HeavyTailed { alpha: 1.5, scale: 1.0 }.generate(n, 8, 1, seed)?;
        let (x, y) = (crate::reference::widen(&ht.k), crate::reference::widen(&ht.q));
        matrices(&mut out, 2 + h, &format!("heavy-tailed α=1.5 d=8 draw {h}"), &x, &y, 8, m)?;
    }
    Ok(out)
}

/// The matrices of the main statistical test: Gaussian, clustered and real points (the
/// heavy-tailed family is [`heavy_cases`]).
pub fn cases(ctx: &Ctx) -> Result<Vec<Case>> {
    let mut rng = crate::rng::stream(ctx.seed, 42);
    let mut out = Vec::new();
    let (n, m) = if ctx.quick { (80, 60) } else { (200, 150) };
    let g = synthetic::gaussian(&mut rng, n, 8, 1, 1.0);
    let cl = crate::sweep::dataset::DatasetSpec::Clustered { clusters: 5, spread: 0.2, scale: 3.0 }
        .generate(n, 8, 1, ctx.seed)?;
    let mut sets: Vec<(String, Vec<f64>, Vec<f64>, usize)> = vec![
        ("gaussian d=8".into(), crate::reference::widen(&g.q), crate::reference::widen(&g.k), 8),
        ("clustered c=5 d=8".into(), crate::reference::widen(&cl.k), crate::reference::widen(&cl.q), 8),
    ];
    let heads = ctx.real_heads()?;
    let take = if ctx.quick { 1 } else { heads.len() };
    let toks = if ctx.quick { 96 } else { 256 };
    for h in heads.iter().take(take) {
        let (q, k, _) = h.widen();
        let t = toks.min(h.n);
        sets.push((format!("{} first {t} tokens", h.label), q[..t * h.d].to_vec(), k[..t * h.d].to_vec(), h.d));
    }
    for (si, (label, x, y, d)) in sets.into_iter().enumerate() {
        // Index 2 is the heavy-tailed family's first draw (the rotation of (k, ε) as before).
        let si = if si >= 2 { si + 1 } else { si };
        matrices(&mut out, si, &label, &x, &y, d, m)?;
    }
    Ok(out)
}

/// Per-case failure counts at constant c, `trials` runs spread round-robin over the cases:
/// (failures, trials, worst excess/ε, its case, index of the case with the most failures).
pub fn rate(cases: &[Case], c: f64, trials: usize, seed: u64) -> Result<(u64, u64, f64, String, usize)> {
    let mut per = vec![(0u64, f64::NEG_INFINITY); cases.len()];
    for t in 0..trials {
        let ci = t % cases.len();
        let cs = &cases[ci];
        let (excess, failed) = cs.run(c, seed ^ (t as u64).wrapping_mul(0x9E37_79B9) ^ c.to_bits())?;
        per[ci].0 += failed as u64;
        per[ci].1 = per[ci].1.max(excess / cs.eps);
    }
    let fails = per.iter().map(|p| p.0).sum();
    let wi = (0..cases.len()).max_by(|&a, &b| per[a].1.total_cmp(&per[b].1)).unwrap_or(0);
    let fi = (0..cases.len()).max_by(|&a, &b| per[a].0.cmp(&per[b].0).then(per[a].1.total_cmp(&per[b].1))).unwrap_or(0);
    Ok((fails, trials as u64, per[wi].1, cases[wi].label.clone(), fi))
}

/// `trials` runs of one case from `seed`: (failures, worst excess/ε).
fn runs(case: &Case, c: f64, trials: usize, seed: u64) -> Result<(u64, f64)> {
    let (mut f, mut worst) = (0u64, f64::NEG_INFINITY);
    for t in 0..trials {
        let (e, failed) = case.run(c, seed ^ (t as u64).wrapping_mul(0x2545_F491_4F6C_DD1D) ^ c.to_bits())?;
        f += failed as u64;
        worst = worst.max(e / case.eps);
    }
    Ok((f, worst))
}

/// The heavy-tailed family's hardest matrix: `screen` runs on each, then `narrow` runs on the four
/// with the most failures (ties: the largest excess), the most failures of those; its index.
fn hardest(cases: &[Case], c: f64, screen: usize, narrow: usize, seed: u64) -> Result<usize> {
    let mut first: Vec<(u64, f64, usize)> = Vec::with_capacity(cases.len());
    for (i, cs) in cases.iter().enumerate() {
        let (f, w) = runs(cs, c, screen, seed ^ 0x5C4E ^ (i as u64) << 32)?;
        first.push((f, w, i));
    }
    first.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.total_cmp(&a.1)));
    let mut best = (0u64, f64::NEG_INFINITY, first.first().map(|x| x.2).unwrap_or(0));
    for &(_, _, i) in first.iter().take(4) {
        let (f, w) = runs(&cases[i], c, narrow, seed ^ 0x4A77 ^ (i as u64) << 32)?;
        if f > best.0 || (f == best.0 && w > best.1) {
            best = (f, w, i);
        }
    }
    Ok(best.2)
}

/// Confirmation stage: `trials` fresh runs on one case; (failures, trials).
pub fn confirm(case: &Case, c: f64, trials: usize, seed: u64) -> Result<(u64, u64)> {
    Ok((runs(case, c, trials, seed ^ 0xC0F1)?.0, trials as u64))
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let c = thm.claimed_f64("sample_constant")?;
    let delta = thm.claimed_f64("failure_probability")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let cs = cases(ctx)?;
    let trials = if ctx.quick { 480 } else { 4000 };
    // Quick: 600, so that one failure on a matrix that holds does not decide the verdict (0 in 300
    // is the fewest runs whose Clopper–Pearson limit is below δ = 0.01; 1 in 600 gives 0.0079).
    let confirm_trials = if ctx.quick { 600 } else { 2000 };
    // Screening: pooled runs over all matrices.
    let (f, t, worst, wcase, fi) = rate(&cs, c, trials, ctx.seed)?;
    let upper = clopper_pearson_upper(f, t, 0.95);
    rep.findings.push(Finding::upper(
        format!("Clopper–Pearson 95% upper limit of P[‖A−VU‖² > ‖A−A_k‖² + ε‖A‖²], s = ⌈{c}·k/ε⌉, pooled over matrices, vs δ"),
        format!("{f} failures in {t} runs over {} matrices; worst (‖A−VU‖²−‖A−A_k‖²)/(ε‖A‖²) = {worst:.3} ({wcase})", cs.len()),
        upper,
        delta,
        t,
    ));
    // Confirmation: the matrix that failed most (or came closest) gets fresh runs of its own, since the
    // claim is per matrix.
    let (f2, t2) = confirm(&cs[fi], c, confirm_trials, ctx.seed)?;
    rep.findings.push(Finding::upper(
        format!("Clopper–Pearson 95% upper limit of the failure rate on the hardest screened matrix, s = ⌈{c}·k/ε⌉, fresh runs, vs δ"),
        format!("{f2} failures in {t2} runs on {}", cs[fi].label),
        clopper_pearson_upper(f2, t2, 0.95),
        delta,
        t2,
    ));
    // The heavy-tailed family (HEAVY_DRAWS draws, every metric and variant): its hardest matrix,
    // fresh runs at c, and where it fails, at 2c, 4c, 8c until the failure rate is shown below δ.
    let heavy = heavy_cases(ctx)?;
    let (screen, narrow) = if ctx.quick { (30, 300) } else { (30, 400) };
    let hi = hardest(&heavy, c, screen, narrow, ctx.seed)?;
    let hcase = &heavy[hi];
    let heavy_trials = if ctx.quick { 2000 } else { 4000 };
    let (fh, th) = confirm(hcase, c, heavy_trials, ctx.seed ^ 0x4EA7)?;
    let (hlo, hhi) = clopper_pearson_interval(fh, th, 0.95);
    let heavy_finding = Finding::upper(
        format!(
            "heavy-tailed family: Clopper–Pearson 95% upper limit of the failure rate on its hardest matrix ({HEAVY_DRAWS} draws × 8 matrices screened), s = ⌈{c}·k/ε⌉, fresh runs, vs δ"
        ),
        format!("{fh} failures in {th} runs on {}", hcase.label),
        hhi,
        delta,
        th,
    );
    let (nh, mh) = hcase.a.shape();
    let mut heavy_larger = Vec::new();
    let mut heavy_holds_at = None;
    if !heavy_finding.ok() {
        for mult in [2.0, 4.0, 8.0] {
            let cc = c * mult;
            let (f4, t4) = confirm(hcase, cc, heavy_trials, ctx.seed ^ 0x4EA8)?;
            let (lo4, hi4) = clopper_pearson_interval(f4, t4, 0.95);
            let s4 = ((cc * hcase.k as f64 / hcase.eps).ceil() as usize).min(nh.min(mh));
            let capped = if s4 == nh.min(mh) { " = min(n, m): every row's worth, no saving" } else { "" };
            heavy_larger
                .push(format!("c = {cc} (s = {s4}{capped}): {f4} failures in {t4} runs, 95% CI [{lo4:.4}, {hi4:.4}]"));
            if hi4 < delta {
                heavy_holds_at = Some((cc, s4, s4 == nh.min(mh)));
                break;
            }
        }
    }
    rep.notes.push(format!(
        "heavy-tailed family (α = 1.5, {nh}×{mh} hardest matrix {}): c = {c}: {fh} failures in {th} fresh runs, 95% CI [{hlo:.4}, {hhi:.4}] vs δ = {delta}{}",
        hcase.label,
        if heavy_larger.is_empty() { String::new() } else { format!("; {}", heavy_larger.join("; ")) }
    ));
    let mut broken = Vec::new();
    for cc in [1.0, 0.5, 0.25] {
        if cc >= c {
            continue;
        }
        let (f1, t1, w1, wc1, fi1) = rate(&cs, cc, trials, ctx.seed ^ 0xC1)?;
        let (lo, hi) = clopper_pearson_interval(f1, t1, 0.95);
        let (f3, t3) = confirm(&cs[fi1], cc, confirm_trials, ctx.seed ^ 0xC2)?;
        let (lo3, hi3) = clopper_pearson_interval(f3, t3, 0.95);
        rep.notes.push(format!(
            "c = {cc}: pooled {f1} failures in {t1} runs (95% CI [{lo:.4}, {hi:.4}]); hardest matrix {} re-run: {f3} failures in {t3} fresh runs (95% CI [{lo3:.4}, {hi3:.4}]) vs δ = {delta}; worst excess/ε = {w1:.3} ({wc1})",
            cs[fi1].label
        ));
        if lo3 > delta {
            broken.push(format!(
                "c = {cc} ({}: failure rate 95% CI [{lo3:.3}, {hi3:.3}] above δ = {delta})",
                cs[fi1].label
            ));
        } else if lo > delta {
            broken.push(format!("c = {cc} (pooled failure rate 95% CI [{lo:.3}, {hi:.3}] above δ = {delta})"));
        }
    }
    // Table 1 of IVWW (k = 40): Algorithm 1 against a full SVD on one symmetric ℓ2 matrix.
    let n = if ctx.quick { 500 } else { 1500 };
    let blobs = crate::sweep::dataset::DatasetSpec::Clustered { clusters: 20, spread: 1.0, scale: 10.0 }
        .generate(n, 200, 1, ctx.seed)?;
    let x = crate::reference::widen(&blobs.k);
    let o = DistOracle::symmetric(&x, 200, Metric::L2)?;
    let a = o.full();
    let t0 = Instant::now();
    let svd = a.clone().svd(true, true);
    let t_svd = t0.elapsed().as_secs_f64();
    let mut sv: Vec<f64> = svd.singular_values.iter().cloned().collect();
    sv.sort_by(|p, q| q.total_cmp(p));
    let tail: f64 = sv.iter().skip(40).map(|s| s * s).sum();
    let fro = a.norm_squared();
    let mut rng = crate::rng::stream(ctx.seed, 43);
    let o2 = DistOracle::symmetric(&x, 200, Metric::L2)?;
    let t1 = Instant::now();
    let ap = algorithm1(&o2, 40, 1.0, c, &mut rng)?;
    let t_alg = t1.elapsed().as_secs_f64();
    let err = (&a - ap.matrix()).norm_squared();
    rep.notes.push(format!(
        "Table-1 analogue (symmetric ℓ2, {n} points of 20 blobs in R^200, k = 40, ε = 1, s = {}): full SVD (nalgebra) {t_svd:.3e} s, Algorithm 1 {t_alg:.3e} s ({} of {} entries read); ‖A−A_40‖²/‖A‖² = {:.2e}, ‖A−VU‖²/‖A‖² = {:.2e}; timed in one run by `cargo run --release -- verify{} ivww.bound`",
        ap.s,
        ap.reads,
        n * n,
        tail / fro,
        err / fro,
        if ctx.quick { " --quick" } else { "" }
    ));
    rep.notes.push(format!("real data: {}", ctx.data_label()));
    // The main matrices decide holds / fails; the heavy-tailed family either holds too or bounds the
    // regime (it is reported as a finding either way, so that its measured rate is the table's worst).
    rep = rep.conclude_all();
    let main_holds = rep.verdict == Verdict::Holds;
    rep.findings.push(heavy_finding.clone());
    if main_holds && (!heavy_finding.ok() || !broken.is_empty()) {
        rep.verdict = Verdict::HoldsInRegime;
        let mut parts =
            vec![format!("s = ⌈c·k/ε⌉ sampled rows with c ≥ {c} on Gaussian, clustered and real point sets")];
        if !heavy_finding.ok() {
            let how = if hlo > delta { "fails" } else { "is not shown to hold" };
            let there = match heavy_holds_at {
                Some((cc, s4, false)) => format!("; c = {cc} (s = {s4}) holds there"),
                Some((cc, s4, true)) => {
                    format!("; c = {cc} holds there with s = {s4} = min(n, m) (no sampling saving)")
                }
                None => format!("; not shown to hold there up to c = {}", c * 8.0),
            };
            parts.push(format!(
                "on heavy-tailed point sets c = {c} {how} ({}: {fh} failures in {th} runs, 95% CI [{hlo:.4}, {hhi:.4}] vs δ = {delta}){there}",
                hcase.label
            ));
        }
        if !broken.is_empty() {
            parts.push(format!("fails for {}", broken.join(", ")));
        }
        rep.regime = Some(parts.join("; "));
    } else if !main_holds {
        rep.verdict = Verdict::Fails;
    }
    Ok(rep)
}

/// Sweep measure: `trials` independent runs of Algorithm 1 with s = ⌈c·k/ε⌉ (`c` defaults to the
/// claimed constant) on one n × n/2 matrix (or n×n with `symmetric` = 1) of the point's dataset.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let c = p.f64_or("c", thm.claimed_f64("sample_constant")?)?;
    let metric = Metric::from_index(p.usize_or("metric", 1)?)?;
    let (k, eps) = (p.usize_at_least("k", 1)?, p.f64("eps")?);
    let sym = p.usize_or("symmetric", 0)? == 1;
    let h = p.dataset.generate(p.usize_at_least("n", 1)?, p.usize_or_at_least("d", 8, 1)?, 1, p.seed)?;
    let x = crate::reference::widen(&h.q);
    let m = (h.n / 2).max(1);
    let y = if sym { None } else { Some(crate::reference::widen(&h.k[..m * h.d])) };
    let case = Case::new(p.key.clone(), x, y, h.d, metric, k, eps)?;
    let (mut fails, mut worst) = (0u64, f64::NEG_INFINITY);
    for t in 0..p.trials {
        let (e, f) = case.run(c, p.seed ^ t.wrapping_mul(0x9E37_79B9_7F4A_7C15))?;
        fails += f as u64;
        worst = worst.max(e / eps);
    }
    Ok(crate::sweep::run::metrics([
        ("failures", fails as f64),
        ("trials", p.trials as f64),
        ("worst_excess_over_eps", worst),
        ("best_rank_k_rel", case.tail / case.fro),
        ("n", h.n as f64),
    ]))
}
