//! Schema of a sweep file and the expansion of its axes into points.
use super::dataset::DatasetSpec;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A parameter value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Int(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    /// The value as written in a sweep file.
    pub fn show(&self) -> String {
        match self {
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(x) => format!("{x:?}"),
            Scalar::Str(t) => format!("{t:?}"),
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Int(i) => Some(*i as f64),
            Scalar::Float(x) => Some(*x),
            Scalar::Str(_) => None,
        }
    }
}

/// `{log2: {from: a, to: b, step: s}}`: the values 2^a, 2^(a+s), …, 2^b (integers when a ≥ 0).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log2Range {
    pub from: i32,
    pub to: i32,
    #[serde(default = "one")]
    pub step: i32,
}
fn one() -> i32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log2Axis {
    pub log2: Log2Range,
}

/// An axis: a list of values or a log2 range.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Axis {
    Values(Vec<Scalar>),
    Log2(Log2Axis),
}

/// Exponents a `log2` axis may use: 2^e must be a finite, non-zero f64.
pub const LOG2_EXPONENTS: std::ops::RangeInclusive<i32> = -1074..=1023;
/// Most points a sweep (full or quick) may expand to; a file beyond it is refused at load time
/// (the expansion would otherwise exhaust memory or run for ever).
pub const MAX_POINTS: u64 = 1_000_000;

/// The sections that name one another agree: a quick axis replaces an axis of the full sweep (it
/// cannot add one), `metrics` is non-empty, the verdict names only recorded metrics, and no dataset
/// is listed twice (same label).
fn check_sections(spec: &SweepSpec, err: &dyn Fn(&str, String) -> Error) -> Result<()> {
    for (section, quick, full) in [("grid", &spec.quick.grid, &spec.grid), ("zip", &spec.quick.zip, &spec.zip)] {
        if let Some(name) = quick.keys().find(|k| !full.contains_key(*k)) {
            return Err(err(
                "quick",
                format!(
                    "quick.{section}.{name}: not an axis of `{section}` (the quick subset replaces axes, it cannot add one)"
                ),
            ));
        }
    }
    if spec.metrics.is_empty() {
        return Err(err("metrics", "metrics: expected at least one metric".into()));
    }
    let v = &spec.verdict;
    let named = [("ratio", v.ratio.as_ref()), ("zero", v.zero.as_ref())]
        .into_iter()
        .chain(v.rate.iter().flat_map(|r| [("rate.failures", Some(&r.failures)), ("rate.trials", Some(&r.trials))]));
    for (rule, m) in named {
        let Some(m) = m else { continue };
        if !spec.metrics.contains(m) {
            return Err(err(
                "verdict",
                format!(
                    "verdict.{rule}: metric `{m}` is not recorded (add it to `metrics`: {})",
                    spec.metrics.join(", ")
                ),
            ));
        }
    }
    for (section, list) in [("datasets", Some(&spec.datasets)), ("quick.datasets", spec.quick.datasets.as_ref())] {
        let labels: Vec<String> = list.into_iter().flatten().map(|d| d.label()).collect();
        if let Some(l) = crate::repeats::first_repeat(&labels) {
            return Err(err("datasets", format!("{section}: dataset {l} is listed twice (its points would repeat)")));
        }
    }
    Ok(())
}

/// Most trials per point: some measures draw one row per trial, and more would not fit in memory.
pub const MAX_TRIALS: u64 = 1_000_000_000;

/// Parameters that are sizes of a head (tokens, key and value dimension) whatever the measure.
pub const SIZE_PARAMS: [&str; 3] = ["n", "d", "dv"];

/// Every value of a size axis ([`SIZE_PARAMS`]) of the grid, zip and quick sections is an integer
/// ≥ 1 (0 made measures panic; the measures check their other parameters themselves).
fn check_size_axes(spec: &SweepSpec, err: &dyn Fn(&str, String) -> Error) -> Result<()> {
    for (section, axes) in
        [("grid", &spec.grid), ("zip", &spec.zip), ("quick.grid", &spec.quick.grid), ("quick.zip", &spec.quick.zip)]
    {
        for (name, axis) in axes.iter().filter(|(n, _)| SIZE_PARAMS.contains(&n.as_str())) {
            if let Some(v) = axis.values().iter().find(|v| !v.as_f64().is_some_and(|x| x >= 1.0 && x.fract() == 0.0)) {
                return Err(err(
                    name,
                    format!("{section}.{name}: value {}: expected an integer ≥ 1 (a size)", v.show()),
                ));
            }
        }
    }
    Ok(())
}

