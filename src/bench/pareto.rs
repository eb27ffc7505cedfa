//! `attnproof bench pareto`: the error/time Pareto front of the certified solver and the approximate
//! methods on one causal head (issue [D]).
//!
//! Per setting: the output of one run is compared with the float64 exact causal reference
//! ([`crate::reference::attention_f64`] on the widened head): max and mean |error| over all rows and
//! columns, both divided by max|v|. Time: after that first (warm-up) run, `reps` pairs of (method,
//! exact f32 kernel) runs, alternated (the order flips every pair so that load from other processes
//! hits both alike); reported are the median time of each and the median of the per-pair ratios
//! method/exact, i.e. time relative to [`crate::reference::fast_f32::attention_f32_tiled`] measured
//! in the same run. Short runs get more pairs (~0.3 s per setting, at most 50).
//!
//! Methods (implementations: [`super::fast`], f32, parallel, gemm — except where noted):
//! * `exact-f32`: the tiled f32 kernel itself (time ratio ≈ 1; its error is f32 rounding).
//! * `solver`: [`crate::solver::solve`] at tol·max|v| (certified: max error ≤ tol·max|v|);
//!   `solver-tree` (not in the default list): the same with the planner forced to the tree plan.
//! * `performer`: causal FAVOR+ with m orthogonal features ([`super::fast::performer_attention`]).
//! * `topk`: oracle top-k — needs every causal score, so its cost is at least the exact cost.
//! * `window`: last-w causal window; `longformer`: causal window ±half plus `global` first tokens.
//! * `nystrom`: Nyström softmax attention with k landmark keys (uniform without replacement), as
//!   Nyström–Euclidean attention ([`crate::theory::nystrom::attention`], f64, single-threaded) on
//!   the augmented vectors q' = [q, 0], k' = [k, √(R² − ‖k‖²)], R = max‖k‖: then
//!   −‖q' − k'‖²/2 = q·k − (‖q‖² + R²)/2, so with τ = 2 its kernel is e^{q·k} up to a per-row
//!   factor that cancels. **Not causal**: the landmark summary Φ_Kᵀ[V 1] uses every key, so each
//!   row sees the future; it is evaluated that way against the causal reference (the measured error
//!   includes the leak) and excluded from the front.
//!
//! The front: settings of causal methods not dominated on (max error, time relative to exact) —
//! see [`front`].
use super::fast;
use crate::data::synthetic::SynthHead;
use crate::reference::fast_f32::{self, Tiling};
use crate::reference::{Head, Mask};
use crate::stats::median;
use crate::{Error, Result};
use rand::seq::index::sample;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Which head to run on.
#[derive(Debug, Clone)]
pub enum Source {
    /// A real-data file (MiniLM/SmolLM2 layout), one head, the first `n` tokens (all when `None`).
    File { path: PathBuf, layer: usize, head: usize, n: Option<usize> },
    /// A synthetic regime of [`super::solver_regime`] at n tokens, dimension d (dv = d);
    /// `d`: `None` for the regime's own ([`super::regime_d`]).
    Regime { name: String, n: usize, d: Option<usize> },
}

/// One setting of one method.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    Exact,
    Solver {
        tol: f64,
    },
    /// The solver with its planner forced to the tree plan (`SolverOptions::force`).
    SolverTree {
        tol: f64,
    },
    Performer {
        m: usize,
    },
    Nystrom {
        k: usize,
    },
    TopK {
        k: usize,
    },
    Window {
        w: usize,
    },
    Longformer {
        half: usize,
        global: usize,
    },
}

