//! Crash safety under SIGKILL at seeded random moments:
//! * the sweep runner (`attnproof sweep`) killed ≥ 50 times, resuming each time: after every kill
//!   every complete line parses, no key appears twice, and every line is byte-identical to the
//!   line of the same point in an uninterrupted run; the finished file equals that run;
//! * the docs writer (`attnproof::docs::write_pages`, what `attnproof docs` writes with) killed
//!   ≥ 50 times while rewriting pages: every page is afterwards either wholly its old or wholly a
//!   new content, never half-written.
//!
//! Kills: `ATTNPROOF_KILLS` (default 50); seed `ATTNPROOF_KILL_SEED` (default 1). With
//! `ATTNPROOF_RELIABILITY_DIR` set, the counts are written there.
use attnproof::docs::{Page, write_pages};
use attnproof::sweep::{self, RunOptions, run};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn kills() -> usize {
    std::env::var("ATTNPROOF_KILLS").ok().and_then(|s| s.parse().ok()).unwrap_or(50)
}
fn kill_seed() -> u64 {
    std::env::var("ATTNPROOF_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}

/// splitmix64: the test's own seeded stream of kill delays.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("attnproof-crash-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn record(dir: &str, name: &str, line: String) {
    println!("{line}");
    if let Ok(d) = std::env::var(dir) {
        let _ = std::fs::create_dir_all(&d);
        let _ = std::fs::write(Path::new(&d).join(name), format!("{line}\n"));
    }
}

fn spec_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sweeps/kill_resume.yaml")
}