impl Axis {
    /// Number of values, computed without expanding the axis.
    pub fn len(&self) -> u64 {
        match self {
            Axis::Values(v) => v.len() as u64,
            Axis::Log2(Log2Axis { log2: r }) => {
                let (from, to, step) = (r.from as i64, r.to as i64, r.step as i64);
                if step == 0 {
                    1
                } else if (step > 0 && from > to) || (step < 0 && from < to) {
                    0
                } else {
                    ((to - from) / step) as u64 + 1
                }
            }
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn values(&self) -> Vec<Scalar> {
        match self {
            Axis::Values(v) => v.clone(),
            Axis::Log2(Log2Axis { log2: r }) => {
                // i64 arithmetic: `e += step` cannot overflow for i32 bounds (it wrapped in i32 and
                // looped for ever at `from: 2147483647`).
                let (mut e, to, step) = (r.from as i64, r.to as i64, r.step as i64);
                let mut out = Vec::new();
                while (step > 0 && e <= to) || (step < 0 && e >= to) || (step == 0 && out.is_empty()) {
                    out.push(if (0..62).contains(&e) {
                        Scalar::Int(1i64 << e)
                    } else {
                        Scalar::Float(2f64.powi(e as i32))
                    });
                    if step == 0 {
                        break;
                    }
                    e += step;
                }
                out
            }
        }
    }
}

/// How the metrics of all points become a verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictSpec {
    /// A metric that must be ≤ 1 at every point (measured / bound).
    #[serde(default)]
    pub ratio: Option<String>,
    /// A metric that must be exactly 0 at every point (a count of mismatches or violations).
    #[serde(default)]
    pub zero: Option<String>,
    /// A probabilistic claim: failures/trials metrics and the claimed failure probability δ, taken
    /// from the theorem's claimed quantity `delta_claim` when given, else `delta`.
    #[serde(default)]
    pub rate: Option<RateSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateSpec {
    pub failures: String,
    pub trials: String,
    #[serde(default)]
    pub delta: Option<f64>,
    #[serde(default)]
    pub delta_claim: Option<String>,
}

/// A plot on the theorem's page: metric `y` against axis `x`, one series per dataset (and per value
/// of `series` when given), with the bound drawn as a horizontal line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlotSpec {
    pub x: String,
    pub y: String,
    #[serde(default)]
    pub series: Option<String>,
    #[serde(default)]
    pub bound: Option<f64>,
    #[serde(default = "yes")]
    pub logx: bool,
    #[serde(default = "yes")]
    pub logy: bool,
}
fn yes() -> bool {
    true
}

/// The `quick:` subset: replaces the named grid/zip axes, the datasets and the trial count.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuickSpec {
    #[serde(default)]
    pub grid: BTreeMap<String, Axis>,
    #[serde(default)]
    pub zip: BTreeMap<String, Axis>,
    #[serde(default)]
    pub datasets: Option<Vec<DatasetSpec>>,
    #[serde(default)]
    pub trials: Option<u64>,
}

/// A sweep file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Theorem ids this sweep tests.
    pub theorems: Vec<String>,
    /// Registered measure ([`super::measure`]).
    pub measure: String,
    pub seed: u64,
    /// Trials per point.
    pub trials: u64,
    /// Confidence of the Clopper–Pearson limits.
    #[serde(default = "conf95")]
    pub confidence: f64,
    pub datasets: Vec<DatasetSpec>,
    #[serde(default)]
    pub grid: BTreeMap<String, Axis>,
    #[serde(default)]
    pub zip: BTreeMap<String, Axis>,
    /// Metrics recorded (each must be produced by the measure).
    pub metrics: Vec<String>,
    pub verdict: VerdictSpec,
    #[serde(default)]
    pub plot: Option<PlotSpec>,
    pub quick: QuickSpec,
    /// Set by [`load`]: the file stem.
    #[serde(skip)]
    pub name: String,
    #[serde(skip)]
    pub path: PathBuf,
}
fn conf95() -> f64 {
    0.95
}

/// One parameter point.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Point {
    /// Canonical key: dataset label and sorted parameters (unique within a sweep).
    pub key: String,
    pub dataset: DatasetSpec,
    pub params: BTreeMap<String, Scalar>,
    /// Seed of this point: a hash of the sweep seed and the key only.
    pub seed: u64,
    pub trials: u64,
    /// Points in this run of the sweep (its full or quick grid, every shard): the size of the family
    /// of tests a statistical measure makes at once, for its Bonferroni level 1 − δ/family.
    pub family: u64,
}