impl Setting {
    pub fn family(&self) -> &'static str {
        match self {
            Setting::Exact => "exact-f32",
            Setting::Solver { .. } => "solver",
            Setting::SolverTree { .. } => "solver-tree",
            Setting::Performer { .. } => "performer",
            Setting::Nystrom { .. } => "nystrom",
            Setting::TopK { .. } => "topk",
            Setting::Window { .. } => "window",
            Setting::Longformer { .. } => "longformer",
        }
    }
    pub fn param(&self) -> String {
        match *self {
            Setting::Exact => "-".into(),
            Setting::Solver { tol } | Setting::SolverTree { tol } => format!("tol={tol:.0e}"),
            Setting::Performer { m } => format!("m={m}"),
            Setting::Nystrom { k } => format!("k={k}"),
            Setting::TopK { k } => format!("k={k}"),
            Setting::Window { w } => format!("w={w}"),
            Setting::Longformer { half, global } => format!("±{half},g={global}"),
        }
    }
    /// The setting as run on n tokens, and the flag whose value was lowered: top-k with k > n and a
    /// window w > n keep every causal key (k = n, w = n: the exact method), Nyström cannot take more
    /// than n landmarks. The label then shows the value that ran, not the one asked for.
    pub fn at_most_n(&self, n: usize) -> (Setting, Option<String>) {
        let lowered = |flag: &str, v: usize| (v > n).then(|| format!("{flag} {v} > n = {n}: ran with {n}"));
        match *self {
            Setting::TopK { k } => (Setting::TopK { k: k.min(n) }, lowered("--topk", k)),
            Setting::Window { w } => (Setting::Window { w: w.min(n) }, lowered("--window", w)),
            Setting::Nystrom { k } => (Setting::Nystrom { k: k.min(n) }, lowered("--nystrom", k)),
            _ => (self.clone(), None),
        }
    }
    /// True when row i of the method depends on tokens j ≤ i only.
    pub fn causal(&self) -> bool {
        !matches!(self, Setting::Nystrom { .. })
    }
}

/// The methods `--methods` may name.
pub const FAMILIES: [&str; 8] =
    ["exact", "solver", "performer", "nystrom", "topk", "window", "longformer", "solver-tree"];

/// Parameter lists of `bench pareto` (CLI names in the error messages).
#[derive(Debug, Clone)]
pub struct Grid {
    pub methods: Vec<String>,
    pub tol: Vec<f64>,
    /// Tolerances of `solver-tree` (empty: those of `--tol`).
    pub tree_tol: Vec<f64>,
    pub performer: Vec<usize>,
    pub nystrom: Vec<usize>,
    pub topk: Vec<usize>,
    pub window: Vec<usize>,
    /// `HALF:GLOBAL`.
    pub longformer: Vec<String>,
}

impl Grid {
    /// The settings, validated: one-line errors naming the flag.
    pub fn settings(&self) -> Result<Vec<Setting>> {
        for m in &self.methods {
            if !FAMILIES.contains(&m.as_str()) {
                return Err(Error::invalid(
                    "--methods",
                    format!("unknown method `{m}` (expected {})", FAMILIES.join(", ")),
                ));
            }
        }
        let on = |f: &str| self.methods.iter().any(|m| m == f);
        let pos = |flag: &str, v: &[usize]| -> Result<()> {
            match v.iter().find(|&&x| x == 0) {
                Some(_) => Err(Error::invalid(flag, "every value must be ≥ 1, got 0")),
                None => Ok(()),
            }
        };
        pos("--performer", &self.performer)?;
        pos("--nystrom", &self.nystrom)?;
        pos("--topk", &self.topk)?;
        pos("--window", &self.window)?;
        if let Some(t) = self.tol.iter().find(|t| !(t.is_finite() && **t > 0.0)) {
            return Err(Error::invalid("--tol", format!("expected positive finite tolerances, got {t}")));
        }
        if let Some(t) = self.tree_tol.iter().find(|t| !(t.is_finite() && **t > 0.0)) {
            return Err(Error::invalid("--tree-tol", format!("expected positive finite tolerances, got {t}")));
        }
        let tree_tol = if self.tree_tol.is_empty() { &self.tol } else { &self.tree_tol };
        let mut lf = Vec::new();
        for s in &self.longformer {
            let bad = || Error::invalid("--longformer", format!("expected HALF:GLOBAL (e.g. 64:4), got `{s}`"));
            let (a, b) = s.split_once(':').ok_or_else(bad)?;
            let half: usize = a.trim().parse().map_err(|_| bad())?;
            let global: usize = b.trim().parse().map_err(|_| bad())?;
            lf.push(Setting::Longformer { half, global });
        }
        let mut out = Vec::new();
        if on("exact") {
            out.push(Setting::Exact);
        }
        if on("solver") {
            out.extend(self.tol.iter().map(|&tol| Setting::Solver { tol }));
        }
        if on("solver-tree") {
            out.extend(tree_tol.iter().map(|&tol| Setting::SolverTree { tol }));
        }
        if on("performer") {
            out.extend(self.performer.iter().map(|&m| Setting::Performer { m }));
        }
        if on("nystrom") {
            out.extend(self.nystrom.iter().map(|&k| Setting::Nystrom { k }));
        }
        if on("topk") {
            out.extend(self.topk.iter().map(|&k| Setting::TopK { k }));
        }
        if on("window") {
            out.extend(self.window.iter().map(|&w| Setting::Window { w }));
        }
        if on("longformer") {
            out.extend(lf);
        }
        if out.is_empty() {
            return Err(Error::invalid("--methods", "no setting to run"));
        }
        Ok(out)
    }
}

