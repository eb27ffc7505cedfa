//! The sweep runner: one JSON line per finished point, resume, deterministic sharding, merge.
//!
//! Crash safety: lines are appended whole (one `write_all` of a complete line, then flush); on
//! start, a trailing partial line left by a kill is truncated away, so a rerun loses only the points
//! that were in flight. Determinism: a point's seed depends only on the sweep seed and its own key,
//! and each point is evaluated sequentially by one thread, so the line of a point is the same bytes
//! whatever the thread count or sharding. Wall-clock timings go to a sidecar `<out>.timing.jsonl`,
//! so the result lines themselves are reproducible byte for byte.
use super::measure;
use super::spec::{Point, SweepSpec};
use crate::registry::Theorem;
use crate::verdict::{Finding, Worst};
use crate::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Metric values; non-finite values are written as the strings "inf", "-inf", "nan".
pub type Metrics = BTreeMap<String, f64>;

/// The [`Metrics`] of (name, value) pairs (a later pair of the same name replaces an earlier one).
pub fn metrics<'a>(pairs: impl IntoIterator<Item = (&'a str, f64)>) -> Metrics {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

mod metric_serde {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;
    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum V {
        N(f64),
        S(String),
    }
    pub fn serialize<S: Serializer>(m: &BTreeMap<String, f64>, s: S) -> Result<S::Ok, S::Error> {
        let v: BTreeMap<&String, V> = m
            .iter()
            .map(|(k, x)| {
                let v = if x.is_finite() {
                    V::N(*x)
                } else if x.is_nan() {
                    V::S("nan".into())
                } else if *x > 0.0 {
                    V::S("inf".into())
                } else {
                    V::S("-inf".into())
                };
                (k, v)
            })
            .collect();
        v.serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
        let v: BTreeMap<String, V> = BTreeMap::deserialize(d)?;
        v.into_iter()
            .map(|(k, x)| match x {
                V::N(n) => Ok((k, n)),
                V::S(s) => match s.as_str() {
                    "inf" => Ok((k, f64::INFINITY)),
                    "-inf" => Ok((k, f64::NEG_INFINITY)),
                    "nan" => Ok((k, f64::NAN)),
                    _ => Err(serde::de::Error::custom(format!(
                        "metric `{k}`: expected a number, \"inf\", \"-inf\" or \"nan\", found \"{s}\""
                    ))),
                },
            })
            .collect()
    }
}

/// One result line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub sweep: String,
    pub key: String,
    pub theorems: Vec<String>,
    pub measure: String,
    pub dataset: String,
    pub params: BTreeMap<String, super::Scalar>,
    pub seed: u64,
    pub trials: u64,
    #[serde(with = "metric_serde")]
    pub metrics: Metrics,
    /// attnproof version that produced the line.
    pub version: String,
}