thread_local! {
    /// The parameter names read through [`Point`]'s accessors while [`with_param_reads`] runs.
    static READS: std::cell::RefCell<Option<std::collections::BTreeSet<String>>> = const { std::cell::RefCell::new(None) };
}

/// Run `f` (a measure on one point) and return, with its result, the names of the parameters it
/// read through [`Point`]'s accessors on this thread: a grid axis no measure reads is a misspelt or
/// meaningless parameter (`tols:` for `tol:` would otherwise leave the default in force silently).
pub fn with_param_reads<T>(f: impl FnOnce() -> T) -> (T, std::collections::BTreeSet<String>) {
    let outer = READS.with(|r| r.borrow_mut().replace(Default::default()));
    let out = f();
    let read = READS.with(|r| std::mem::replace(&mut *r.borrow_mut(), outer)).unwrap_or_default();
    (out, read)
}

fn note_read(name: &str) {
    READS.with(|r| {
        if let Some(s) = r.borrow_mut().as_mut() {
            s.insert(name.to_string());
        }
    });
}

impl Point {
    /// A numeric parameter, or an error naming it.
    pub fn f64(&self, name: &str) -> Result<f64> {
        note_read(name);
        self.params.get(name).and_then(Scalar::as_f64).ok_or_else(|| {
            Error::invalid(format!("point {}", self.key), format!("numeric parameter `{name}` is missing"))
        })
    }
    /// A non-negative integer parameter.
    pub fn usize(&self, name: &str) -> Result<usize> {
        let x = self.f64(name)?;
        if x < 0.0 || x.fract() != 0.0 {
            return Err(Error::invalid(
                format!("point {}", self.key),
                format!("parameter `{name}` = {x}: expected a non-negative integer"),
            ));
        }
        Ok(x as usize)
    }
    /// An integer parameter that must be at least `min` (a size such as n, d or a block length:
    /// 0 makes no sense and used to panic inside the measure).
    pub fn usize_at_least(&self, name: &str, min: usize) -> Result<usize> {
        let x = self.usize(name)?;
        if x < min {
            return Err(Error::invalid(
                format!("point {}", self.key),
                format!("parameter `{name}` = {x}: expected ≥ {min}"),
            ));
        }
        Ok(x)
    }
    /// An optional integer parameter with a default, at least `min` ([`Point::usize_at_least`]).
    pub fn usize_or_at_least(&self, name: &str, default: usize, min: usize) -> Result<usize> {
        note_read(name);
        if self.params.contains_key(name) { self.usize_at_least(name, min) } else { Ok(default) }
    }
    /// An optional integer parameter with a default.
    pub fn usize_or(&self, name: &str, default: usize) -> Result<usize> {
        note_read(name);
        if self.params.contains_key(name) { self.usize(name) } else { Ok(default) }
    }
    pub fn f64_or(&self, name: &str, default: f64) -> Result<f64> {
        note_read(name);
        if self.params.contains_key(name) { self.f64(name) } else { Ok(default) }
    }
}

/// FNV-1a of a string (stable across runs and platforms).
pub fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3))
}

/// Line and column (1-based) of the first line that defines `key:` (for errors found after parsing).
pub fn locate(text: &str, key: &str) -> (usize, usize) {
    for (i, l) in text.lines().enumerate() {
        let t = l.trim_start();
        if t.starts_with(&format!("{key}:")) {
            return (i + 1, l.len() - t.len() + 1);
        }
    }
    (1, 1)
}

/// Line and column (1-based) of item `i` of the list `section` (`datasets` or `quick.datasets`),
/// one item per `- ` line; the line of the section's key when the list is written inline.
pub fn locate_item(text: &str, section: &str, i: usize) -> (usize, usize) {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut start = 0;
    let mut key_indent = 0;
    for part in section.split('.') {
        let Some(k) = (start..lines.len()).find(|&k| lines[k].trim_start().starts_with(&format!("{part}:"))) else {
            return (1, 1);
        };
        (start, key_indent) = (k, indent(lines[k]));
    }
    let (mut items, mut item_indent) = (0, None);
    for (k, l) in lines.iter().enumerate().skip(start + 1) {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if indent(l) < key_indent || (indent(l) == key_indent && !t.starts_with('-')) {
            break;
        }
        if (t.starts_with("- ") || t == "-") && *item_indent.get_or_insert(indent(l)) == indent(l) {
            if items == i {
                return (k + 1, indent(l) + 1);
            }
            items += 1;
        }
    }
    (start + 1, key_indent + 1)
}