/// The head a run uses, with its label.
#[derive(Debug, Clone)]
pub struct Data {
    pub label: String,
    pub h: SynthHead,
    /// max|v|, computed once (not inside the timed solver runs).
    vmax: f64,
}

impl Data {
    pub fn head(&self) -> Head<'_, f32> {
        let h = &self.h;
        Head { q: &h.q, k: &h.k, v: &h.v, nq: h.n, nk: h.n, d: h.d, dv: h.dv }
    }
    pub fn new(label: String, h: SynthHead) -> Data {
        let vmax = crate::theory::fp::max_abs_f64(&h.v);
        Data { label, h, vmax }
    }
    pub fn vmax(&self) -> f64 {
        self.vmax
    }
}

/// Load or generate the head.
pub fn load(src: &Source, seed: u64) -> Result<Data> {
    match src {
        Source::File { path, layer, head, n } => {
            if *n == Some(0) || *n == Some(1) {
                return Err(Error::invalid("--n", "need at least 2 tokens"));
            }
            let heads = crate::data::load_heads(path)?;
            let h = heads.into_iter().find(|h| h.layer == *layer && h.head == *head).ok_or_else(|| {
                Error::invalid("--layer/--head", format!("no layer {layer} head {head} in {}", path.display()))
            })?;
            let dv = h.dv();
            let nn = n.unwrap_or(h.n).min(h.n);
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("file");
            Ok(Data::new(
                format!("{stem}:L{layer}H{head}, first {nn} of {} tokens", h.n),
                SynthHead {
                    n: nn,
                    d: h.d,
                    dv,
                    q: h.q[..nn * h.d].to_vec(),
                    k: h.k[..nn * h.d].to_vec(),
                    v: h.v[..nn * dv].to_vec(),
                },
            ))
        }
        Source::Regime { name, n, d } => {
            if *n < 2 {
                return Err(Error::invalid("--n", format!("need at least 2 tokens, got {n}")));
            }
            let spec = super::solver_regime(name)?;
            let d = super::regime_d(name, &spec, *d)?;
            super::check_sizes(&[*n], d, 1)?;
            let g = spec.generate(*n, d, d, seed)?;
            Ok(Data::new(format!("{name} = {}, seed {seed}", spec.label()), g))
        }
    }
}

/// One measured setting.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub method: String,
    pub param: String,
    pub causal: bool,
    /// max |out − ref| / max|v| over all rows and columns.
    pub max_err: f64,
    /// mean |out − ref| / max|v|.
    pub mean_err: f64,
    /// Median seconds of the method.
    pub secs: f64,
    /// Median seconds of the exact f32 kernel, timed alternately with the method.
    pub exact_secs: f64,
    /// Median over the pairs of method/exact.
    pub rel_time: f64,
    pub pairs: usize,
    /// On the front of (max error, relative time).
    pub on_front: bool,
    /// On the front of (mean error, relative time).
    pub on_front_mean: bool,
    /// Failures, rows without output, certificates.
    pub note: String,
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dataset: String,
    pub n: usize,
    pub d: usize,
    pub dv: usize,
    pub seed: u64,
    pub threads: usize,
    pub cpu: String,
    pub reference_secs: f64,
    pub points: Vec<Point>,
}