#[test]
fn sweep_survives_random_sigkills_and_resumes_to_the_uninterrupted_result() {
    let t0 = Instant::now();
    let dir = tmpdir("sweep");
    let spec = sweep::load_spec(&spec_path()).unwrap();
    let reference = dir.join("reference.jsonl");
    let opts = RunOptions { out: Some(reference.clone()), threads: Some(2), ..Default::default() };
    run::run_sweep(&spec, &opts, |_| {}).unwrap();
    let by_key: BTreeMap<String, String> = std::fs::read_to_string(&reference)
        .unwrap()
        .lines()
        .map(|l| (serde_json::from_str::<run::Record>(l).unwrap().key, l.to_string()))
        .collect();
    let total = by_key.len();
    assert_eq!(total, spec.points(false).len());

    let out = dir.join("killed.jsonl");
    let bin = env!("CARGO_BIN_EXE_attnproof");
    let mut rng = Rng(kill_seed());
    let (mut interrupted, mut partial_tail, mut completed_cycles) = (0usize, 0usize, 0usize);
    let launch = |threads: &str| {
        Command::new(bin)
            .args(["sweep", spec_path().to_str().unwrap(), "--out", out.to_str().unwrap(), "--threads", threads])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let check = |out: &Path| -> (usize, bool) {
        let text = std::fs::read(out).unwrap_or_default();
        let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let body = std::str::from_utf8(&text[..complete]).expect("complete lines are UTF-8");
        let mut seen = BTreeSet::new();
        for l in body.lines() {
            let r: run::Record =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("corrupt line after a kill: {e}: {l}"));
            assert!(seen.insert(r.key.clone()), "duplicated point after a kill: {}", r.key);
            assert_eq!(Some(l), by_key.get(&r.key).map(String::as_str), "line differs from the uninterrupted run");
        }
        (seen.len(), complete < text.len())
    };
    for k in 0..kills() {
        let mut child = launch(if k % 2 == 0 { "2" } else { "1" });
        std::thread::sleep(Duration::from_millis(rng.range(5, 250)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let (lines, partial) = check(&out);
        partial_tail += usize::from(partial);
        if lines < total {
            interrupted += 1;
        } else {
            // Finished before the kill: compare, then start a fresh cycle so that later kills interrupt.
            assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), total);
            completed_cycles += 1;
            std::fs::remove_file(&out).unwrap();
        }
    }
    // Resume to the end.
    let st = Command::new(bin)
        .args(["sweep", spec_path().to_str().unwrap(), "--out", out.to_str().unwrap(), "--threads", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let (lines, partial) = check(&out);
    assert!(!partial && lines == total, "{lines} of {total} points after the final resume");
    let mut a: Vec<String> = std::fs::read_to_string(&out).unwrap().lines().map(String::from).collect();
    let mut b: Vec<String> = by_key.values().cloned().collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "resumed run differs from the uninterrupted one");
    assert!(interrupted * 2 >= kills(), "only {interrupted} of {} kills interrupted the sweep", kills());
    record(
        "ATTNPROOF_RELIABILITY_DIR",
        "crash-sweep.md",
        format!(
            "| SIGKILL of `attnproof sweep` ({total}-point sweep, seed {}) | {} kills at 5–250 ms, {interrupted} interrupted a run ({partial_tail} left a partial last line), {completed_cycles} runs completed between kills; 0 corrupt, 0 duplicated lines; every line and the resumed file byte-identical to the uninterrupted run ({:.0} s) | `ATTNPROOF_KILLS={} cargo test --release --test crash -- sweep_survives` |",
            kill_seed(),
            kills(),
            t0.elapsed().as_secs_f64(),
            kills()
        ),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

const PAGES: usize = 40;

fn pages(version: &str) -> Vec<Page> {
    (0..PAGES)
        .map(|i| {
            let ext = if i % 5 == 0 { "svg" } else { "md" };
            let mut content = format!("# page {i} version {version}\n");
            while content.len() < 48 * 1024 {
                content.push_str(&format!("line of page {i}, version {version}, padding padding padding\n"));
            }
            content.push_str("END\n");
            Page { rel: PathBuf::from(format!("theorems/p{i}.{ext}")), content }
        })
        .collect()
}

/// Child mode of the docs kill test: rewrite the pages with alternating versions until killed.
#[test]
fn docs_writer_child() {
    let Ok(dir) = std::env::var("ATTNPROOF_DOCS_CHILD_DIR") else { return };
    let (a, b) = (pages("A"), pages("B"));
    for g in 0.. {
        write_pages(Path::new(&dir), if g % 2 == 0 { &a } else { &b }).unwrap();
    }
}

#[test]
fn docs_pages_are_never_half_written_under_sigkill() {
    let t0 = Instant::now();
    let dir = tmpdir("docs");
    let old = pages("old");
    write_pages(&dir, &old).unwrap();
    let versions: Vec<[String; 3]> = (0..PAGES)
        .map(|i| [old[i].content.clone(), pages("A")[i].content.clone(), pages("B")[i].content.clone()])
        .collect();
    let me = std::env::current_exe().unwrap();
    let mut rng = Rng(kill_seed() ^ 0xD0C5);
    let mut mixed = 0;
    for _ in 0..kills() {
        let mut child = Command::new(&me)
            .args(["docs_writer_child", "--exact", "--nocapture", "--test-threads=1"])
            .env("ATTNPROOF_DOCS_CHILD_DIR", &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.range(5, 120)));
        let _ = child.kill();
        let _ = child.wait();
        let mut seen = BTreeSet::new();
        for (i, p) in old.iter().enumerate() {
            let got = std::fs::read_to_string(dir.join(&p.rel))
                .unwrap_or_else(|e| panic!("page {} missing after a kill: {e}", p.rel.display()));
            let v = versions[i]
                .iter()
                .position(|c| *c == got)
                .unwrap_or_else(|| panic!("page {} is half-written ({} bytes)", p.rel.display(), got.len()));
            seen.insert(v);
        }
        mixed += usize::from(seen.len() > 1);
    }
    assert!(mixed > 0, "no kill landed while pages were being rewritten: the test proves nothing");
    record(
        "ATTNPROOF_RELIABILITY_DIR",
        "crash-docs.md",
        format!(
            "| SIGKILL of the docs writer (`docs::write_pages`, {PAGES} pages of 48 KiB rewritten in a loop, seed {}) | {} kills at 5–120 ms, {mixed} landed mid-generation; 0 half-written pages (each page wholly old or wholly new) ({:.0} s) | `ATTNPROOF_KILLS={} cargo test --release --test crash -- docs_pages` |",
            kill_seed(),
            kills(),
            t0.elapsed().as_secs_f64(),
            kills()
        ),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