/// Parse a sweep file from text (`file` names it in errors) and validate it.
pub fn parse(text: &str, file: &Path) -> Result<SweepSpec> {
    // A UTF-8 byte-order mark is not part of the first key (it read as "missing field `measure`").
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut spec: SweepSpec = serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        let msg = e.to_string();
        let msg = msg.find(" at line ").map(|i| msg[..i].to_string()).unwrap_or(msg);
        Error::Yaml { file: file.to_path_buf(), line, column, msg }
    })?;
    spec.name = file.file_stem().and_then(|s| s.to_str()).unwrap_or("sweep").to_string();
    spec.path = file.to_path_buf();
    let err = |key: &str, msg: String| {
        let (line, column) = locate(text, key);
        Error::Yaml { file: file.to_path_buf(), line, column, msg }
    };
    for (section, axes) in
        [("grid", &spec.grid), ("zip", &spec.zip), ("grid", &spec.quick.grid), ("zip", &spec.quick.zip)]
    {
        for (name, axis) in axes {
            if let Axis::Log2(Log2Axis { log2: r }) = axis {
                for (what, e) in [("from", r.from), ("to", r.to)] {
                    if !LOG2_EXPONENTS.contains(&e) {
                        return Err(err(
                            name,
                            format!(
                                "{section}.{name}: log2.{what} = {e} is outside {}..={} (2^e must be a finite non-zero number)",
                                LOG2_EXPONENTS.start(),
                                LOG2_EXPONENTS.end()
                            ),
                        ));
                    }
                }
            }
            if axis.is_empty() {
                return Err(err(name, format!("{section}.{name}: empty axis (expected at least one value)")));
            }
            if let Axis::Log2(Log2Axis { log2: r }) = axis
                && r.step == 0
            {
                return Err(err(name, format!("{section}.{name}: log2.step: expected a non-zero step, found 0")));
            }
            let vals: Vec<String> = axis.values().iter().map(Scalar::show).collect();
            if let Some(v) = crate::repeats::first_repeat(&vals) {
                return Err(err(
                    name,
                    format!("{section}.{name}: value {v} is listed twice (its points would repeat)"),
                ));
            }
        }
    }
    for (section, list) in [("datasets", Some(&spec.datasets)), ("quick.datasets", spec.quick.datasets.as_ref())] {
        for (i, d) in list.into_iter().flatten().enumerate() {
            if let Err(msg) = d.validate() {
                let (line, column) = locate_item(text, section, i);
                return Err(Error::Yaml {
                    file: file.to_path_buf(),
                    line,
                    column,
                    msg: format!("{section}[{i}].{msg}"),
                });
            }
        }
    }
    check_sections(&spec, &err)?;
    if spec.datasets.is_empty() {
        return Err(err("datasets", "datasets: expected at least one dataset".into()));
    }
    if spec.theorems.is_empty() {
        return Err(err("theorems", "theorems: expected at least one theorem id".into()));
    }
    // Optional data must stay out of the quick subset: CI and the generated docs run it, and they
    // must not depend on which machine has ../shared.
    let causal = |d: &super::dataset::DatasetSpec| matches!(d, super::dataset::DatasetSpec::RealCausal { .. });
    if spec.quick.datasets.as_ref().unwrap_or(&spec.datasets).iter().any(causal) {
        return Err(err(
            "quick",
            "quick.datasets: a real_causal dataset (optional data) must not be in the quick subset; list the quick datasets without it".into(),
        ));
    }
    for (what, t) in [("trials", Some(spec.trials)), ("quick.trials", spec.quick.trials)] {
        if let Some(t) = t.filter(|t| !(1..=MAX_TRIALS).contains(t)) {
            return Err(err("trials", format!("{what}: expected an integer in 1..={MAX_TRIALS}, found {t}")));
        }
    }
    if !(spec.confidence > 0.0 && spec.confidence < 1.0) {
        return Err(err("confidence", format!("confidence: expected a number in (0, 1), found {}", spec.confidence)));
    }
    if super::measure::find(&spec.measure).is_none() {
        return Err(err(
            "measure",
            format!("measure: unknown measure `{}` (known: {})", spec.measure, super::measure::names().join(", ")),
        ));
    }
    // The quick zip replaces some of the full zip's axes: the merged set must pair up too (a quick
    // axis of another length than a kept full axis indexed past its end).
    let mut quick_zip = spec.zip.clone();
    quick_zip.extend(spec.quick.zip.clone());
    for (mode, zip) in [("zip", &spec.zip), ("quick.zip", &spec.quick.zip), ("zip with quick.zip", &quick_zip)] {
        let lens: Vec<u64> = zip.values().map(|a| a.len()).collect();
        if lens.windows(2).any(|w| w[0] != w[1]) {
            let first = zip.keys().next().cloned().unwrap_or_default();
            return Err(err(&first, format!("{mode}: paired axes must have equal lengths, found {lens:?}")));
        }
    }
    for quick in [false, true] {
        let n = spec.point_count(quick);
        if n > MAX_POINTS as u128 {
            let (line, column) = locate(text, "grid");
            return Err(Error::Yaml {
                file: file.to_path_buf(),
                line,
                column,
                msg: format!(
                    "{}the sweep expands to {n} points, more than the limit {MAX_POINTS}",
                    if quick { "quick: " } else { "" }
                ),
            });
        }
    }
    check_size_axes(&spec, &err)?;
    Ok(spec)
}

