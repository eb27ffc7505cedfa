//! Sweeps: strict schema, sharding + merge = unsharded run, thread-count independence, crash safety
//! under kill -9, and the generated docs being up to date.
use attnproof::sweep::{self, RunOptions, run};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The docs staleness test runs every check, `memory.linear` included, which needs the counting allocator.
#[global_allocator]
static ALLOC: attnproof::alloc_count::Counting = attnproof::alloc_count::Counting;

fn spec_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sweeps/kill_resume.yaml")
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("attnproof-sweep-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sorted_lines(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string(p).unwrap().lines().map(String::from).collect();
    v.sort();
    v
}

fn run_to(out: &Path, quick: bool, shard: Option<(usize, usize)>, threads: usize) {
    let spec = sweep::load_spec(&spec_path()).unwrap();
    let opts = RunOptions {
        quick,
        shard,
        out: Some(out.to_path_buf()),
        threads: Some(threads),
        progress: false,
        mem_budget: None,
        data: None,
        real_causal_only: false,
    };
    run::run_sweep(&spec, &opts, |_| {}).unwrap();
}

/// A sweep over an optional `real_causal` dataset (window.last10 on two heads) plus one Gaussian
/// dataset, with `file` as the real_causal file.
fn causal_spec(file: &str) -> String {
    format!(
        "theorems: [window.last10]\nmeasure: window.last10\nseed: 3\ntrials: 1\ndatasets:\n  - {{kind: gaussian, scale: 1.0}}\n  - {{kind: real_causal, file: {file}, layer: 0, head: 1}}\n  - {{kind: real_causal, file: {file}, layer: 5, head: 2}}\ngrid:\n  n: [64]\n  w: [4, 16]\nmetrics: [kl_mean, mse, ratio]\nverdict:\n  ratio: ratio\nquick:\n  datasets:\n    - {{kind: gaussian, scale: 1.0}}\n"
    )
}

