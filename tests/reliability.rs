//! Determinism (verdicts and sweep results bit-identical for 1 and 2 threads and across runs) and
//! resource limits (a sweep point over the memory budget is refused before it allocates).
//!
//! With `ATTNPROOF_RELIABILITY_DIR` set, the figures are written there for `docs/reliability.md`.
use attnproof::sweep::{self, RunOptions, run};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// `memory.linear` measures peak memory through the counting allocator.
#[global_allocator]
static ALLOC: attnproof::alloc_count::Counting = attnproof::alloc_count::Counting;

/// Checks and measures whose notes / metrics are wall-clock measurements (speed.crossover: timings and
/// the crossover n read off them): verdict and findings are compared, the timed numbers are not.
const TIMED: &[&str] = &["speed.crossover"];

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("attnproof-rel-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn record(name: &str, line: String) {
    println!("{line}");
    if let Ok(d) = std::env::var("ATTNPROOF_RELIABILITY_DIR") {
        let _ = std::fs::create_dir_all(&d);
        let _ = std::fs::write(Path::new(&d).join(name), format!("{line}\n"));
    }
}

/// The line with every wall-clock time (a number followed by the unit ` s`) replaced by `<t> s`:
/// `ivww.bound` and `speed.crossover` report measured seconds in their notes.
fn mask_seconds(line: &str) -> String {
    let toks: Vec<&str> = line.split(' ').collect();
    let mut out = Vec::with_capacity(toks.len());
    for (i, t) in toks.iter().enumerate() {
        let next_is_s = toks
            .get(i + 1)
            .is_some_and(|n| n.starts_with('s') && n[1..].chars().next().is_none_or(|c| !c.is_alphanumeric()));
        if next_is_s && t.parse::<f64>().is_ok() { out.push("<t>") } else { out.push(t) }
    }
    out.join(" ")
}

/// `verify --quick --json` under RAYON_NUM_THREADS = 1, 2 and 2 again: per theorem, the verdict is
/// identical, and the whole JSON report (verdict, findings, notes, command) is byte-identical once
/// wall-clock seconds in notes are masked ([`mask_seconds`]).
#[test]
fn verdicts_are_bit_identical_across_thread_counts_and_runs() {
    let t0 = Instant::now();
    let dir = tmpdir("verify");
    let bin = env!("CARGO_BIN_EXE_attnproof");
    let mut runs: Vec<BTreeMap<String, (String, String)>> = Vec::new();
    for (i, threads) in ["1", "2", "2"].iter().enumerate() {
        let json = dir.join(format!("v{i}.jsonl"));
        let o = Command::new(bin)
            .args(["verify", "--quick", "--json", json.to_str().unwrap()])
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert!(o.status.code().is_some_and(|c| c <= 1), "verify crashed: {}", String::from_utf8_lossy(&o.stderr));
        let text = std::fs::read_to_string(&json).unwrap();
        runs.push(
            text.lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    let id = v["id"].as_str().unwrap().to_string();
                    let verdict = v["report"]["verdict"].to_string();
                    if TIMED.contains(&id.as_str()) {
                        // Its notes and its sweep findings are wall-clock measurements (timings and
                        // the crossover read off them, which move with machine load); only the
                        // verdict is compared.
                        return (id, (verdict, String::new()));
                    }
                    (id, (verdict, mask_seconds(l)))
                })
                .collect(),
        );
    }
    let ids: Vec<&String> = runs[0].keys().collect();
    assert!(ids.len() >= 30, "only {} reports", ids.len());
    let mut differ = Vec::new();
    for id in &ids {
        let (v0, l0) = &runs[0][*id];
        for r in &runs[1..] {
            let (v, l) = &r[*id];
            assert_eq!(v0, v, "{id}: verdict depends on the thread count or the run");
            if l0 != l && !differ.contains(id) {
                differ.push(*id);
            }
        }
    }
    assert!(differ.is_empty(), "reports not bit-identical across thread counts / runs: {differ:?}");
    record(
        "determinism-verify.md",
        format!(
            "| determinism of `verify --quick --json` (RAYON_NUM_THREADS = 1, 2, 2) | {} theorems: every verdict identical; every report (findings, notes, command) byte-identical with wall-clock seconds masked (speed.crossover: notes excluded, they are measured timings) ({:.0} s) | `cargo test --release --test reliability -- verdicts` |",
            ids.len(),
            t0.elapsed().as_secs_f64()
        ),
    );
}