impl Record {
    /// The result line of point `p` of `spec` with these metrics, stamped with this crate's version.
    pub fn of_point(spec: &SweepSpec, p: &Point, metrics: Metrics) -> Record {
        Record {
            sweep: spec.name.clone(),
            key: p.key.clone(),
            theorems: spec.theorems.clone(),
            measure: spec.measure.clone(),
            dataset: p.dataset.label(),
            params: p.params.clone(),
            seed: p.seed,
            trials: p.trials,
            metrics,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// Options of `attnproof sweep`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub quick: bool,
    /// (I, N): run the points whose index ≡ I (mod N), 0 ≤ I < N.
    pub shard: Option<(usize, usize)>,
    pub out: Option<PathBuf>,
    pub threads: Option<usize>,
    /// Show an indicatif progress bar (when stderr is a terminal).
    pub progress: bool,
    /// Memory budget in bytes per point ([`super::measure::estimate_bytes`]); `None`: the
    /// environment variable `ATTNPROOF_MEM_BUDGET` if set, else no budget.
    pub mem_budget: Option<u64>,
    /// Replaces the file of every `real_causal` dataset (`attnproof sweep --data`).
    pub data: Option<PathBuf>,
    /// Run only the points of `real_causal` datasets.
    pub real_causal_only: bool,
}

/// The budget in force: the option, else `ATTNPROOF_MEM_BUDGET` (an error names the variable).
pub fn mem_budget(opts: &RunOptions) -> Result<Option<u64>> {
    if let Some(b) = opts.mem_budget {
        return Ok(Some(b));
    }
    match std::env::var("ATTNPROOF_MEM_BUDGET") {
        Ok(s) if !s.trim().is_empty() => {
            measure::parse_bytes(&s).map(Some).map_err(|e| Error::invalid("ATTNPROOF_MEM_BUDGET", e))
        }
        _ => Ok(None),
    }
}

/// Parse `I/N`.
pub fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let bad = || Error::invalid("--shard", format!("expected I/N with 0 ≤ I < N (e.g. 0/4), found `{s}`"));
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// What a run did, and the verdict findings over all records of the output file.
#[derive(Debug, Clone)]
pub struct SweepSummary {
    pub out: PathBuf,
    pub points: usize,
    pub skipped: usize,
    /// Points not run because their optional data (`real_causal`) is absent.
    pub absent: usize,
    pub ran: usize,
    pub records: Vec<Record>,
    pub findings: Vec<Finding>,
}

/// Default output path: `results/<name>[.quick][.shard-I-of-N].jsonl`.
pub fn default_out(spec: &SweepSpec, opts: &RunOptions) -> PathBuf {
    let mut name = spec.name.clone();
    if opts.quick {
        name.push_str(".quick");
    }
    if let Some((i, n)) = opts.shard {
        name.push_str(&format!(".shard-{i}-of-{n}"));
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("results").join(format!("{name}.jsonl"))
}

/// Read the complete lines of a results file, truncating a trailing partial line (a kill during a
/// write) so that appends start on a line boundary. A complete line that does not parse is an error
/// naming the file and line.
pub fn read_results(path: &Path, truncate_partial: bool) -> Result<Vec<Record>> {
    Ok(read_lines(path, truncate_partial)?.into_iter().map(|(r, _)| r).collect())
}

/// Like [`read_results`], keeping each record's line verbatim.
pub fn read_lines(path: &Path, truncate_partial: bool) -> Result<Vec<(Record, String)>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let complete = bytes.iter().rposition(|&b| b == b'\n').map(|p| p + 1).unwrap_or(0);
    if complete < bytes.len() && truncate_partial {
        let f = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| Error::io(path, e))?;
        f.set_len(complete as u64).map_err(|e| Error::io(path, e))?;
    }
    let text = std::str::from_utf8(&bytes[..complete])
        .map_err(|_| Error::invalid(path.display().to_string(), "results file is not UTF-8"))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str::<Record>(l)
                .map(|r| (r, l.to_string()))
                .map_err(|e| Error::invalid(format!("{}:{}", path.display(), i + 1), format!("not a result line: {e}")))
        })
        .collect()
}