#[test]
fn real_causal_points_are_skipped_without_their_file_and_run_with_data() {
    let dir = tmpdir("causal");
    let spec =
        sweep::spec::parse(&causal_spec("/nonexistent/smollm2.safetensors"), Path::new("sweeps/c.yaml")).unwrap();
    let opts = |out: &str, data: Option<PathBuf>, only: bool| RunOptions {
        out: Some(dir.join(out)),
        threads: Some(1),
        data,
        real_causal_only: only,
        ..Default::default()
    };
    // Absent file: the 4 real_causal points are skipped, the 2 Gaussian points run.
    let s = run::run_sweep(&spec, &opts("a.jsonl", None, false), |_| {}).unwrap();
    assert_eq!((s.absent, s.ran, s.records.len()), (4, 2, 2));
    assert!(s.records.iter().all(|r| r.key.starts_with("gaussian")));
    // Only real_causal points and no file: nothing to run is an error naming the option and the
    // file (not a verdict over no cases), and no results file is created.
    let e = run::run_sweep(&spec, &opts("b.jsonl", None, true), |_| {}).unwrap_err().to_string();
    assert!(e.starts_with("--real-causal-only:") && e.contains("/nonexistent/smollm2.safetensors"), "{e}");
    assert!(!dir.join("b.jsonl").exists());
    // --data gives the file (the shipped slice has the same layout as `attnproof extract`).
    let slice = attnproof::data::shipped_slice();
    let s = run::run_sweep(&spec, &opts("c.jsonl", Some(slice.clone()), true), |_| {}).unwrap();
    assert_eq!((s.absent, s.ran), (0, 4));
    assert!(s.records.iter().all(|r| r.key.starts_with("real_causal(minilm_slice:")), "{:?}", s.records[0].key);
    assert!(s.records.iter().all(|r| r.metrics["kl_mean"] > 0.0 && r.metrics["kl_mean"].is_finite()));
    // The same heads through the `real` dataset give the same metrics.
    let real = causal_spec(slice.to_str().unwrap()).replace("kind: real_causal", "kind: real");
    let spec_real = sweep::spec::parse(&real, Path::new("sweeps/r.yaml")).unwrap();
    let r = run::run_sweep(&spec_real, &opts("d.jsonl", None, false), |_| {}).unwrap();
    let kl = |recs: &[run::Record]| {
        let mut v: Vec<f64> =
            recs.iter().filter(|r| !r.key.starts_with("gaussian")).map(|r| r.metrics["kl_mean"]).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    assert_eq!(kl(&s.records), kl(&r.records));
    // A missing --data file is a one-line error naming the flag.
    let e = run::run_sweep(&spec, &opts("e.jsonl", Some(dir.join("nope.safetensors")), false), |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("--data:") && e.lines().count() == 1, "{e}");
}

#[test]
fn real_causal_data_is_refused_in_the_quick_subset() {
    let text = causal_spec("x.safetensors")
        .replace("quick:\n  datasets:\n    - {kind: gaussian, scale: 1.0}\n", "quick:\n  grid:\n    w: [4]\n");
    let e = sweep::spec::parse(&text, Path::new("sweeps/q.yaml")).unwrap_err().to_string();
    assert!(e.contains("quick.datasets: a real_causal dataset"), "{e}");
    assert_eq!(e.lines().count(), 1);
}

#[test]
fn schema_errors_name_file_line_and_column() {
    let text = std::fs::read_to_string(spec_path()).unwrap();
    let cases = [
        (text.replacen("seed: 7", "seed: 7\nseeds: 3", 1), "unknown field `seeds`"),
        (text.replacen("trials: 150000", "trials: many", 1), "trials: invalid type"),
        (text.replacen("rep: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]", "rep: []", 1), "grid.rep: empty axis"),
        (text.replacen("kind: gaussian", "kind: gausian", 1), "unknown variant `gausian`"),
        (text.replacen("measure: dist.decomposition", "measure: nope", 1), "unknown measure `nope`"),
    ];
    for (t, want) in cases {
        let e = sweep::spec::parse(&t, Path::new("sweeps/x.yaml")).unwrap_err().to_string();
        assert!(e.contains(want), "expected `{want}` in: {e}");
        let mut parts = e.splitn(4, ':');
        assert_eq!(parts.next(), Some("sweeps/x.yaml"), "{e}");
        let line: usize = parts.next().unwrap().parse().unwrap_or(0);
        let col: usize = parts.next().unwrap().parse().unwrap_or(0);
        assert!(line >= 1 && col >= 1, "line and column in: {e}");
        assert_eq!(e.lines().count(), 1);
    }
}

#[test]
fn two_shards_merged_equal_the_unsharded_run_and_threads_do_not_matter() {
    let dir = tmpdir("shard");
    let full = dir.join("full.jsonl");
    run_to(&full, true, None, 2);
    let one_thread = dir.join("one.jsonl");
    run_to(&one_thread, true, None, 1);
    assert_eq!(sorted_lines(&full), sorted_lines(&one_thread), "results depend on the thread count");
    let (a, b) = (dir.join("s0.jsonl"), dir.join("s1.jsonl"));
    run_to(&a, true, Some((0, 2)), 1);
    run_to(&b, true, Some((1, 2)), 2);
    let merged = dir.join("merged.jsonl");
    let spec = sweep::load_spec(&spec_path()).unwrap();
    let rep = run::merge(&spec, true, &[a.clone(), b.clone()], &merged).unwrap();
    assert!(rep.missing.is_empty() && rep.conflicts.is_empty() && rep.duplicates.is_empty(), "{rep:?}");
    assert_eq!(sorted_lines(&merged), sorted_lines(&full));
    // Merging a shard with itself reports duplicates; one shard alone reports the missing points.
    let rep = run::merge(&spec, true, &[a.clone(), a.clone()], &dir.join("m2.jsonl")).unwrap();
    assert!(!rep.duplicates.is_empty() && !rep.missing.is_empty());
}

#[test]
fn rerun_skips_finished_points() {
    let dir = tmpdir("resume");
    let out = dir.join("r.jsonl");
    let spec = sweep::load_spec(&spec_path()).unwrap();
    let opts = RunOptions { quick: true, out: Some(out.clone()), threads: Some(1), ..Default::default() };
    let first = run::run_sweep(&spec, &opts, |_| {}).unwrap();
    let second = run::run_sweep(&spec, &opts, |_| {}).unwrap();
    assert_eq!(second.ran, 0);
    assert_eq!(second.skipped, first.points);
    assert_eq!(second.records.len(), first.points);
}

#[test]
fn kill_nine_then_rerun_leaves_no_corrupt_line() {
    let dir = tmpdir("kill");
    let reference = dir.join("reference.jsonl");
    run_to(&reference, false, None, 2);
    let out = dir.join("killed.jsonl");
    let bin = env!("CARGO_BIN_EXE_attnproof");
    let total = sweep::load_spec(&spec_path()).unwrap().points(false).len();
    let mut interrupted = 0;
    for delay_ms in [150u64, 400, 700, 1000, 1300] {
        let mut child = Command::new(bin)
            .args(["sweep", spec_path().to_str().unwrap(), "--out", out.to_str().unwrap(), "--threads", "2"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // Every complete line parses (a trailing partial line is allowed and truncated on resume).
        if out.exists() {
            let text = std::fs::read_to_string(&out).unwrap();
            let complete = text.rfind('\n').map(|p| &text[..=p]).unwrap_or("");
            for l in complete.lines() {
                serde_json::from_str::<run::Record>(l).unwrap_or_else(|e| panic!("corrupt line after kill: {e}: {l}"));
            }
            interrupted += usize::from(complete.lines().count() < total);
        }
    }
    assert!(interrupted >= 2, "only {interrupted} kills interrupted the sweep: make its points slower");
    let status = Command::new(bin)
        .args(["sweep", spec_path().to_str().unwrap(), "--out", out.to_str().unwrap(), "--threads", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let lines = sorted_lines(&out);
    let mut keys: Vec<String> = lines.iter().map(|l| serde_json::from_str::<run::Record>(l).unwrap().key).collect();
    keys.dedup();
    assert_eq!(keys.len(), lines.len(), "duplicated points after resume");
    assert_eq!(lines, sorted_lines(&reference), "resumed run differs from an uninterrupted one");
}

#[test]
fn shard_argument_is_validated() {
    assert!(run::parse_shard("1/2").is_ok());
    for bad in ["2/2", "0/0", "a/b", "1"] {
        let e = run::parse_shard(bad).unwrap_err().to_string();
        assert!(e.starts_with("--shard:"), "{e}");
    }
}

#[test]
fn generated_docs_are_up_to_date() {
    let pages = attnproof::docs::render_all().unwrap();
    let stale = attnproof::docs::stale_pages(&attnproof::docs::docs_dir(), &pages);
    assert!(stale.is_empty(), "stale docs pages (run `cargo run --release -- docs`): {stale:?}");
}

/// A 2-point `dist.decomposition` sweep (d = 4, 8) named after `file`, with this seed and trials
/// (quick: 10 trials).
fn small_spec(file: &str, seed: u64, trials: u64) -> sweep::SweepSpec {
    let text = format!(
        "theorems: [dist.decomposition]\nmeasure: dist.decomposition\nseed: {seed}\ntrials: {trials}\ndatasets:\n  - {{kind: gaussian, scale: 1.0}}\ngrid:\n  d: [4, 8]\nmetrics: [max_ratio, max_rel_err_expanded, trials]\nverdict:\n  ratio: max_ratio\nquick:\n  trials: 10\n"
    );
    sweep::spec::parse(&text, Path::new(file)).unwrap()
}

fn opts_to(out: &Path, quick: bool) -> RunOptions {
    RunOptions { quick, out: Some(out.to_path_buf()), threads: Some(1), ..Default::default() }
}

#[test]
fn an_existing_file_that_is_not_a_results_file_is_refused_and_left_untouched() {
    let dir = tmpdir("foreign");
    let spec = small_spec("sweeps/base.yaml", 7, 50);
    let cases: [(&str, &[u8]); 4] = [
        ("notes.txt", b"important line 1\nimportant line 2 no newline"),
        ("config.json", b"{\"important\": \"single-line json config, no trailing newline\"}"),
        ("one.txt", b"x"),
        ("lines.txt", b"a\nb\n"),
    ];
    for (name, content) in cases {
        let out = dir.join(name);
        std::fs::write(&out, content).unwrap();
        let e = run::run_sweep(&spec, &opts_to(&out, false), |_| {}).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:1: not a result line of a sweep:", out.display())), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert_eq!(std::fs::read(&out).unwrap(), content, "{name} was modified");
        assert!(!out.with_extension("timing.jsonl").exists());
    }
    // A results file torn inside its last record (a kill) is resumed: the torn record is cut away
    // and its point run again, giving the lines of an uninterrupted run.
    let out = dir.join("torn.jsonl");
    run::run_sweep(&spec, &opts_to(&out, false), |_| {}).unwrap();
    let full = std::fs::read_to_string(&out).unwrap();
    let first = full.find('\n').unwrap() + 1;
    std::fs::write(&out, &full[..first + 20]).unwrap();
    let s = run::run_sweep(&spec, &opts_to(&out, false), |_| {}).unwrap();
    assert_eq!((s.skipped, s.ran), (1, 1));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), full);
}

#[test]
fn resume_refuses_records_of_another_sweep_seed_trials_or_mode() {
    let dir = tmpdir("belongs");
    let out = dir.join("r.jsonl");
    run::run_sweep(&small_spec("sweeps/base.yaml", 7, 50), &opts_to(&out, false), |_| {}).unwrap();
    let content = std::fs::read(&out).unwrap();
    let cases = [
        (small_spec("sweeps/base.yaml", 999, 50), false, "was run with seed "),
        (small_spec("sweeps/base.yaml", 7, 5000), false, "was run with trials 50, this full run has trials 5000"),
        (small_spec("sweeps/base.yaml", 7, 50), true, "was run with trials 50, this quick run has trials 10"),
        (small_spec("sweeps/other.yaml", 7, 50), false, "record of sweep `base`, this is sweep `other`"),
    ];
    for (spec, quick, want) in cases {
        let e = run::run_sweep(&spec, &opts_to(&out, quick), |_| {}).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:1: ", out.display())) && e.contains(want), "expected `{want}` in: {e}");
        assert!(e.ends_with("use another --out or delete the file") && e.lines().count() == 1, "{e}");
        assert_eq!(std::fs::read(&out).unwrap(), content);
    }
    // A record without a metric the sweep records (the verdict's) is refused, not a NaN verdict.
    let text = String::from_utf8(content.clone()).unwrap().replacen("\"max_ratio\":", "\"max_ratio_old\":", 1);
    std::fs::write(&out, &text).unwrap();
    let e = run::run_sweep(&small_spec("sweeps/base.yaml", 7, 50), &opts_to(&out, false), |_| {}).unwrap_err();
    assert!(e.to_string().contains("has no metric `max_ratio`"), "{e}");
    // The verdict covers the run's own points: a shard's, not the other shard's in the same file.
    let out = dir.join("shards.jsonl");
    let spec = small_spec("sweeps/base.yaml", 7, 50);
    for i in 0..2 {
        let s = run::run_sweep(&spec, &RunOptions { shard: Some((i, 2)), ..opts_to(&out, false) }, |_| {}).unwrap();
        assert_eq!((s.ran, s.records.len()), (1, 1));
        assert_eq!(s.records[0].key, spec.points(false)[i].key);
    }
}

#[test]
fn data_is_relative_to_the_current_directory_and_must_be_used() {
    let dir = tmpdir("data-rel");
    std::fs::copy(attnproof::data::shipped_slice(), dir.join("mine.safetensors")).unwrap();
    std::fs::write(dir.join("c.yaml"), causal_spec("/nonexistent/smollm2.safetensors")).unwrap();
    std::fs::write(dir.join("g.yaml"), std::fs::read_to_string(spec_path()).unwrap()).unwrap();
    let bin = env!("CARGO_BIN_EXE_attnproof");
    let sweep = |file: &str, out: &str| {
        Command::new(bin)
            .current_dir(&dir)
            .args(["sweep", file, "--out", out, "--data", "mine.safetensors", "--real-causal-only", "--threads", "1"])
            .output()
            .unwrap()
    };
    // The relative --data runs every real_causal point (it was resolved against the repository root
    // and all its points were skipped as absent).
    let o = sweep("c.yaml", "c.jsonl");
    // (Exit 1 is the verdict: MiniLM's heads are not causal, so window.last10's ratio is not ≤ 1.)
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&o.stderr));
    let recs = run::read_results(&dir.join("c.jsonl"), false).unwrap();
    assert_eq!(recs.len(), 4);
    assert!(recs.iter().all(|r| r.key.starts_with("real_causal(mine:")), "{:?}", recs[0].key);
    // --data on a sweep without a real_causal dataset is an input error, not ignored.
    let o = sweep("g.yaml", "g.jsonl");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: --data: sweep g has no real_causal dataset") && err.lines().count() == 1, "{err}");
    assert!(!dir.join("g.jsonl").exists());
}

/// Each `(sweep text, wanted)` fails to load as `sweeps/x.yaml` with a one-line error naming the
/// file and containing `wanted`.
fn assert_load_errors(cases: &[(String, &str)]) {
    for (t, want) in cases {
        let e = sweep::spec::parse(t, Path::new("sweeps/x.yaml")).unwrap_err().to_string();
        assert!(e.starts_with("sweeps/x.yaml:") && e.contains(want), "expected `{want}` in: {e}");
        assert_eq!(e.lines().count(), 1);
    }
}

#[test]
fn degenerate_sizes_and_trials_are_one_line_errors_not_panics() {
    let text = std::fs::read_to_string(spec_path()).unwrap();
    let cases = [
        (text.replacen("d: {log2: {from: 0, to: 6}}", "d: [0, 8]", 1), "grid.d: value 0: expected an integer ≥ 1"),
        (
            text.replacen("rep: [0, 1]", "rep: [0, 1]\n    d: [4, 0]", 1),
            "quick.grid.d: value 0: expected an integer ≥ 1",
        ),
        (text.replacen("trials: 150000", "trials: 18446744073709551615", 1), "trials: expected an integer in 1..="),
        (text.replacen("trials: 100", "trials: 4611686018427387904", 1), "quick.trials: expected an integer in 1..="),
    ];
    assert_load_errors(&cases);
    // Limits a measure knows (reformer.lsh hashes a pair in a plane: d ≥ 2) are checked by it.
    let dir = tmpdir("degenerate");
    let lsh = "theorems: [reformer.lsh]\nmeasure: reformer.lsh\nseed: 1\ntrials: 10\ndatasets:\n  - {kind: gaussian, scale: 1.0}\ngrid:\n  b: [2]\n  theta: [0.5]\n  d: [1]\nmetrics: [outside]\nverdict:\n  zero: outside\nquick: {}\n";
    let spec = sweep::spec::parse(lsh, Path::new("sweeps/lsh.yaml")).unwrap();
    let e = run::run_sweep(&spec, &opts_to(&dir.join("lsh.jsonl"), false), |_| {}).unwrap_err().to_string();
    assert!(e.starts_with("sweeps/lsh.yaml: point gaussian(scale=1)|"), "{e}");
    assert!(e.ends_with("parameter `d` = 1: expected ≥ 2") && e.matches("point ").count() == 1, "{e}");
    // Every point failed: no empty results file or sidecar is left behind.
    assert!(!dir.join("lsh.jsonl").exists() && !dir.join("lsh.timing.jsonl").exists());
}

#[test]
fn dataset_fields_are_validated_at_load_with_their_line() {
    let text = std::fs::read_to_string(spec_path()).unwrap();
    let g = "{kind: gaussian, scale: 1.0}";
    let cases = [
        (g, "{kind: gaussian, scale: .nan}", ":7:3: datasets[0].scale: expected a positive finite number, found NaN"),
        (g, "{kind: gaussian, scale: 0}", ":7:3: datasets[0].scale: expected a positive finite number, found 0"),
        (
            g,
            "{kind: bounded}",
            ":7:3: datasets[0].entry: expected exactly one of `entry` and `entry_rel`, found neither",
        ),
        (g, "{kind: bounded, entry_rel: -1}", ":7:3: datasets[0].entry_rel: expected a positive finite number"),
        (g, "{kind: clustered, clusters: 0, spread: 1, scale: 1}", ":7:3: datasets[0].clusters: expected ≥ 1, found 0"),
        (
            g,
            "{kind: clustered, clusters: 2, spread: -1, scale: 1}",
            ":7:3: datasets[0].spread: expected a finite number ≥ 0",
        ),
        (g, "{kind: low_dim, rank: 0, noise: 0, scale: 1}", ":7:3: datasets[0].rank: expected ≥ 1, found 0"),
        ("alpha: 1.5", "alpha: 0", ":8:3: datasets[1].alpha: expected a positive finite number, found 0"),
        (g, "{kind: real_stats, file: x, layer: 0, head: 0, clusters: 0}", ":7:3: datasets[0].clusters: expected ≥ 1"),
        (
            g,
            "{kind: real, file: x, layer: 0, head: 0, tokens: [5, 5]}",
            ":7:3: datasets[0].tokens: expected [first, end)",
        ),
    ];
    for (from, to, want) in cases {
        let e = sweep::spec::parse(&text.replacen(from, to, 1), Path::new("sweeps/x.yaml")).unwrap_err().to_string();
        assert!(e.starts_with(&format!("sweeps/x.yaml{want}")), "expected `{want}` in: {e}");
        assert_eq!(e.lines().count(), 1);
    }
    // Block-style lists and the quick subset's datasets are located too.
    let block = text.replacen(g, "\n    kind: gaussian\n    scale: -2", 1).replacen("  - \n", "  -\n", 1);
    let e = sweep::spec::parse(&block, Path::new("sweeps/x.yaml")).unwrap_err().to_string();
    assert!(e.starts_with("sweeps/x.yaml:7:3: datasets[0].scale:"), "{e}");
    let quick =
        text.replacen("quick:\n", "quick:\n  datasets:\n    - {kind: heavy_tailed, alpha: .inf, scale: 1}\n", 1);
    let e = sweep::spec::parse(&quick, Path::new("sweeps/x.yaml")).unwrap_err().to_string();
    assert!(e.starts_with("sweeps/x.yaml:17:5: quick.datasets[0].alpha:"), "{e}");
}

#[test]
fn inconsistent_sections_are_refused_at_load() {
    let text = std::fs::read_to_string(spec_path()).unwrap();
    let cases = [
        (text.replacen("rep: [0, 1, 2, 3", "rep: [0, 1, 1, 3", 1), "grid.rep: value 1 is listed twice"),
        (
            text.replacen("from: 0, to: 6}", "from: 0, to: 6, step: 0}", 1),
            "grid.d: log2.step: expected a non-zero step",
        ),
        (
            text.replacen("metrics: [max_ratio, max_rel_err_expanded, trials]", "metrics: []", 1),
            "metrics: expected at least one",
        ),
        (text.replacen("ratio: max_ratio", "ratio: nope", 1), "verdict.ratio: metric `nope` is not recorded"),
        (text.replacen("    rep: [0, 1]", "    repp: [0, 1]", 1), "quick.grid.repp: not an axis of `grid`"),
        (
            text.replacen("  - {kind: heavy_tailed, alpha: 1.5, scale: 2.0}", "  - {kind: gaussian, scale: 1}", 1),
            "datasets: dataset gaussian(scale=1) is listed twice",
        ),
    ];
    assert_load_errors(&cases);
    // A shard without points is an input error naming it, not a FAIL verdict over no cases.
    let dir = tmpdir("empty-shard");
    let spec = small_spec("sweeps/base.yaml", 7, 50);
    let out = dir.join("s.jsonl");
    let e = run::run_sweep(&spec, &RunOptions { shard: Some((3, 4)), ..opts_to(&out, false) }, |_| {}).unwrap_err();
    assert!(e.to_string().starts_with("--shard: shard 3/4 has no points (sweep base has 2 points"), "{e}");
    assert!(!out.exists());
}

#[test]
fn merge_refuses_foreign_records_and_never_writes_an_incomplete_out() {
    let dir = tmpdir("merge-belongs");
    let spec = small_spec("sweeps/base.yaml", 7, 50);
    let (a, b) = (dir.join("s0.jsonl"), dir.join("s1.jsonl"));
    for (i, p) in [&a, &b].into_iter().enumerate() {
        run::run_sweep(&spec, &RunOptions { shard: Some((i, 2)), ..opts_to(p, false) }, |_| {}).unwrap();
    }
    let other = dir.join("other.jsonl");
    run::run_sweep(&small_spec("sweeps/other.yaml", 7, 50), &opts_to(&other, false), |_| {}).unwrap();
    let out = dir.join("merged.jsonl");
    // Another sweep's records, or the full run's records merged as the quick run: errors naming the
    // input file and line; nothing is written.
    let e = run::merge(&spec, false, &[a.clone(), other.clone()], &out).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:1: record of sweep `other`, this is sweep `base`", other.display())), "{e}");
    let e = run::merge(&spec, true, &[a.clone(), b.clone()], &out).unwrap_err().to_string();
    assert!(e.contains("was run with trials 50, this quick run has trials 10"), "{e}");
    assert!(!out.exists());
    // A point missing: the lines go to <out>.partial, never to --out.
    let rep = run::merge(&spec, false, std::slice::from_ref(&a), &out).unwrap();
    assert_eq!((rep.missing.len(), rep.out.clone()), (1, dir.join("merged.jsonl.partial")));
    assert!(!out.exists() && rep.out.exists());
    // Complete: --out, and no temporary file is left.
    let rep = run::merge(&spec, false, &[a.clone(), b.clone()], &out).unwrap();
    assert_eq!((rep.written, rep.out.clone()), (2, out.clone()));
    assert!(!dir.join("merged.jsonl.tmp").exists());
    // An --out that is a directory is refused before reading the inputs.
    let e = run::merge(&spec, false, &[a, b], &dir).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}: not a regular file", dir.display())), "{e}");
}