/// Pareto front of (error, time) points: `true` where no other point has error ≤ and time ≤ with
/// one of them strictly smaller. Points with a NaN coordinate are never on the front and dominate
/// nothing; among exact duplicates every copy is on the front.
pub fn front(pts: &[(f64, f64)]) -> Vec<bool> {
    let ok = |p: &(f64, f64)| !p.0.is_nan() && !p.1.is_nan();
    pts.iter()
        .map(|p| ok(p) && !pts.iter().any(|q| ok(q) && q.0 <= p.0 && q.1 <= p.1 && (q.0 < p.0 || q.1 < p.1)))
        .collect()
}

/// Output of one run of a setting: n × dv values (f32 or f64) and a note.
enum Out {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// Run a setting once.
fn run_once(s: &Setting, d: &Data, seed: u64, landmarks: &mut Option<Vec<usize>>) -> Result<(Out, String)> {
    let h = d.head();
    Ok(match *s {
        Setting::Exact => {
            (Out::F32(fast_f32::attention_f32_tiled(&h, Mask::Causal, Tiling::for_rows(d.h.n))), String::new())
        }
        Setting::Solver { tol } | Setting::SolverTree { tol } => {
            let mut opts = crate::solver::SolverOptions::default();
            if matches!(s, Setting::SolverTree { .. }) {
                opts.force = Some(crate::solver::Force::Tree);
            }
            let r = crate::solver::solve(&h, Mask::Causal, tol * d.vmax().max(f64::MIN_POSITIVE), &opts)?;
            let note = format!(
                "plan {}, max cert/max|v| {:.2e}, f64 fallback rows {}/{}",
                r.plan.label(),
                r.max_cert() / d.vmax(),
                r.stats.fallback_rows,
                d.h.n
            );
            (Out::F64(r.out), note)
        }
        Setting::Performer { m } => {
            let om = crate::methods::performer::omegas(seed, d.h.d, m, true);
            (Out::F32(fast::performer_attention(&h, &om)), String::new())
        }
        Setting::TopK { k } => (Out::F32(fast::topk_attention(&h, k)), "oracle: computes every causal score".into()),
        Setting::Window { w } => (Out::F32(fast::band_attention(&h, w - 1, 0)), String::new()),
        Setting::Longformer { half, global } => (Out::F32(fast::band_attention(&h, half, global)), String::new()),
        Setting::Nystrom { k } => {
            // k ≤ n: `run` lowers larger values (Setting::at_most_n).
            let idx = landmarks
                .get_or_insert_with(|| {
                    let mut rng = crate::rng::stream(seed, 0x1157);
                    sample(&mut rng, d.h.n, d.h.n).into_vec()
                })
                .clone();
            let dd = d.h.d + 1;
            let r2 =
                d.h.k
                    .chunks_exact(d.h.d)
                    .map(|r| r.iter().map(|&x| x as f64 * x as f64).sum::<f64>())
                    .fold(0.0, f64::max);
            let q: Vec<f64> =
                d.h.q.chunks_exact(d.h.d).flat_map(|r| r.iter().map(|&x| x as f64).chain([0.0])).collect();
            let kk: Vec<f64> =
                d.h.k
                    .chunks_exact(d.h.d)
                    .flat_map(|r| {
                        let s: f64 = r.iter().map(|&x| x as f64 * x as f64).sum();
                        r.iter().map(|&x| x as f64).chain([(r2 - s).max(0.0).sqrt()])
                    })
                    .collect();
            let v: Vec<f64> = d.h.v.iter().map(|&x| x as f64).collect();
            let l: Vec<f64> = idx[..k].iter().flat_map(|&j| kk[j * dd..(j + 1) * dd].iter().copied()).collect();
            let a = crate::theory::nystrom::attention(&q, &kk, &v, &l, dd, d.h.dv, 2.0);
            let note = if a.nonpositive > 0 {
                format!("non-causal (sees the future); {} rows with normaliser ≤ 0 (output 0)", a.nonpositive)
            } else {
                "non-causal (sees the future); f64 single-threaded".into()
            };
            (Out::F64(a.out), note)
        }
    })
}

/// Max and mean |out − ref| / vmax, and the number of rows with a non-finite output (both errors
/// are NaN when there is one).
fn errors(out: &Out, reference: &[f64], vmax: f64, dv: usize) -> (f64, f64, usize) {
    let diffs: Vec<f64> = match out {
        Out::F32(o) => o.iter().zip(reference).map(|(a, b)| (*a as f64 - b).abs()).collect(),
        Out::F64(o) => o.iter().zip(reference).map(|(a, b)| (a - b).abs()).collect(),
    };
    let bad = diffs.chunks(dv.max(1)).filter(|r| r.iter().any(|e| !e.is_finite())).count();
    if bad > 0 {
        return (f64::NAN, f64::NAN, bad);
    }
    let mx = diffs.iter().copied().fold(0.0f64, f64::max);
    let mean = diffs.iter().sum::<f64>() / diffs.len().max(1) as f64;
    let v = vmax.max(f64::MIN_POSITIVE);
    (mx / v, mean / v, 0)
}

/// Run every setting on the head; `print` gets progress and table lines.
pub fn run(data: &Data, settings: &[Setting], reps: usize, seed: u64, mut print: impl FnMut(String)) -> Result<Report> {
    if reps == 0 || reps > 1000 {
        return Err(Error::invalid("--reps", format!("expected 1 ≤ reps ≤ 1000, got {reps}")));
    }
    let h = data.head();
    h.check()?;
    let threads = rayon::current_num_threads();
    let cpu = fast_f32::cpu_features();
    print(format!(
        "bench pareto: {} (n = {}, d = {}, dv = {}), causal mask, seed {seed}, {threads} thread(s); errors vs float64 exact causal, ÷ max|v| = {:.4}",
        data.label,
        data.h.n,
        data.h.d,
        data.h.dv,
        data.vmax()
    ));
    let t = Instant::now();
    let (qw, kw, vw) =
        (crate::reference::widen(&data.h.q), crate::reference::widen(&data.h.k), crate::reference::widen(&data.h.v));
    let hw = Head { q: &qw, k: &kw, v: &vw, nq: data.h.n, nk: data.h.n, d: data.h.d, dv: data.h.dv };
    let reference = crate::reference::attention_f64(&hw, Mask::Causal).out;
    drop((qw, kw, vw));
    let reference_secs = t.elapsed().as_secs_f64();
    print(format!("float64 reference: {reference_secs:.1} s"));
    let tiling = Tiling::for_rows(data.h.n);
    let mut exact_out = vec![0f32; data.h.n * data.h.dv];
    let mut exact = || {
        fast_f32::attention_f32_into(&h, Mask::Causal, tiling, &mut exact_out);
        std::hint::black_box(&exact_out);
    };
    exact(); // warm-up
    print(header());
    let mut landmarks = None;
    let mut points = Vec::new();
    for s in settings {
        let (s, lowered) = s.at_most_n(data.h.n);
        let s = &s;
        let (max_err, mean_err, note, ok) = match run_once(s, data, seed, &mut landmarks) {
            Ok((o, note)) => {
                let (a, b, bad) = errors(&o, &reference, data.vmax(), data.h.dv);
                let note = if bad > 0 {
                    let why = if matches!(s, Setting::Performer { .. }) {
                        " (f32 random features e^(ω·x − ‖x‖²/2) under- or overflow)"
                    } else {
                        ""
                    };
                    format!("non-finite output in {bad}/{} rows{why}; {note}", data.h.n)
                } else {
                    note
                };
                (a, b, note, bad == 0)
            }
            Err(e) => (f64::NAN, f64::NAN, format!("failed: {e}"), false),
        };
        let note = match lowered {
            Some(l) if note.is_empty() => l,
            Some(l) => format!("{l}; {note}"),
            None => note,
        };
        let (mut tm, mut te, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        if ok {
            let time = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
                let t = Instant::now();
                f()?;
                Ok(t.elapsed().as_secs_f64())
            };
            let mut method = || -> Result<()> {
                let o = run_once(s, data, seed, &mut landmarks)?;
                std::hint::black_box(&o.0);
                Ok(())
            };
            let mut ex = || -> Result<()> {
                exact();
                Ok(())
            };
            let mut pairs = reps;
            let mut i = 0;
            while i < pairs {
                let (a, b) = if i % 2 == 0 {
                    let a = time(&mut method)?;
                    (a, time(&mut ex)?)
                } else {
                    let b = time(&mut ex)?;
                    (time(&mut method)?, b)
                };
                tm.push(a);
                te.push(b);
                ratio.push(a / b);
                if i == 0 {
                    pairs = pairs.max(((0.3 / (a + b).max(1e-9)).ceil() as usize).min(50));
                }
                i += 1;
            }
        }
        let p = Point {
            method: s.family().into(),
            param: s.param(),
            causal: s.causal(),
            max_err,
            mean_err,
            secs: median(&mut tm),
            exact_secs: median(&mut te),
            rel_time: median(&mut ratio),
            pairs: tm.len(),
            on_front: false,
            on_front_mean: false,
            note,
        };
        print(line(&p));
        points.push(p);
    }
    mark_front(&mut points);
    Ok(Report {
        dataset: data.label.clone(),
        n: data.h.n,
        d: data.h.d,
        dv: data.h.dv,
        seed,
        threads,
        cpu,
        reference_secs,
        points,
    })
}

/// Set `on_front` (`on_front_mean`) on the causal points not dominated on (max (mean) error,
/// relative time).
pub fn mark_front(points: &mut [Point]) {
    let idx: Vec<usize> = (0..points.len()).filter(|&i| points[i].causal).collect();
    let xy: Vec<(f64, f64)> = idx.iter().map(|&i| (points[i].max_err, points[i].rel_time)).collect();
    let xy_mean: Vec<(f64, f64)> = idx.iter().map(|&i| (points[i].mean_err, points[i].rel_time)).collect();
    points.iter_mut().for_each(|p| {
        p.on_front = false;
        p.on_front_mean = false;
    });
    for ((&i, f), g) in idx.iter().zip(front(&xy)).zip(front(&xy_mean)) {
        points[i].on_front = f;
        points[i].on_front_mean = g;
    }
}

fn front_mark(p: &Point) -> &'static str {
    match (p.on_front, p.on_front_mean) {
        (true, true) => "both",
        (true, false) => "max",
        (false, true) => "mean",
        (false, false) => "",
    }
}