/// Every sweep's quick subset, with 1 and 2 threads: byte-identical result lines (timed measures
/// excepted), the 2-thread run twice for the run-to-run comparison.
#[test]
fn every_sweep_is_bit_identical_for_1_and_2_threads() {
    let t0 = Instant::now();
    let dir = tmpdir("sweeps");
    let mut files: Vec<PathBuf> = std::fs::read_dir(sweep::sweeps_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let (mut same, mut lines, mut timed) = (0, 0, Vec::new());
    for f in &files {
        let spec = sweep::load_spec(f).unwrap();
        let run_with = |threads: usize, tag: &str| -> Vec<String> {
            let out = dir.join(format!("{}.{tag}.jsonl", spec.name));
            let opts = RunOptions { quick: true, out: Some(out.clone()), threads: Some(threads), ..Default::default() };
            run::run_sweep(&spec, &opts, |_| {}).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
            let mut v: Vec<String> = std::fs::read_to_string(&out).unwrap().lines().map(String::from).collect();
            v.sort();
            v
        };
        let (a, b, c) = (run_with(1, "t1"), run_with(2, "t2"), run_with(2, "t2b"));
        if TIMED.contains(&spec.measure.as_str()) {
            assert_eq!(a.len(), b.len());
            timed.push(spec.name.clone());
            continue;
        }
        assert_eq!(a, b, "{}: results differ between 1 and 2 threads", spec.name);
        assert_eq!(b, c, "{}: results differ between two runs", spec.name);
        same += 1;
        lines += a.len();
    }
    record(
        "determinism-sweeps.md",
        format!(
            "| determinism of every sweep's quick subset (1 thread, 2 threads, 2 threads again) | {same} sweeps, {lines} result lines byte-identical; timed (not compared): {} ({:.0} s) | `cargo test --release --test reliability -- every_sweep` |",
            if timed.is_empty() { "none".into() } else { timed.join(", ") },
            t0.elapsed().as_secs_f64()
        ),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn budget_spec(dir: &Path, ns: &str) -> PathBuf {
    let p = dir.join("budget.yaml");
    std::fs::write(
        &p,
        format!(
            "theorems: [nystrom.attention]\nmeasure: nystrom.attention\nseed: 1\ntrials: 1\ndatasets: [{{kind: gaussian, scale: 1.0}}]\ngrid:\n  n: {ns}\nmetrics: [rel_error, ratio]\nverdict: {{ratio: ratio}}\nquick: {{}}\n"
        ),
    )
    .unwrap();
    p
}

#[test]
fn a_point_over_the_memory_budget_is_refused_before_it_allocates() {
    let dir = tmpdir("budget");
    let spec = sweep::load_spec(&budget_spec(&dir, "[64, 1048576]")).unwrap();
    let out = dir.join("out.jsonl");
    let opts = RunOptions { out: Some(out.clone()), threads: Some(1), mem_budget: Some(1 << 30), ..Default::default() };
    let t = Instant::now();
    let e = run::run_sweep(&spec, &opts, |_| {}).unwrap_err().to_string();
    // 8·3·n² bytes for n = 2^20 is 24 TiB: refused at once, nothing written.
    assert!(t.elapsed().as_secs_f64() < 5.0);
    assert!(
        e.contains("estimated peak memory 24.0 TiB")
            && e.contains("exceeds the memory budget 1.0 GiB")
            && e.contains("n\":1048576"),
        "{e}"
    );
    assert!(e.contains("budget.yaml") && !e.contains('\n'), "{e}");
    assert!(!out.exists(), "a refused sweep wrote its results file");
    // The same through the CLI and the environment variable.
    let o = Command::new(env!("CARGO_BIN_EXE_attnproof"))
        .args(["sweep", dir.join("budget.yaml").to_str().unwrap(), "--out", out.to_str().unwrap()])
        .env("ATTNPROOF_MEM_BUDGET", "1G")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("estimated peak memory 24.0 TiB"), "{err}");
    // A bad budget value names the variable.
    let o = Command::new(env!("CARGO_BIN_EXE_attnproof"))
        .args(["sweep", dir.join("budget.yaml").to_str().unwrap(), "--out", out.to_str().unwrap()])
        .env("ATTNPROOF_MEM_BUDGET", "lots")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("ATTNPROOF_MEM_BUDGET") && err.trim().lines().count() == 1, "{err}");
    // Under the budget the sweep runs.
    let spec = sweep::load_spec(&budget_spec(&dir, "[64]")).unwrap();
    let s = run::run_sweep(&spec, &opts, |_| {}).unwrap();
    assert_eq!(s.ran, 1);
    let est = attnproof::sweep::measure::estimate_bytes("nystrom.attention", &spec.points(false)[0]);
    record(
        "limits.md",
        format!(
            "| memory budget (`--mem-budget 1G` / `ATTNPROOF_MEM_BUDGET=1G`) | nystrom.attention at n = 2^20 (estimate 8·3·n² + 32·n·(2d+dv) bytes = 24.0 TiB) refused in {:.3} s before allocating, one-line error with the estimate, no results file written; n = 64 (estimate {}) runs | `cargo test --release --test reliability -- memory_budget` |",
            t.elapsed().as_secs_f64(),
            attnproof::sweep::measure::human_bytes(est)
        ),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