/// Load a sweep file.
pub fn load(path: &Path) -> Result<SweepSpec> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse(&text, path)
}

impl SweepSpec {
    /// Number of points of the full sweep or its quick subset, computed without expanding it
    /// (saturating; u128 so that a product of many long axes does not wrap).
    pub fn point_count(&self, quick: bool) -> u128 {
        let mut grid = self.grid.clone();
        let mut zip = self.zip.clone();
        let mut datasets = self.datasets.len();
        if quick {
            grid.extend(self.quick.grid.clone());
            zip.extend(self.quick.zip.clone());
            if let Some(d) = &self.quick.datasets {
                datasets = d.len();
            }
        }
        let zlen = zip.values().map(|a| a.len()).next().unwrap_or(1) as u128;
        grid.values().fold(datasets as u128 * zlen, |acc, a| acc.saturating_mul(a.len() as u128))
    }
    /// Every point of the full sweep, or of its quick subset, in a deterministic order.
    pub fn points(&self, quick: bool) -> Vec<Point> {
        let mut grid = self.grid.clone();
        let mut zip = self.zip.clone();
        let mut datasets = self.datasets.clone();
        let mut trials = self.trials;
        if quick {
            grid.extend(self.quick.grid.clone());
            zip.extend(self.quick.zip.clone());
            if let Some(d) = &self.quick.datasets {
                datasets = d.clone();
            }
            if let Some(t) = self.quick.trials {
                trials = t;
            }
        }
        // Cartesian product of the grid axes (sorted by name).
        let mut combos: Vec<BTreeMap<String, Scalar>> = vec![BTreeMap::new()];
        for (name, axis) in &grid {
            let vals = axis.values();
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    vals.iter().map(move |v| {
                        let mut c = c.clone();
                        c.insert(name.clone(), v.clone());
                        c
                    })
                })
                .collect();
        }
        // Paired zip axes.
        let zlen = zip.values().map(|a| a.values().len()).next().unwrap_or(1);
        let zvals: Vec<(String, Vec<Scalar>)> = zip.iter().map(|(k, a)| (k.clone(), a.values())).collect();
        let mut points = Vec::new();
        for ds in &datasets {
            for c in &combos {
                for z in 0..zlen {
                    let mut params = c.clone();
                    for (k, v) in &zvals {
                        params.insert(k.clone(), v[z].clone());
                    }
                    let key = format!("{}|{}", ds.label(), serde_json::to_string(&params).unwrap_or_default());
                    let seed = crate::rng::stream(self.seed, fnv1a(&key)).next_u64_compat();
                    points.push(Point { key, dataset: ds.clone(), params, seed, trials, family: 0 });
                }
            }
        }
        let family = points.len() as u64;
        points.iter_mut().for_each(|p| p.family = family);
        points
    }
}

/// `next_u64` through the rand_core trait without importing it at every call site.
trait NextU64 {
    fn next_u64_compat(self) -> u64;
}
impl NextU64 for rand_pcg::Pcg64Mcg {
    fn next_u64_compat(mut self) -> u64 {
        rand::Rng::next_u64(&mut self)
    }
}
