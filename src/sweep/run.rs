//! The sweep runner: one JSON line per finished point, resume, deterministic sharding, merge.
//!
//! Crash safety: lines are appended whole (one `write_all` of a complete line, then flush); on
//! start, a trailing partial line left by a kill is truncated away, so a rerun loses only the points
//! that were in flight. Determinism: a point's seed depends only on the sweep seed and its own key,
//! and each point is evaluated sequentially by one thread, so the line of a point is the same bytes
//! whatever the thread count or sharding. Wall-clock timings go to a sidecar `<out>.timing.jsonl`,
//! so the result lines themselves are reproducible byte for byte.
use super::dataset::DatasetSpec;
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
/// naming the file and line, and the file is then left untouched (see [`read_lines`]).
pub fn read_results(path: &Path, truncate_partial: bool) -> Result<Vec<Record>> {
    Ok(read_lines(path, truncate_partial)?.into_iter().map(|(r, _)| r).collect())
}

/// Like [`read_results`], keeping each record's line verbatim.
pub fn read_lines(path: &Path, truncate_partial: bool) -> Result<Vec<(Record, String)>> {
    let file = read_file(path)?;
    if truncate_partial {
        file.cut_torn_tail(path)?;
    }
    Ok(file.lines.into_iter().map(|l| (l.record, l.text)).collect())
}

/// One complete line of a results file: its 1-based line number, the record and the text.
#[derive(Debug, Clone)]
pub struct ResultLine {
    pub line: usize,
    pub record: Record,
    pub text: String,
}

/// A parsed results file: its complete lines, and the length to cut it to when it ends in a torn
/// record (a kill during a write).
#[derive(Debug, Clone, Default)]
pub struct ResultsFile {
    pub lines: Vec<ResultLine>,
    pub torn_at: Option<u64>,
}

impl ResultsFile {
    /// Cut the torn last record away (so that appends start on a line boundary).
    pub fn cut_torn_tail(&self, path: &Path) -> Result<()> {
        if let Some(len) = self.torn_at {
            let f = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| Error::io(path, e))?;
            f.set_len(len).map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    }
}

/// How every result line begins (`Record` serialises `sweep` first).
const RECORD_START: &[u8] = b"{\"sweep\":";

/// Is `tail` (bytes after the last newline) what a kill during a write leaves: a prefix of a record line?
fn is_torn_record(tail: &[u8]) -> bool {
    tail.starts_with(RECORD_START) || RECORD_START.starts_with(tail)
}

/// Parse a results file without modifying it (a missing file has no lines). Every complete line
/// must be a result record, and a last line without a newline must be the start of one; anything
/// else is an error `FILE:LINE: not a result line of a sweep: …`, so that an unrelated file given
/// as `--out` is refused and never truncated.
pub fn read_file(path: &Path) -> Result<ResultsFile> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ResultsFile::default()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let complete = bytes.iter().rposition(|&b| b == b'\n').map(|p| p + 1).unwrap_or(0);
    let not_result = |line: usize, why: String| {
        Error::invalid(format!("{}:{line}", path.display()), format!("not a result line of a sweep: {why}"))
    };
    let mut lines = Vec::new();
    let mut n = 0;
    for (i, l) in bytes[..complete].split(|&b| b == b'\n').enumerate() {
        n = i + 1;
        let l = std::str::from_utf8(l).map_err(|_| not_result(i + 1, "not UTF-8".into()))?;
        let l = l.strip_suffix('\r').unwrap_or(l);
        if l.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str::<Record>(l).map_err(|e| not_result(i + 1, e.to_string()))?;
        lines.push(ResultLine { line: i + 1, record, text: l.to_string() });
    }
    let tail = &bytes[complete..];
    let torn_at = if tail.is_empty() {
        None
    } else if is_torn_record(tail) {
        Some(complete as u64)
    } else {
        return Err(not_result(n, "a last line without a newline that is not the start of a record".into()));
    };
    Ok(ResultsFile { lines, torn_at })
}