#[test]
fn an_out_that_is_not_a_regular_file_is_refused() {
    let spec = small_spec("sweeps/base.yaml", 7, 50);
    let e = run::run_sweep(&spec, &opts_to(Path::new("/dev/null"), false), |_| {}).unwrap_err().to_string();
    assert!(e.starts_with("/dev/null: not a regular file"), "{e}");
    assert!(!Path::new("/dev/null.timing.jsonl").exists());
}

#[test]
fn a_grid_axis_the_measure_never_reads_is_an_error() {
    // `tols` for `tol`: the measure would run with its default and label the points with a
    // parameter that had no effect.
    let dir = tmpdir("unread");
    let text = "theorems: [dist.decomposition]\nmeasure: dist.decomposition\nseed: 1\ntrials: 10\ndatasets:\n  - {kind: gaussian, scale: 1.0}\ngrid:\n  d: [4]\n  tols: [0.1]\nmetrics: [max_ratio]\nverdict:\n  ratio: max_ratio\nquick: {}\n";
    let spec = sweep::spec::parse(text, Path::new("sweeps/typo.yaml")).unwrap();
    let e = run::run_sweep(&spec, &opts_to(&dir.join("typo.jsonl"), false), |_| {}).unwrap_err().to_string();
    assert!(e.starts_with("sweeps/typo.yaml: point gaussian(scale=1)|"), "{e}");
    assert!(
        e.contains("parameter `tols` is not read by measure `dist.decomposition`") && e.lines().count() == 1,
        "{e}"
    );
    // The replicate axis `rep` varies only the seed and is not an error.
    let spec = sweep::spec::parse(&text.replace("tols: [0.1]", "rep: [0, 1]"), Path::new("sweeps/rep.yaml")).unwrap();
    run::run_sweep(&spec, &opts_to(&dir.join("rep.jsonl"), false), |_| {}).unwrap();
}