fn header() -> String {
    format!(
        "{:<11} {:<10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>5} {:>5}  note",
        "method", "setting", "max_err", "mean_err", "secs", "exact_s", "rel_time", "pairs", "front"
    )
}

fn line(p: &Point) -> String {
    format!(
        "{:<11} {:<10} {:>10.2e} {:>10.2e} {:>10.4} {:>10.4} {:>9.3} {:>5} {:>5}  {}",
        p.method,
        p.param,
        p.max_err,
        p.mean_err,
        p.secs,
        p.exact_secs,
        p.rel_time,
        p.pairs,
        front_mark(p),
        p.note
    )
}

impl Report {
    /// The table with the front marked (after [`mark_front`]).
    pub fn table(&self) -> String {
        let mut s = header();
        for p in &self.points {
            s.push('\n');
            s.push_str(&line(p));
        }
        s
    }

    /// A markdown table, rows on either front in bold.
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "{} — n = {}, d = {}, dv = {}, seed {}, {} thread(s) ({}); errors ÷ max|v|; time ÷ exact f32 kernel in the same run (median of pairs)\n\n",
            self.dataset, self.n, self.d, self.dv, self.seed, self.threads, self.cpu
        );
        s += "| method | setting | max err | mean err | time (s) | exact (s) | time / exact | front (max / mean err) | note |\n";
        s += "|---|---|---:|---:|---:|---:|---:|:---:|---|\n";
        for p in &self.points {
            let b = if p.on_front || p.on_front_mean { "**" } else { "" };
            s += &format!(
                "| {b}{}{b} | {b}{}{b} | {:.2e} | {:.2e} | {:.4} | {:.4} | {:.3} | {} | {} |\n",
                p.method,
                cell(&p.param),
                p.max_err,
                p.mean_err,
                p.secs,
                p.exact_secs,
                p.rel_time,
                front_mark(p),
                cell(&p.note)
            );
        }
        s
    }

    /// The front, causal methods, fastest first: "method setting (err, time)".
    pub fn front_summary(&self) -> String {
        let mut f: Vec<&Point> = self.points.iter().filter(|p| p.on_front).collect();
        f.sort_by(|a, b| a.rel_time.total_cmp(&b.rel_time));
        let items: Vec<String> = f
            .iter()
            .map(|p| format!("{} {} (max err {:.1e}, {:.3}× exact)", p.method, p.param, p.max_err, p.rel_time))
            .collect();
        let mut g: Vec<&Point> = self.points.iter().filter(|p| p.on_front_mean).collect();
        g.sort_by(|a, b| a.rel_time.total_cmp(&b.rel_time));
        let mean: Vec<String> = g
            .iter()
            .map(|p| format!("{} {} (mean err {:.1e}, {:.3}× exact)", p.method, p.param, p.mean_err, p.rel_time))
            .collect();
        format!(
            "Pareto front (causal methods; max error vs time/exact), fastest first: {}\nPareto front on mean error: {}",
            items.join("; "),
            mean.join("; ")
        )
    }

    /// The log-log plot: max error vs time relative to exact, one series per method, the front
    /// as a black step line.
    pub fn svg(&self) -> Result<String> {
        let mut series: Vec<super::plot::Series> = Vec::new();
        let floor = 1e-12;
        for (color, fam) in FAMILIES.iter().map(|f| if *f == "exact" { "exact-f32" } else { f }).enumerate() {
            let mut pts: Vec<(f64, f64)> = self
                .points
                .iter()
                .filter(|p| p.method == fam && p.rel_time.is_finite() && p.max_err.is_finite() && p.rel_time > 0.0)
                .map(|p| (p.rel_time, p.max_err.max(floor)))
                .collect();
            if pts.is_empty() {
                continue;
            }
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let causal = self.points.iter().find(|p| p.method == fam).is_some_and(|p| p.causal);
            let name = if causal { fam.to_string() } else { format!("{fam} (not causal: leaks)") };
            series.push(super::plot::Series { name, pts, dashed: !causal, color });
        }
        let mut fr: Vec<(f64, f64)> = self
            .points
            .iter()
            .filter(|p| p.on_front && p.rel_time > 0.0)
            .map(|p| (p.rel_time, p.max_err.max(floor)))
            .collect();
        fr.sort_by(|a, b| a.0.total_cmp(&b.0));
        let title = format!("{} (n={}): max error vs time", short(&self.dataset), self.n);
        super::plot::loglog_svg(
            &title,
            "time / exact f32 kernel (same run)",
            "max |err| / max|v|",
            &series,
            Some(&fr),
            plotters::prelude::SeriesLabelPosition::LowerLeft,
        )
    }
}