/// The result line of point `p`: the measure's metrics that the sweep records. A measure's error
/// names the sweep file and the point once; a panic in the measure becomes the one-line error
/// `point KEY: internal error in measure `M`: MESSAGE` ([`caught`]).
fn evaluate(spec: &SweepSpec, thm: &Theorem, p: &Point) -> Result<Record> {
    let f = measure::find(&spec.measure)
        .ok_or_else(|| Error::invalid("measure", format!("unknown measure `{}`", spec.measure)))?;
    let at = format!("{}", spec.path.display());
    let point = format!("point {}", p.key);
    let (all, read) = super::spec::with_param_reads(|| caught::run(|| f(p, thm)));
    if matches!(all, Ok(Ok(_))) {
        // `rep` is the replicate axis: it varies only the point's seed (through its key).
        if let Some(unread) = p.params.keys().find(|k| *k != "rep" && !read.contains(*k)) {
            return Err(Error::invalid(
                at,
                format!(
                    "{point}: parameter `{unread}` is not read by measure `{}` (it reads: {}): a misspelt axis name? (an axis that only varies the seed is named `rep`)",
                    spec.measure,
                    read.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    let all = match all {
        Ok(r) => r.map_err(|e| {
            let e = e.to_string();
            Error::invalid(at.clone(), if e.starts_with(&point) { e } else { format!("{point}: {e}") })
        })?,
        Err(msg) => {
            return Err(Error::invalid(at, format!("{point}: internal error in measure `{}`: {msg}", spec.measure)));
        }
    };
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
    if opts.threads == Some(0) {
        return Err(Error::invalid("--threads", "expected ≥ 1 (leave it out for all cores)"));
    }
    let data = opts.data.as_deref().map(|f| data_file(spec, opts.quick, f)).transpose()?;
    let all = run_points(spec, opts.quick, data.as_deref());
    let (points, absent) = select(spec, opts, &all)?;
    if absent > 0 {
        log(format!(
            "sweep {}: {absent} points skipped: their real_causal data file is absent (give one with --data)",
            spec.name
        ));
    }
    let out = opts.out.clone().unwrap_or_else(|| default_out(spec, opts));
    crate::out_file::refuse_non_regular(&out)?;
    // Everything about the existing file is checked before anything is written to it.
    let file = read_file(&out)?;
    let existing: Vec<Record> =
        belonging_records(spec, opts.quick, &out, &file, &all, "use another --out or delete the file")?
            .into_iter()
            .map(|l| l.record)
            .collect();
    let done: BTreeSet<&str> = existing.iter().map(|r| r.key.as_str()).collect();
    let todo: Vec<&Point> = points.iter().filter(|p| !done.contains(p.key.as_str())).collect();
    let skipped = points.len() - todo.len();
    preflight(spec, &todo)?;
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
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    file.cut_torn_tail(&out)?;

    let created = [out.clone(), out.with_extension("timing.jsonl")].into_iter().filter(|p| !p.exists()).collect();
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
    if new_records.is_empty() {
        remove_if_empty(created);
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let ran = new_records.len();
    // The verdict covers this run's points only (a shard's, or the real_causal ones), not other
    // shards' records of the same file.
    let selected: BTreeSet<&str> = points.iter().map(|p| p.key.as_str()).collect();
    let mut records: Vec<Record> = existing.into_iter().filter(|r| selected.contains(r.key.as_str())).collect();
    records.extend(new_records);
    records.sort_by(|a, b| a.key.cmp(&b.key));
    // Nothing measured because the optional data is absent: no verdict either way (a NaN "no
    // cases" finding would turn the theorem's verdict into `fails` on machines without the data).
    let findings = if records.is_empty() && absent > 0 { Vec::new() } else { summarize(spec, thm, &records)? };
    Ok(SweepSummary { out, points: points.len(), skipped, absent, ran, records, findings })
}

fn is_causal(d: &DatasetSpec) -> bool {
    matches!(d, DatasetSpec::RealCausal { .. })
}

/// The datasets of the full sweep or of its quick subset.
fn run_datasets(spec: &SweepSpec, quick: bool) -> &[DatasetSpec] {
    if quick { spec.quick.datasets.as_deref().unwrap_or(&spec.datasets) } else { &spec.datasets }
}

/// The `--data` file as an absolute path (a relative one is relative to the current directory, not
/// to the repository root that sweep files are relative to). Refused when it is not a file, or
/// when no dataset of this run is `real_causal` (the option would change nothing).
pub fn data_file(spec: &SweepSpec, quick: bool, f: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(f).map_err(|e| Error::invalid("--data", format!("{}: {e}", f.display())))?;
    if !abs.is_file() {
        return Err(Error::invalid("--data", format!("{} is not a file", f.display())));
    }
    if !run_datasets(spec, quick).iter().any(is_causal) {
        return Err(Error::invalid(
            "--data",
            format!(
                "sweep {} has no real_causal dataset{} whose file {} could replace",
                spec.name,
                if quick { " in its quick subset" } else { "" },
                f.display()
            ),
        ));
    }
    Ok(abs)
}

/// The points of this run of the sweep (full or quick, every shard), with the file of every
/// `real_causal` dataset replaced by `data` when given.
pub fn run_points(spec: &SweepSpec, quick: bool, data: Option<&Path>) -> Vec<Point> {
    let Some(f) = data else { return spec.points(quick) };
    let mut s2 = spec.clone();
    s2.datasets = s2.datasets.iter().map(|d| d.with_causal_file(f)).collect();
    if let Some(q) = &mut s2.quick.datasets {
        *q = q.iter().map(|d| d.with_causal_file(f)).collect();
    }
    s2.points(quick)
}

/// The points this invocation runs out of `all`: `--real-causal-only`, then the points whose data
/// is available, then the shard; with the number dropped because their optional data is absent.
/// An empty selection the user asked for (a shard without points, `--real-causal-only` without
/// real_causal points or data) is an error rather than a verdict over no cases.
fn select(spec: &SweepSpec, opts: &RunOptions, all: &[Point]) -> Result<(Vec<Point>, usize)> {
    let mut sel = all.to_vec();
    if opts.real_causal_only {
        sel.retain(|p| is_causal(&p.dataset));
        if sel.is_empty() {
            return Err(Error::invalid(
                "--real-causal-only",
                format!(
                    "sweep {} has no real_causal dataset{}: nothing to run",
                    spec.name,
                    if opts.quick { " in its quick subset" } else { "" }
                ),
            ));
        }
    }
    let before = sel.len();
    let missing = sel.iter().find(|p| !p.dataset.available()).map(|p| p.dataset.clone());
    sel.retain(|p| p.dataset.available());
    let absent = before - sel.len();
    if let (true, true, Some(DatasetSpec::RealCausal { file, .. })) = (opts.real_causal_only, sel.is_empty(), missing) {
        return Err(Error::invalid(
            "--real-causal-only",
            format!(
                "the real_causal data file {} of sweep {} is absent: nothing to run (give one with --data)",
                super::dataset::resolve(&file).display(),
                spec.name
            ),
        ));
    }
    if let Some((i, n)) = opts.shard {
        let total = sel.len();
        sel = sel.into_iter().enumerate().filter(|(k, _)| k % n == i).map(|(_, p)| p).collect();
        if sel.is_empty() && total > 0 {
            return Err(Error::invalid(
                "--shard",
                format!(
                    "shard {i}/{n} has no points (sweep {} has {total} points to run): use at most {total} shards",
                    spec.name
                ),
            ));
        }
    }
    Ok((sel, absent))
}

/// Remove the files this run created (results, timing sidecar) that are still empty: a run that
/// wrote nothing (every point failed, or none to run) leaves no empty results file behind.
fn remove_if_empty(created: Vec<PathBuf>) {
    for p in created {
        if std::fs::metadata(&p).is_ok_and(|m| m.is_file() && m.len() == 0) {
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// Why record `r` is not the record of a point of this run of the sweep, or `None` when it is: a
/// point of the run (same key) made by the same sweep, measure and theorems, with the point's seed
/// and trials, holding every metric the sweep records.
fn mismatch(spec: &SweepSpec, quick: bool, r: &Record, points: &BTreeMap<&str, &Point>) -> Option<String> {
    let run = if quick { "quick run" } else { "full run" };
    if r.sweep != spec.name {
        return Some(format!("record of sweep `{}`, this is sweep `{}`", r.sweep, spec.name));
    }
    let Some(p) = points.get(r.key.as_str()) else {
        return Some(format!("point {} is not a point of the {run} of sweep `{}`", r.key, spec.name));
    };
    let k = &r.key;
    if r.measure != spec.measure {
        return Some(format!(
            "point {k} was run with measure `{}`, this sweep has measure `{}`",
            r.measure, spec.measure
        ));
    }
    if r.theorems != spec.theorems {
        return Some(format!(
            "point {k} was run for theorems [{}], this sweep tests [{}]",
            r.theorems.join(", "),
            spec.theorems.join(", ")
        ));
    }
    if r.trials != p.trials {
        return Some(format!("point {k} was run with trials {}, this {run} has trials {}", r.trials, p.trials));
    }
    if r.seed != p.seed {
        return Some(format!(
            "point {k} was run with seed {}, this sweep gives it seed {} (another sweep `seed`)",
            r.seed, p.seed
        ));
    }
    if let Some(m) = spec.metrics.iter().find(|m| !r.metrics.contains_key(*m)) {
        return Some(format!("point {k} has no metric `{m}`, which this sweep records"));
    }
    None
}

/// The lines of results file `path` (read as `file`), each checked to belong to this run of the
/// sweep ([`mismatch`]; `all` are the run's points); one that does not is an error naming the file,
/// line and mismatch, followed by `hint`. A line repeated verbatim counts once; a point recorded
/// twice with different contents is an error.
pub fn belonging_records(
    spec: &SweepSpec,
    quick: bool,
    path: &Path,
    file: &ResultsFile,
    all: &[Point],
    hint: &str,
) -> Result<Vec<ResultLine>> {
    let by_key: BTreeMap<&str, &Point> = all.iter().map(|p| (p.key.as_str(), p)).collect();
    let mut seen: BTreeMap<&str, &ResultLine> = BTreeMap::new();
    let mut out = Vec::new();
    for l in &file.lines {
        let at = || format!("{}:{}", path.display(), l.line);
        if let Some(why) = mismatch(spec, quick, &l.record, &by_key) {
            return Err(Error::invalid(at(), format!("{why}: {hint}")));
        }
        match seen.get(l.record.key.as_str()) {
            Some(prev) if prev.text == l.text => continue,
            Some(prev) => {
                return Err(Error::invalid(
                    at(),
                    format!(
                        "point {} is recorded again with other values (first at line {}): {hint}",
                        l.record.key, prev.line
                    ),
                ));
            }
            None => {}
        }
        seen.insert(&l.record.key, l);
        out.push(l.clone());
    }
    Ok(out)
}

/// Check the real data of the points to run (file, layer, head, token range) once per dataset,
/// before any point runs or the results file is touched; the heads stay cached for the points.
fn preflight(spec: &SweepSpec, todo: &[&Point]) -> Result<()> {
    let mut seen = BTreeSet::new();
    for p in todo {
        let label = p.dataset.label();
        if seen.insert(label.clone()) {
            p.dataset
                .preflight()
                .map_err(|e| Error::invalid(format!("{}: dataset {label}", spec.path.display()), e.to_string()))?;
        }
    }
    Ok(())
}

/// Metric `m` of record `r`, or an error naming the point (a record without a verdict metric must
/// not read as a NaN measurement).
fn verdict_metric(spec: &SweepSpec, r: &Record, m: &str) -> Result<f64> {
    r.metrics.get(m).copied().ok_or_else(|| {
        Error::invalid(
            format!("{}: point {}", spec.path.display(), r.key),
            format!("the record has no verdict metric `{m}`"),
        )
    })
}

/// Count metric `m` of record `r` (failures or trials of a rate verdict): a finite number ≥ 0.
fn count_metric(spec: &SweepSpec, r: &Record, m: &str) -> Result<u64> {
    let v = verdict_metric(spec, r, m)?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(Error::invalid(
            format!("{}: point {}", spec.path.display(), r.key),
            format!("metric `{m}` = {v}: expected a count (a finite number ≥ 0)"),
        ));
    }
    Ok(v as u64)
}

/// Verdict findings over a set of records, per the sweep's `verdict:` section.
pub fn summarize(spec: &SweepSpec, thm: &Theorem, records: &[Record]) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    if let Some(m) = &spec.verdict.ratio {
        let mut w = Worst::new(format!("sweep {}: {m} (≤ 1)", spec.name));
        for r in records {
            w.push(verdict_metric(spec, r, m)?, 1.0, || r.key.clone());
        }
        out.push(w.finish());
    }
    if let Some(m) = &spec.verdict.zero {
        let mut w = Worst::new(format!("sweep {}: {m} (= 0)", spec.name));
        for r in records {
            w.push(verdict_metric(spec, r, m)?, 0.0, || r.key.clone());
        }
        out.push(w.finish());
    }
    if let Some(rate) = &spec.verdict.rate {
        let (mut fails, mut trials) = (0u64, 0u64);
        for r in records {
            fails = fails.saturating_add(count_metric(spec, r, &rate.failures)?);
            trials = trials.saturating_add(count_metric(spec, r, &rate.trials)?);
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
    /// Points of the sweep missing from every input (points whose optional data is absent here
    /// are not counted, as the sweep runner skips them).
    pub missing: Vec<String>,
    /// The file written: `--out`, or `<out>.partial` when points are missing or conflicting (so
    /// that an incomplete merge never looks complete).
    pub out: PathBuf,
}

/// Join shard files into `out` (lines copied verbatim, sorted by key), reporting duplicate,
/// conflicting and missing points ([`merge_with`] without `--data`).
pub fn merge(spec: &SweepSpec, quick: bool, inputs: &[PathBuf], out: &Path) -> Result<MergeReport> {
    merge_with(spec, quick, None, inputs, out)
}

/// Join shard files of the run of `spec` (full or quick; `data` the `--data` file the shards ran
/// with). Every record must belong to the run ([`belonging_records`]: an error naming the input
/// file and line otherwise). The merged lines go to `out` when every point is present once, else
/// to `<out>.partial`.
pub fn merge_with(
    spec: &SweepSpec,
    quick: bool,
    data: Option<&Path>,
    inputs: &[PathBuf],
    out: &Path,
) -> Result<MergeReport> {
    crate::out_file::refuse_non_regular(out)?;
    let data = data.map(|f| data_file(spec, quick, f)).transpose()?;
    let all = run_points(spec, quick, data.as_deref());
    let mut by_key: BTreeMap<String, String> = BTreeMap::new();
    let mut rep = MergeReport::default();
    for p in inputs {
        if !p.exists() {
            return Err(Error::io(p, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")));
        }
        let file = read_file(p)?;
        for l in belonging_records(spec, quick, p, &file, &all, "not a shard of this sweep")? {
            match by_key.get(&l.record.key) {
                None => {
                    by_key.insert(l.record.key, l.text);
                }
                Some(prev) if *prev == l.text => rep.duplicates.push(l.record.key),
                Some(_) => rep.conflicts.push(l.record.key),
            }
        }
    }
    rep.missing =
        all.iter().filter(|p| p.dataset.available() && !by_key.contains_key(&p.key)).map(|p| p.key.clone()).collect();
    let mut s = String::new();
    for line in by_key.values() {
        s.push_str(line);
        s.push('\n');
    }
    rep.out = if rep.missing.is_empty() && rep.conflicts.is_empty() {
        out.to_path_buf()
    } else {
        crate::out_file::with_suffix(out, "partial")
    };
    crate::out_file::refuse_non_regular(&rep.out)?;
    crate::out_file::write_atomic(&rep.out, s.as_bytes())?;
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

/// Panics of a measure caught as errors: [`caught::run`] runs a closure under `catch_unwind` and
/// returns the panic's message and location instead of unwinding further; the default hook's
/// message (and backtrace) is not printed for these panics, only for panics elsewhere.
mod caught {
    use std::cell::{Cell, RefCell};
    use std::panic::{AssertUnwindSafe, PanicHookInfo};

    thread_local! {
        static ACTIVE: Cell<bool> = const { Cell::new(false) };
        static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
    }
    static HOOK: std::sync::Once = std::sync::Once::new();

    /// The message of a panic payload (`panic!` gives a `&str` or a `String`).
    fn payload_message(payload: &(dyn std::any::Any + Send)) -> &str {
        payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)")
    }

    /// The panic's message and where it was raised.
    fn describe(info: &PanicHookInfo<'_>) -> String {
        let msg = payload_message(info.payload());
        match info.location() {
            Some(l) => format!("{msg} (at {}:{}:{})", l.file(), l.line(), l.column()),
            None => msg.to_string(),
        }
    }

    /// `f()`, or the message of its panic.
    pub fn run<T>(f: impl FnOnce() -> T) -> Result<T, String> {
        HOOK.call_once(|| {
            let prev = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if ACTIVE.with(Cell::get) {
                    LAST.with(|l| *l.borrow_mut() = Some(describe(info)));
                } else {
                    prev(info)
                }
            }));
        });
        let was = ACTIVE.with(|a| a.replace(true));
        let r = std::panic::catch_unwind(AssertUnwindSafe(f));
        ACTIVE.with(|a| a.set(was));
        r.map_err(|payload| LAST.with(|l| l.borrow_mut().take()).unwrap_or_else(|| payload_message(&*payload).into()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_caught_panic_becomes_its_message_and_location() {
        let e = super::caught::run(|| -> u32 { panic!("boom {}", 7) }).unwrap_err();
        assert!(e.starts_with("boom 7 (at src/sweep/run.rs:"), "{e}");
        assert_eq!(super::caught::run(|| 3), Ok(3));
        // Nested use restores the outer state, and a panic outside still reaches the default hook.
        let e = super::caught::run(|| super::caught::run(|| -> u32 { panic!("inner") }).unwrap_err()).unwrap();
        assert!(e.starts_with("inner"), "{e}");
    }
}