#[test]
fn a_tensor_too_large_to_allocate_is_an_error_not_an_abort() {
    let dir = tmpdir("huge");
    let text = "theorems: [dist.decomposition]\nmeasure: dist.decomposition\nseed: 1\ntrials: 50\ndatasets:\n  - {kind: gaussian, scale: 1.0}\ngrid:\n  d: [1000000000000]\nmetrics: [max_ratio]\nverdict:\n  ratio: max_ratio\nquick: {}\n";
    let spec = sweep::spec::parse(text, Path::new("sweeps/huge.yaml")).unwrap();
    let e = run::run_sweep(&spec, &opts_to(&dir.join("huge.jsonl"), false), |_| {}).unwrap_err().to_string();
    assert!(e.contains("more than 2^30 elements per tensor") && e.lines().count() == 1, "{e}");
}

#[test]
fn byte_counts_bom_and_thread_counts() {
    use attnproof::sweep::measure::parse_bytes;
    assert_eq!(parse_bytes("8KiB"), Ok(8 << 10));
    assert_eq!(parse_bytes("512M"), Ok(512 << 20));
    assert_eq!(parse_bytes("1000000"), Ok(1_000_000));
    assert_eq!(parse_bytes("100B"), Ok(100));
    assert!(parse_bytes("8KiBiB").is_err() && parse_bytes("8X").is_err() && parse_bytes("-1").is_err());
    // A byte-order mark before the first key is not part of it.
    let text = std::fs::read_to_string(spec_path()).unwrap();
    sweep::spec::parse(&format!("\u{feff}{text}"), Path::new("sweeps/bom.yaml")).unwrap();
    // `--threads 0` is refused as in `bench`, before any file is touched.
    let dir = tmpdir("threads0");
    let spec = small_spec("sweeps/t0.yaml", 1, 10);
    let opts = RunOptions { threads: Some(0), ..opts_to(&dir.join("t0.jsonl"), true) };
    let e = run::run_sweep(&spec, &opts, |_| {}).unwrap_err().to_string();
    assert!(e.starts_with("--threads: expected ≥ 1"), "{e}");
    assert!(!dir.join("t0.jsonl").exists());
}