/// A markdown table cell: `|` escaped.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn short(s: &str) -> String {
    s.split([',', '=']).next().unwrap_or(s).trim().to_string()
}

/// Write `text` to `p`.
pub fn write(p: &Path, text: &str) -> Result<()> {
    std::fs::write(p, text).map_err(|e| Error::io(p, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_is_the_non_dominated_set() {
        // (error, time)
        let pts = [
            (1e-1, 0.1), // fastest: front
            (1e-2, 0.5), // front
            (2e-2, 0.6), // dominated by (1e-2, 0.5)
            (1e-2, 0.7), // dominated (same error, slower)
            (1e-6, 1.0), // front
            (1e-6, 1.0), // duplicate: also front
            (1e-1, 2.0), // dominated
            (f64::NAN, 0.01),
            (1e-9, 3.0), // most accurate: front
        ];
        let f = front(&pts);
        assert_eq!(f, vec![true, true, false, false, true, true, false, false, true]);
        // Brute-force definition on a pseudo-random cloud.
        let mut rng = crate::rng::stream(1, 2);
        use rand::RngExt;
        let cloud: Vec<(f64, f64)> =
            (0..200).map(|_| (rng.random_range(0..20) as f64, rng.random_range(0..20) as f64)).collect();
        let f = front(&cloud);
        for (i, p) in cloud.iter().enumerate() {
            let dominated = cloud.iter().any(|q| q.0 <= p.0 && q.1 <= p.1 && q != p);
            assert_eq!(f[i], !dominated, "point {p:?}");
        }
        assert!(f.iter().any(|&x| x));
    }

    #[test]
    fn non_causal_points_stay_off_the_front() {
        let mk = |method: &str, causal: bool, e: f64, t: f64| Point {
            method: method.into(),
            param: String::new(),
            causal,
            max_err: e,
            mean_err: e,
            secs: t,
            exact_secs: 1.0,
            rel_time: t,
            pairs: 1,
            on_front: true,
            on_front_mean: true,
            note: String::new(),
        };
        let mut pts = vec![mk("a", true, 1e-3, 1.0), mk("leaky", false, 1e-6, 0.01), mk("b", true, 1e-2, 0.5)];
        mark_front(&mut pts);
        assert_eq!(pts.iter().map(|p| p.on_front).collect::<Vec<_>>(), vec![true, false, true]);
        assert_eq!(pts.iter().map(|p| p.on_front_mean).collect::<Vec<_>>(), vec![true, false, true]);
        // On mean error, b (1e-4, 0.5) dominates a (1e-3, 1.0); on max error neither dominates.
        pts[2].mean_err = 1e-4;
        mark_front(&mut pts);
        assert_eq!(pts.iter().map(|p| p.on_front).collect::<Vec<_>>(), vec![true, false, true]);
        assert_eq!(pts.iter().map(|p| p.on_front_mean).collect::<Vec<_>>(), vec![false, false, true]);
    }

    #[test]
    fn bad_grids_are_one_line_errors_naming_the_flag() {
        let g = Grid {
            methods: FAMILIES.iter().map(|s| s.to_string()).collect(),
            tol: vec![1e-2],
            tree_tol: vec![],
            performer: vec![8],
            nystrom: vec![4],
            topk: vec![4],
            window: vec![4],
            longformer: vec!["4:1".into()],
        };
        assert_eq!(g.settings().unwrap().len(), 8);
        let cases: Vec<(Grid, &str)> = vec![
            (Grid { tol: vec![0.0], ..g.clone() }, "--tol"),
            (Grid { tol: vec![f64::NAN], ..g.clone() }, "--tol"),
            (Grid { tree_tol: vec![-1.0], ..g.clone() }, "--tree-tol"),
            (Grid { topk: vec![0], ..g.clone() }, "--topk"),
            (Grid { window: vec![0], ..g.clone() }, "--window"),
            (Grid { performer: vec![0], ..g.clone() }, "--performer"),
            (Grid { longformer: vec!["4".into()], ..g.clone() }, "--longformer"),
            (Grid { longformer: vec!["a:1\nb".into()], ..g.clone() }, "--longformer"),
            (Grid { methods: vec!["bogus".into()], ..g.clone() }, "--methods"),
        ];
        for (grid, flag) in cases {
            let e = grid.settings().unwrap_err().to_string();
            assert!(e.starts_with(flag) && !e.contains('\n'), "{flag}: {e}");
        }
    }

    #[test]
    fn small_run_measures_errors_and_the_front() {
        let data = load(&Source::Regime { name: "clustered".into(), n: 300, d: Some(16) }, 3).unwrap();
        let s = vec![
            Setting::Exact,
            Setting::Solver { tol: 1e-3 },
            Setting::TopK { k: 400 },
            Setting::Window { w: 4 },
            Setting::Nystrom { k: 8 },
        ];
        let r = run(&data, &s, 1, 3, |_| {}).unwrap();
        let p = &r.points;
        assert!(p[0].max_err < 1e-5, "exact f32 {}", p[0].max_err);
        assert!(p[1].max_err <= 1e-3, "solver within its tolerance: {}", p[1].max_err);
        assert!(p[2].max_err < 1e-5, "top-k with k ≥ n is exact: {}", p[2].max_err);
        assert_eq!(
            (p[2].param.as_str(), p[2].note.as_str()),
            ("k=300", "--topk 400 > n = 300: ran with 300; oracle: computes every causal score")
        );
        assert!(p[3].max_err > p[2].max_err, "a 4-token window is worse than exact");
        assert!(!p[4].on_front && !p[4].causal);
        assert!(p.iter().filter(|x| x.causal).all(|x| x.rel_time > 0.0 && x.pairs >= 1));
        assert!(p.iter().any(|x| x.on_front));
        assert!(r.svg().unwrap().contains("<svg"));
        let md = r.markdown();
        assert!(md.lines().count() >= 2 + s.len());
        // Every table row has the header's 9 cells: notes such as "max cert/max|v|" are escaped.
        for l in md.lines().filter(|l| l.starts_with('|')) {
            assert_eq!(l.replace("\\|", "").matches('|').count(), 10, "{l}");
        }
    }
}