fn evaluate(spec: &SweepSpec, thm: &Theorem, p: &Point) -> Result<Record> {
    let f = measure::find(&spec.measure)
        .ok_or_else(|| Error::invalid("measure", format!("unknown measure `{}`", spec.measure)))?;
    let all =
        f(p, thm).map_err(|e| Error::invalid(format!("{}: point {}", spec.path.display(), p.key), e.to_string()))?;
    let mut metrics = Metrics::new();
    for m in &spec.metrics {
        let v = all.get(m).ok_or_else(|| {
            Error::invalid(
                format!("{}: metrics", spec.path.display()),
                format!(
                    "measure `{}` does not produce metric `{m}` (it produces: {})",
                    spec.measure,
                    all.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        metrics.insert(m.clone(), *v);
    }
    Ok(Record::of_point(spec, p, metrics))
}

/// The theorem a sweep's measure reads its claimed quantities from (its first theorem).
pub fn sweep_theorem(spec: &SweepSpec) -> Result<Theorem> {
    let id = &spec.theorems[0];
    crate::registry::load_file(&crate::registry::theorems_dir().join(format!("{id}.yaml")))
        .map_err(|e| Error::invalid(format!("{}: theorems", spec.path.display()), format!("theorem `{id}`: {e}")))
}

/// Run (or resume) a sweep.
pub fn run_sweep(spec: &SweepSpec, opts: &RunOptions, mut log: impl FnMut(String)) -> Result<SweepSummary> {
    let thm = sweep_theorem(spec)?;
    run_sweep_with(spec, &thm, opts, &mut log)
}

/// Run with an explicit theorem (used by `verify`, and by tests that edit a claimed quantity).
pub fn run_sweep_with(
    spec: &SweepSpec,
    thm: &Theorem,
    opts: &RunOptions,
    log: &mut dyn FnMut(String),
) -> Result<SweepSummary> {
    let mut all = spec.points(opts.quick);
    if let Some(f) = &opts.data {
        if !f.is_file() {
            return Err(Error::invalid("--data", format!("{} is not a file", f.display())));
        }
        let mut s2 = spec.clone();
        s2.datasets = s2.datasets.iter().map(|d| d.with_causal_file(f)).collect();
        if let Some(q) = &mut s2.quick.datasets {
            *q = q.iter().map(|d| d.with_causal_file(f)).collect();
        }
        all = s2.points(opts.quick);
    }
    if opts.real_causal_only {
        all.retain(|p| matches!(p.dataset, super::dataset::DatasetSpec::RealCausal { .. }));
    }
    let before = all.len();
    all.retain(|p| p.dataset.available());
    let absent = before - all.len();
    if absent > 0 {
        log(format!(
            "sweep {}: {absent} points skipped: their real_causal data file is absent (give one with --data)",
            spec.name
        ));
    }
    let points: Vec<Point> = match opts.shard {
        None => all,
        Some((i, n)) => all.into_iter().enumerate().filter(|(k, _)| k % n == i).map(|(_, p)| p).collect(),
    };
    let out = opts.out.clone().unwrap_or_else(|| default_out(spec, opts));
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let existing = read_results(&out, true)?;
    let done: BTreeSet<&str> = existing.iter().map(|r| r.key.as_str()).collect();
    let todo: Vec<&Point> = points.iter().filter(|p| !done.contains(p.key.as_str())).collect();
    let skipped = points.len() - todo.len();
    // Refuse, before anything is allocated or written, a point whose estimate exceeds the budget.
    if let Some(budget) = mem_budget(opts)? {
        if let Some((p, est)) =
            todo.iter().map(|p| (p, measure::estimate_bytes(&spec.measure, p))).find(|(_, e)| *e > budget)
        {
            return Err(Error::invalid(
                format!("{}: point {}", spec.path.display(), p.key),
                format!(
                    "estimated peak memory {} ({est} bytes) of measure `{}` exceeds the memory budget {} (--mem-budget / ATTNPROOF_MEM_BUDGET); refused before allocating",
                    measure::human_bytes(est),
                    spec.measure,
                    measure::human_bytes(budget)
                ),
            ));
        }
    }
    log(format!(
        "sweep {}: {} points ({} done before, {} to run) -> {}",
        spec.name,
        points.len(),
        skipped,
        todo.len(),
        out.display()
    ));

    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&out).map_err(|e| Error::io(&out, e))?;
    let timing_path = out.with_extension("timing.jsonl");
    let mut timing = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&timing_path)
        .map_err(|e| Error::io(&timing_path, e))?;
    let bar =
        if opts.progress { indicatif::ProgressBar::new(todo.len() as u64) } else { indicatif::ProgressBar::hidden() };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} points, {elapsed} elapsed, ETA {eta} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.unwrap_or(0))
        .build()
        .map_err(|e| Error::invalid("--threads", e.to_string()))?;
    let (tx, rx) = std::sync::mpsc::channel::<(Result<Record>, f64)>();
    let mut new_records = Vec::with_capacity(todo.len());
    let mut first_err: Option<Error> = None;
    std::thread::scope(|s| -> Result<()> {
        s.spawn(|| {
            pool.install(|| {
                todo.par_iter().for_each_with(tx, |tx, p| {
                    let t = Instant::now();
                    let r = evaluate(spec, thm, p);
                    let _ = tx.send((r, t.elapsed().as_secs_f64()));
                })
            })
        });
        let total = todo.len();
        for (i, (r, secs)) in rx.iter().enumerate() {
            match r {
                Ok(rec) => {
                    let mut line = serde_json::to_string(&rec).map_err(|e| Error::invalid("record", e.to_string()))?;
                    line.push('\n');
                    file.write_all(line.as_bytes()).and_then(|_| file.flush()).map_err(|e| Error::io(&out, e))?;
                    let t = serde_json::json!({"key": rec.key, "secs": secs});
                    let _ = writeln!(timing, "{t}");
                    if !opts.progress && (total <= 20 || (i + 1) % (total / 10).max(1) == 0) {
                        log(format!("  {}/{} {} ({secs:.2}s)", i + 1, total, rec.key));
                    }
                    bar.inc(1);
                    new_records.push(rec);
                }
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    if let Some(e) = first_err {
        return Err(e);
    }
    let ran = new_records.len();
    let mut records = existing;
    records.extend(new_records);
    records.sort_by(|a, b| a.key.cmp(&b.key));
    // Nothing measured because the optional data is absent: no verdict either way (a NaN "no
    // cases" finding would turn the theorem's verdict into `fails` on machines without the data).
    let findings = if records.is_empty() && absent > 0 { Vec::new() } else { summarize(spec, thm, &records)? };
    Ok(SweepSummary { out, points: points.len(), skipped, absent, ran, records, findings })
}

/// Verdict findings over a set of records, per the sweep's `verdict:` section.
pub fn summarize(spec: &SweepSpec, thm: &Theorem, records: &[Record]) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    if let Some(m) = &spec.verdict.ratio {
        let mut w = Worst::new(format!("sweep {}: {m} (≤ 1)", spec.name));
        for r in records {
            let v = r.metrics.get(m).copied().unwrap_or(f64::NAN);
            w.push(v, 1.0, || r.key.clone());
        }
        out.push(w.finish());
    }
    if let Some(m) = &spec.verdict.zero {
        let mut w = Worst::new(format!("sweep {}: {m} (= 0)", spec.name));
        for r in records {
            let v = r.metrics.get(m).copied().unwrap_or(f64::NAN);
            w.push(v, 0.0, || r.key.clone());
        }
        out.push(w.finish());
    }
    if let Some(rate) = &spec.verdict.rate {
        let (mut fails, mut trials) = (0u64, 0u64);
        for r in records {
            fails += r.metrics.get(&rate.failures).copied().unwrap_or(0.0) as u64;
            trials += r.metrics.get(&rate.trials).copied().unwrap_or(0.0) as u64;
        }
        let delta = match (&rate.delta_claim, rate.delta) {
            (Some(c), _) => thm.claimed_f64(c)?,
            (None, Some(d)) => d,
            (None, None) => {
                return Err(Error::invalid(
                    format!("{}: verdict.rate", spec.path.display()),
                    "expected `delta` or `delta_claim`",
                ));
            }
        };
        let upper = crate::stats::clopper_pearson_upper(fails, trials, spec.confidence);
        out.push(Finding::upper(
            format!(
                "sweep {}: Clopper–Pearson {:.0}% upper limit of the failure rate (≤ δ)",
                spec.name,
                100.0 * spec.confidence
            ),
            format!("{fails} failures in {trials} trials"),
            upper,
            delta,
            trials,
        ));
    }
    Ok(out)
}

/// Result of `attnproof merge`.
#[derive(Debug, Clone, Default)]
pub struct MergeReport {
    pub written: usize,
    /// Keys present in more than one input with identical lines.
    pub duplicates: Vec<String>,
    /// Keys present with different contents (an error).
    pub conflicts: Vec<String>,
    /// Points of the sweep missing from every input.
    pub missing: Vec<String>,
}

/// Join shard files into `out` (lines copied verbatim, sorted by key), reporting duplicate,
/// conflicting and missing points.
pub fn merge(spec: &SweepSpec, quick: bool, inputs: &[PathBuf], out: &Path) -> Result<MergeReport> {
    let mut by_key: BTreeMap<String, String> = BTreeMap::new();
    let mut rep = MergeReport::default();
    for p in inputs {
        if !p.exists() {
            return Err(Error::io(p, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")));
        }
        for (r, line) in read_lines(p, false)? {
            match by_key.get(&r.key) {
                None => {
                    by_key.insert(r.key.clone(), line);
                }
                Some(prev) if *prev == line => rep.duplicates.push(r.key.clone()),
                Some(_) => rep.conflicts.push(r.key.clone()),
            }
        }
    }
    for p in spec.points(quick) {
        if !by_key.contains_key(&p.key) {
            rep.missing.push(p.key);
        }
    }
    let mut s = String::new();
    for line in by_key.values() {
        s.push_str(line);
        s.push('\n');
    }
    let tmp = out.with_extension("tmp");
    std::fs::write(&tmp, s).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
    rep.written = by_key.len();
    Ok(rep)
}

/// Human-readable summary of a run: counts, then each verdict finding.
pub fn summary_text(spec: &SweepSpec, s: &SweepSummary) -> String {
    let mut t = format!(
        "sweep {}: {} points in {} ({} skipped as done, {} run{})\n",
        spec.name,
        s.records.len(),
        s.out.display(),
        s.skipped,
        s.ran,
        if s.absent > 0 { format!(", {} skipped: real_causal data absent", s.absent) } else { String::new() }
    );
    for f in &s.findings {
        t += &format!(
            "  {} {}: worst {:.3e} vs bound {:.3e} at {}\n",
            if f.ok() { "ok  " } else { "FAIL" },
            f.name,
            f.value,
            f.bound,
            f.case
        );
    }
    t
}
