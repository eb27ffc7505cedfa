//! Fuzz tests of every parser and loader, on stable Rust (proptest-driven): theorem YAML, sweep
//! YAML, safetensors bytes (through the real-head loader), `.npy` bytes, JSONL result files
//! (read/resume and merge), and CLI argument vectors (through `attnproof::cli::parse_args`).
//!
//! Inputs are random bytes and structure-aware mutations of valid files: truncations, bit flips,
//! inserted / deleted / duplicated ranges, dictionary tokens (NaN, Inf, huge numbers, unknown keys,
//! wrong dtypes, huge shapes and offsets), header-length lies. Every input must give `Ok` or a
//! single-line error that names the file (or, for the CLI, starts with `error:`); a panic fails the
//! test with the minimal input proptest shrinks to; every case must finish within 2 s.
//!
//! Case budget per parser: `ATTNPROOF_FUZZ_CASES` (default 1000, the CI budget); the long mode is
//! `ATTNPROOF_FUZZ_CASES=100000`. With `ATTNPROOF_RELIABILITY_DIR` set, each test writes its counts
//! there (`scripts/reliability.sh` assembles them into `docs/reliability.md`).
use attnproof::tensor::{Tensor, npy, safetensors_io};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn cases() -> u32 {
    std::env::var("ATTNPROOF_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(1000)
}

const MAX_CASE: Duration = Duration::from_secs(2);
const MAX_LEN: usize = 1 << 16;

/// One structure-aware edit.
#[derive(Debug, Clone)]
enum Mut {
    Truncate(Index),
    Flip(Index, u8),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Dup(Index, usize),
    /// Insert dictionary token `usize`.
    Token(Index, usize),
    /// Overwrite bytes at the position with dictionary token `usize`.
    Overwrite(Index, usize),
    /// Replace the value of a `key: value` line (text formats) with dictionary token `usize`.
    Value(Index, usize),
}

fn mutation() -> impl Strategy<Value = Mut> {
    prop_oneof![
        any::<Index>().prop_map(Mut::Truncate),
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mut::Flip(i, b)),
        (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, v)| Mut::Insert(i, v)),
        (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mut::Delete(i, n)),
        (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mut::Dup(i, n)),
        (any::<Index>(), any::<usize>()).prop_map(|(i, t)| Mut::Token(i, t)),
        (any::<Index>(), any::<usize>()).prop_map(|(i, t)| Mut::Overwrite(i, t)),
        (any::<Index>(), any::<usize>()).prop_map(|(i, t)| Mut::Value(i, t)),
    ]
}

fn apply(seed: &[u8], muts: &[Mut], dict: &[Vec<u8>]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for m in muts {
        let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len + 1) };
        match m {
            Mut::Truncate(i) => {
                let p = at(i, b.len());
                b.truncate(p);
            }
            Mut::Flip(i, bit) => {
                if !b.is_empty() {
                    let p = i.index(b.len());
                    b[p] ^= 1 << bit;
                }
            }
            Mut::Insert(i, v) => {
                let p = at(i, b.len());
                b.splice(p..p, v.iter().copied());
            }
            Mut::Delete(i, n) => {
                let p = at(i, b.len());
                let e = (p + n).min(b.len());
                b.drain(p..e);
            }
            Mut::Dup(i, n) => {
                let p = at(i, b.len());
                let e = (p + n).min(b.len());
                let r: Vec<u8> = b[p..e].to_vec();
                b.splice(p..p, r);
            }
            Mut::Token(i, t) => {
                let p = at(i, b.len());
                b.splice(p..p, dict[t % dict.len()].iter().copied());
            }
            Mut::Overwrite(i, t) => {
                let tok = &dict[t % dict.len()];
                let p = at(i, b.len()).min(b.len());
                for (k, &x) in tok.iter().enumerate() {
                    if p + k < b.len() {
                        b[p + k] = x;
                    } else {
                        b.push(x);
                    }
                }
            }
            Mut::Value(i, t) => {
                // The value after the first ": " of the line containing position i.
                if !b.is_empty() {
                    let p = i.index(b.len());
                    let ls = b[..p].iter().rposition(|&c| c == b'\n').map_or(0, |x| x + 1);
                    let le = b[p..].iter().position(|&c| c == b'\n').map_or(b.len(), |x| p + x);
                    if let Some(c) = b[ls..le].windows(2).position(|w| w == b": ") {
                        let vs = ls + c + 2;
                        b.splice(vs..le, dict[t % dict.len()].iter().copied());
                    }
                }
            }
        }
        b.truncate(MAX_LEN);
    }
    b
}

/// Random bytes (1 in 5) or mutations of a seed (4 in 5).
fn input(seeds: Vec<Vec<u8>>, dict: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..1024),
        4 => (0..n, proptest::collection::vec(mutation(), 1..8)).prop_map(move |(s, m)| apply(&seeds[s], &m, &dict)),
    ]
}

fn toks(t: &[&str]) -> Vec<Vec<u8>> {
    t.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// Tokens for the YAML formats.
fn yaml_dict() -> Vec<Vec<u8>> {
    toks(&[
        ".nan",
        ".inf",
        "-.inf",
        "1e400",
        "-1",
        "0",
        "2147483647",
        "-2147483648",
        "18446744073709551616",
        "99999999999999999999999",
        "[]",
        "{}",
        "~",
        "null",
        "true",
        "\"\"",
        "x",
        "!!binary aGVsbG8=",
        "&a [1]",
        "*a",
        "*undefined",
        "{log2: {from: 0, to: 2147483647}}",
        "{log2: {from: 2147483647, to: 2147483647}}",
        "{log2: {from: -2147483648, to: 2147483647, step: 1}}",
        "{log2: {from: 0, to: 30, step: 0}}",
        "{log2: {from: 3000, to: 3001}}",
        "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]",
        "\nunknown_key: 1\n",
        "\n  nested: {a: b}\n",
        "\"a\\nb\"",
        "'\\u0000'",
        "\"\\u0000\\r\\n\"",
        "{kind: gaussian, scale: .nan}",
        "{kind: real}",
        "{kind: nope}",
        "- ",
        "\t",
        ": ",
        "? ",
        "holds_in_regime",
        "open",
        "fails",
        "identity",
        "{value: .nan, meaning: x}",
        "{value: [1, .inf], meaning: x}",
        "\u{feff}",
        "é",
        "#",
    ])
}

fn read_dir_files(dir: &Path, ext: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A rejection must be one line and name `name` (the file or the argument).
fn one_line_naming(e: &str, name: &str) -> Result<(), TestCaseError> {
    prop_assert!(!e.contains('\n') && !e.contains('\r'), "multi-line error: {e:?}");
    prop_assert!(e.contains(name), "error does not name `{name}`: {e}");
    Ok(())
}

struct Counts {
    name: &'static str,
    ok: Cell<u64>,
    err: Cell<u64>,
    max: Cell<Duration>,
}

impl Counts {
    fn new(name: &'static str) -> Self {
        Counts { name, ok: Cell::new(0), err: Cell::new(0), max: Cell::new(Duration::ZERO) }
    }
    fn time<T>(&self, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
        let t = Instant::now();
        let r = f();
        let e = t.elapsed();
        self.max.set(self.max.get().max(e));
        prop_assert!(e < MAX_CASE, "one case took {e:?} (a hang?)");
        Ok(r)
    }
    fn outcome<T, E>(&self, r: &Result<T, E>) {
        match r {
            Ok(_) => self.ok.set(self.ok.get() + 1),
            Err(_) => self.err.set(self.err.get() + 1),
        }
    }
    fn report(&self, started: Instant) {
        let (ok, err) = (self.ok.get(), self.err.get());
        let line = format!(
            "| fuzz: {} | {} inputs ({} accepted, {} rejected with a one-line error), 0 panics, slowest case {:.1} ms, {:.1} s total | `ATTNPROOF_FUZZ_CASES={} cargo test --release --test fuzz -- {}` |",
            self.name,
            ok + err,
            ok,
            err,
            self.max.get().as_secs_f64() * 1e3,
            started.elapsed().as_secs_f64(),
            cases(),
            self.name
        );
        println!("{line}");
        if let Ok(dir) = std::env::var("ATTNPROOF_RELIABILITY_DIR") {
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(Path::new(&dir).join(format!("fuzz-{}.md", self.name)), format!("{line}\n"));
        }
        assert!(ok + err >= cases() as u64, "ran {} of {} cases", ok + err, cases());
    }
}

fn runner() -> TestRunner {
    TestRunner::new(Config { cases: cases(), failure_persistence: None, max_shrink_iters: 2000, ..Config::default() })
}

fn finish(name: &str, r: Result<(), proptest::test_runner::TestError<impl std::fmt::Debug>>) {
    if let Err(e) = r {
        panic!("fuzz {name}: {e}");
    }
}

#[test]
fn theorem_yaml() {
    let files = read_dir_files(&root().join("theorems"), "yaml");
    assert!(files.len() >= 10);
    let names: Vec<PathBuf> =
        files.iter().map(|(p, _)| PathBuf::from("theorems").join(p.file_name().unwrap())).collect();
    let seeds: Vec<Vec<u8>> = files.iter().map(|(_, b)| b.clone()).collect();
    let n = seeds.len();
    let c = Counts::new("theorem_yaml");
    let t0 = Instant::now();
    let strat = (0..n, input(seeds, yaml_dict()));
    let r = runner().run(&strat, |(which, bytes)| {
        // The file name of a seed, so that an unmutated id still matches its file.
        let path = &names[which];
        let text = String::from_utf8_lossy(&bytes);
        let res = c.time(|| attnproof::registry::parse_str(&text, path))?;
        c.outcome(&res);
        match res {
            Ok(t) => {
                for name in t.claimed.keys() {
                    let _ = t.claimed_f64(name);
                }
            }
            Err(e) => one_line_naming(&e.to_string(), &path.display().to_string())?,
        }
        Ok(())
    });
    finish("theorem_yaml", r);
    c.report(t0);
}

#[test]
fn sweep_yaml() {
    let mut files = read_dir_files(&root().join("sweeps"), "yaml");
    files.extend(read_dir_files(&root().join("tests/data/sweeps"), "yaml"));
    let seeds: Vec<Vec<u8>> = files.iter().map(|(_, b)| b.clone()).collect();
    let c = Counts::new("sweep_yaml");
    let t0 = Instant::now();
    let path = Path::new("sweeps/fuzz.case.yaml");
    let r = runner().run(&input(seeds, yaml_dict()), |bytes| {
        let text = String::from_utf8_lossy(&bytes);
        let res = c.time(|| {
            let r = attnproof::sweep::spec::parse(&text, path);
            if let Ok(s) = &r {
                for quick in [false, true] {
                    let n = s.point_count(quick);
                    assert!(n <= attnproof::sweep::spec::MAX_POINTS as u128);
                    if n <= 20_000 {
                        let pts = s.points(quick);
                        assert_eq!(pts.len() as u128, n, "point_count disagrees with points()");
                        for p in &pts {
                            let _ = attnproof::sweep::measure::estimate_bytes(&s.measure, p);
                        }
                    }
                }
            }
            r
        })?;
        c.outcome(&res);
        if let Err(e) = res {
            one_line_naming(&e.to_string(), "sweeps/fuzz.case.yaml")?;
        }
        Ok(())
    });
    finish("sweep_yaml", r);
    c.report(t0);
}

fn save_bytes(tensors: &[Tensor], meta: &BTreeMap<String, String>) -> Vec<u8> {
    let p =
        std::env::temp_dir().join(format!("attnproof-fuzz-seed-{}-{}.safetensors", std::process::id(), tensors.len()));
    safetensors_io::save(&p, tensors, meta).unwrap();
    let b = std::fs::read(&p).unwrap();
    let _ = std::fs::remove_file(&p);
    b
}

fn seq(n: usize, s: f32) -> Vec<f32> {
    (0..n).map(|i| ((i as f32) * 0.37).sin() * s).collect()
}

fn safetensors_seeds() -> Vec<Vec<u8>> {
    let (h, hkv, n, d, dv) = (2, 1, 4, 3, 2);
    let mut t = vec![
        Tensor::f32("layer0.q", vec![h, n, d], seq(h * n * d, 1.0)),
        Tensor::f32("layer0.k", vec![hkv, n, d], seq(hkv * n * d, 2.0)),
        Tensor::f32("layer0.v", vec![hkv, n, dv], seq(hkv * n * dv, 3.0)),
    ];
    let a = save_bytes(&t, &BTreeMap::new());
    t.push(Tensor::f64("layer0.out_full", vec![h, n, dv], vec![0.5; h * n * dv]));
    t.push(Tensor::f32("layer3.q", vec![1, 1, 1], vec![1.0]));
    t.push(Tensor::f32("layer3.k", vec![1, 1, 1], vec![1.0]));
    t.push(Tensor::f32("layer3.v", vec![1, 1, 1], vec![1.0]));
    let mut meta = BTreeMap::new();
    meta.insert("source".to_string(), "fuzz".to_string());
    let b = save_bytes(&t, &meta);
    vec![a, b]
}

fn safetensors_dict() -> Vec<Vec<u8>> {
    let mut d = toks(&[
        "\"F16\"",
        "\"BF16\"",
        "\"BOOL\"",
        "\"I64\"",
        "\"F64\"",
        "\"U8\"",
        "[4294967296,4294967296]",
        "[0,18446744073709551615]",
        "[18446744073709551615,0]",
        "[1099511627776,0,1]",
        "[0,0,0]",
        "[]",
        "[2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2]",
        "\"layer0.q\"",
        "\"layer1.q\"",
        "\"layer18446744073709551616.q\"",
        "\"__metadata__\"",
        "{}",
        "null",
        "\"dtype\"",
        "\"shape\"",
        "\"data_offsets\"",
        ",",
        "\"unknown\":1,",
    ]);
    for x in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::from_bits(1), f32::MAX, -0.0] {
        d.push(x.to_le_bytes().to_vec());
    }
    for x in [f64::NAN, f64::INFINITY, f64::from_bits(1)] {
        d.push(x.to_le_bytes().to_vec());
    }
    // Header length lies (the first 8 bytes).
    for n in [0u64, 1, 7, 8, 100, 1 << 20, 1 << 40, u64::MAX] {
        d.push(n.to_le_bytes().to_vec());
    }
    d
}

#[test]
fn safetensors_bytes() {
    let c = Counts::new("safetensors");
    let t0 = Instant::now();
    let path = Path::new("data/fuzz case.safetensors");
    let seeds = safetensors_seeds();
    // Header length lies at position 0, besides mutations anywhere.
    let lie = (0..seeds.len(), any::<u64>(), -16i64..16).prop_map({
        let seeds = seeds.clone();
        move |(s, big, delta)| {
            let mut b = seeds[s].clone();
            let hl = u64::from_le_bytes(b[..8].try_into().unwrap());
            let v = if delta == 0 { big } else { hl.wrapping_add(delta as u64) };
            b[..8].copy_from_slice(&v.to_le_bytes());
            b
        }
    });
    let strat = prop_oneof![4 => input(seeds, safetensors_dict()), 1 => lie];
    let r = runner().run(&strat, |bytes| {
        let res = c.time(|| attnproof::data::heads_from_bytes(&bytes, path))?;
        c.outcome(&res);
        match res {
            Ok(heads) => {
                for h in &heads {
                    prop_assert!(h.n >= 1 && h.d >= 1 && h.q.len() == h.n * h.d && h.k.len() == h.n * h.d);
                    prop_assert!(h.q.iter().chain(&h.k).chain(&h.v).all(|x| x.is_finite()));
                }
            }
            Err(e) => one_line_naming(&e.to_string(), "data/fuzz case.safetensors")?,
        }
        // The plain tensor parser too.
        let res = c.time(|| safetensors_io::parse(&bytes, path))?;
        if let Err(e) = res {
            one_line_naming(&e.to_string(), "data/fuzz case.safetensors")?;
        }
        Ok(())
    });
    finish("safetensors", r);
    c.report(t0);
}

fn npy_bytes(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut h = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((h.len() as u16).to_le_bytes());
    b.extend(h.as_bytes());
    b.extend(data);
    b
}

fn npy_seeds() -> Vec<Vec<u8>> {
    let f32s: Vec<u8> = seq(6, 1.0).iter().flat_map(|x| x.to_le_bytes()).collect();
    let f64s: Vec<u8> = (0..6).flat_map(|i| (i as f64 * 0.5).to_le_bytes()).collect();
    let i64s: Vec<u8> = (0..4i64).flat_map(|i| i.to_le_bytes()).collect();
    vec![
        npy_bytes("<f4", false, "(2, 3)", &f32s),
        npy_bytes("<f8", false, "(6,)", &f64s),
        npy_bytes("<i8", false, "(2, 2)", &i64s),
        npy_bytes("<f4", false, "()", &f32s[..4]),
    ]
}

#[test]
fn npy_bytes_fuzz() {
    let mut dict = toks(&[
        "'<f2'",
        "'>f4'",
        "'|b1'",
        "'<c16'",
        "'<U4'",
        "'O'",
        "[('a', '<f4')]",
        "True",
        "False",
        "(1099511627776,)",
        "(4294967296, 4294967296)",
        "(18446744073709551615, 2)",
        "(0,)",
        "(0, 1099511627776)",
        "()",
        "(-1,)",
        "'shape'",
        "'descr'",
        "'fortran_order'",
        "'extra': 1, ",
    ]);
    for magic in [&b"\x93NUMPY\x02\x00"[..], b"\x93NUMPY\x03\x00", b"\x93NUMPX"] {
        dict.push(magic.to_vec());
    }
    for x in [f32::NAN, f32::INFINITY] {
        dict.push(x.to_le_bytes().to_vec());
    }
    for n in [0u16, 1, 64, 65535] {
        dict.push(n.to_le_bytes().to_vec());
    }
    let c = Counts::new("npy");
    let t0 = Instant::now();
    let path = Path::new("arrays/fuzz-case.npy");
    let r = runner().run(&input(npy_seeds(), dict), |bytes| {
        let res = c.time(|| npy::parse(&bytes, path))?;
        c.outcome(&res);
        match res {
            Ok(t) => prop_assert_eq!(t.shape.iter().product::<usize>(), t.len()),
            Err(e) => one_line_naming(&e.to_string(), "arrays/fuzz-case.npy")?,
        }
        Ok(())
    });
    finish("npy", r);
    c.report(t0);
}

fn record_lines() -> Vec<u8> {
    let spec = attnproof::sweep::load_spec(&root().join("tests/data/sweeps/kill_resume.yaml")).unwrap();
    let mut s = String::new();
    for (i, p) in spec.points(true).iter().enumerate().take(6) {
        let mut metrics = BTreeMap::new();
        metrics.insert("max_ratio".to_string(), [0.5, f64::INFINITY, f64::NAN, -0.0, 1e-310, 3.0][i]);
        metrics.insert("trials".to_string(), 100.0);
        let r = attnproof::sweep::run::Record::of_point(&spec, p, metrics);
        s.push_str(&serde_json::to_string(&r).unwrap());
        s.push('\n');
    }
    s.into_bytes()
}

fn jsonl_dict() -> Vec<Vec<u8>> {
    toks(&[
        "\n",
        "\r\n",
        "\"nan\"",
        "\"inf\"",
        "\"-inf\"",
        "\"NaN\"",
        "1e400",
        "-1",
        "18446744073709551616",
        "null",
        "{}",
        "[]",
        "\"\\u0000\"",
        "\"\\n\"",
        "\"key\"",
        "\"metrics\"",
        ",\"extra\":1",
        "\u{fffd}",
        "\u{0}",
        "\"version\":\"9\"",
        "{\"key\":\"a\"}\n",
        "\\",
        "\"",
    ])
}

#[test]
fn jsonl_results_and_merge() {
    let dir = std::env::temp_dir().join(format!("attnproof-fuzz-jsonl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let spec = attnproof::sweep::load_spec(&root().join("tests/data/sweeps/kill_resume.yaml")).unwrap();
    let seed = record_lines();
    let c = Counts::new("jsonl");
    let t0 = Instant::now();
    let a = dir.join("shard a.jsonl");
    let b = dir.join("shard-b.jsonl");
    let out = dir.join("merged.jsonl");
    let strat = (input(vec![seed.clone()], jsonl_dict()), input(vec![seed], jsonl_dict()), any::<bool>());
    let r = runner().run(&strat, |(x, y, truncate)| {
        std::fs::write(&a, &x).unwrap();
        std::fs::write(&b, &y).unwrap();
        let res = c.time(|| attnproof::sweep::run::read_lines(&a, truncate))?;
        c.outcome(&res);
        match &res {
            Ok(recs) => {
                // Resume semantics: after a truncating read the file ends on a line boundary.
                let after = std::fs::read(&a).unwrap();
                if truncate {
                    prop_assert!(after.is_empty() || after.ends_with(b"\n"));
                    prop_assert!(x.starts_with(&after));
                } else {
                    prop_assert_eq!(&after, &x);
                }
                for (r, line) in recs {
                    prop_assert!(!line.contains('\n'));
                    prop_assert_eq!(&serde_json::from_str::<attnproof::sweep::run::Record>(line).unwrap().key, &r.key);
                }
            }
            Err(e) => one_line_naming(&e.to_string(), &a.display().to_string())?,
        }
        std::fs::write(&a, &x).unwrap();
        let m = c.time(|| attnproof::sweep::run::merge(&spec, true, &[a.clone(), b.clone()], &out))?;
        match m {
            Ok(rep) => {
                let merged = attnproof::sweep::run::read_lines(&rep.out, false)
                    .map_err(|e| TestCaseError::fail(format!("merged output does not re-read: {e}")))?;
                prop_assert_eq!(merged.len(), rep.written);
            }
            Err(e) => {
                let s = e.to_string();
                prop_assert!(!s.contains('\n'), "multi-line: {s:?}");
                prop_assert!(
                    s.contains(&a.display().to_string()) || s.contains(&b.display().to_string()),
                    "names neither input: {s}"
                );
            }
        }
        Ok(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    finish("jsonl", r);
    c.report(t0);
}

fn cli_words() -> Vec<&'static str> {
    vec![
        "list",
        "show",
        "verify",
        "check-reference",
        "bench",
        "exact",
        "solver",
        "sweep",
        "merge",
        "docs",
        "solve",
        "slice",
        "help",
        "--help",
        "-h",
        "--version",
        "-V",
        "--quick",
        "--seed",
        "--data",
        "--json",
        "--tol",
        "--layer",
        "--head",
        "--mask",
        "--shard",
        "--out",
        "--threads",
        "--mem-budget",
        "--sweep",
        "--check",
        "--layers",
        "--heads",
        "--n",
        "--d",
        "--reps",
        "--backend",
        "--regime",
        "--exact-max",
        "--",
        "-",
        "",
        "0",
        "1",
        "-1",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "1e400",
        "1e-3",
        "0/0",
        "1/2",
        "2/2",
        "18446744073709551616",
        "99999999999999999999",
        "causal",
        "strict-prefix",
        "full",
        "cpu",
        "wgpu",
        "cuda",
        "clustered",
        "8G",
        "512MiB",
        "1Q",
        "0,5",
        ",,",
        "a,b",
        "dist.rank",
        "no.such",
        "x.safetensors",
        "sweeps/dist.rank.yaml",
        "\n",
        "é",
        "--tol=nan",
        "--shard=",
        "-x",
        "--unknown",
    ]
}

#[test]
fn cli_arguments() {
    use attnproof::cli::{Cmd, Parsed, parse_args};
    let words = cli_words();
    let c = Counts::new("cli");
    let t0 = Instant::now();
    let word = prop_oneof![
        4 => (0..words.len()).prop_map(move |i| std::ffi::OsString::from(words[i])),
        1 => "\\PC{0,12}".prop_map(std::ffi::OsString::from),
        1 => proptest::collection::vec(any::<u8>(), 0..8).prop_map(|b| {
            use std::os::unix::ffi::OsStringExt;
            std::ffi::OsString::from_vec(b)
        }),
    ];
    let strat = proptest::collection::vec(word, 0..8);
    let r = runner().run(&strat, |args| {
        let mut argv = vec![std::ffi::OsString::from("attnproof")];
        argv.extend(args);
        let res = c.time(|| parse_args(argv.clone()))?;
        c.outcome(&res);
        match res {
            Ok(Parsed::Run(cli)) => {
                // Values parsed as strings are validated by the library with one-line errors.
                if let Cmd::Sweep { shard: Some(s), .. } = &cli.cmd {
                    if let Err(e) = attnproof::sweep::run::parse_shard(s) {
                        one_line_naming(&e.to_string(), "--shard")?;
                    }
                }
            }
            Ok(Parsed::Print(text)) => prop_assert!(!text.is_empty()),
            Err(e) => {
                prop_assert!(e.starts_with("error:"), "{e}");
                prop_assert!(!e.contains('\n'), "multi-line: {e:?}");
            }
        }
        Ok(())
    });
    finish("cli", r);
    c.report(t0);
}

// ---- regression tests of the bugs the fuzzers found (one per fix) ----

/// `log2: {from: 2147483647, to: 2147483647}` wrapped `e += step` in i32 and looped for ever.
#[test]
fn log2_axis_at_i32_max_is_refused_not_looped() {
    let text = std::fs::read_to_string(root().join("tests/data/sweeps/kill_resume.yaml")).unwrap();
    let t = text.replacen("d: {log2: {from: 0, to: 6}}", "d: {log2: {from: 2147483647, to: 2147483647}}", 1);
    let e = attnproof::sweep::spec::parse(&t, Path::new("sweeps/x.yaml")).unwrap_err().to_string();
    assert!(e.starts_with("sweeps/x.yaml:") && e.contains("log2.from = 2147483647 is outside"), "{e}");
}

/// A grid that expands to more than `MAX_POINTS` points is refused at load time (it exhausted memory).
#[test]
fn exploding_grid_is_refused_at_load() {
    let text = std::fs::read_to_string(root().join("tests/data/sweeps/kill_resume.yaml")).unwrap();
    let t = text.replacen(
        "d: {log2: {from: 0, to: 6}}",
        "d: {log2: {from: -1000, to: 1000}}\n  e: {log2: {from: -1000, to: 1000}}",
        1,
    );
    let e = attnproof::sweep::spec::parse(&t, Path::new("sweeps/x.yaml")).unwrap_err().to_string();
    assert!(e.contains("expands to 80080020 points, more than the limit 1000000"), "{e}");
}

/// A quick zip axis of another length than a kept full zip axis indexed past its end (panic).
#[test]
fn quick_zip_must_pair_with_the_full_zip() {
    let text = std::fs::read_to_string(root().join("tests/data/sweeps/kill_resume.yaml")).unwrap();
    let t = text
        .replacen(
            "  rep: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n",
            "  rep: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\nzip:\n  a: [1, 2, 3]\n  b: [4, 5, 6]\n",
            1,
        )
        .replacen("quick:\n  grid:", "quick:\n  zip:\n    a: [1]\n  grid:", 1);
    let e = attnproof::sweep::spec::parse(&t, Path::new("sweeps/x.yaml")).unwrap_err().to_string();
    assert!(e.contains("zip with quick.zip: paired axes must have equal lengths"), "{e}");
}

/// An npy header claiming 2^40 values allocated before checking the data (abort).
#[test]
fn npy_header_shape_larger_than_the_file_is_refused() {
    let b = npy_bytes("<f4", false, "(1099511627776,)", &[0u8; 16]);
    let e = npy::parse(&b, Path::new("a.npy")).unwrap_err().to_string();
    assert!(e.starts_with("a.npy: header shape [1099511627776] needs more data"), "{e}");
}

/// A layer of shape [2^40, 0, 1] (zero bytes of data) looped over 2^40 empty heads.
#[test]
fn zero_token_layer_is_refused() {
    let t = vec![
        Tensor::f32("layer0.q", vec![1 << 40, 0, 1], vec![]),
        Tensor::f32("layer0.k", vec![1, 0, 1], vec![]),
        Tensor::f32("layer0.v", vec![1, 0, 1], vec![]),
    ];
    let b = save_bytes(&t, &BTreeMap::new());
    let e = attnproof::data::heads_from_bytes(&b, Path::new("z.safetensors")).unwrap_err().to_string();
    assert!(e.starts_with("z.safetensors: layer0: expected n ≥ 1 tokens"), "{e}");
}

/// A YAML key with a line break was quoted verbatim into a two-line error.
#[test]
fn errors_quoting_input_stay_on_one_line() {
    let text = std::fs::read_to_string(root().join("tests/data/sweeps/kill_resume.yaml")).unwrap();
    let t = text.replacen("seed: 7", "seed: 7\n\"a\\nb\": 1", 1);
    let e = attnproof::sweep::spec::parse(&t, Path::new("sweeps/x.yaml")).unwrap_err().to_string();
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("a\\nb"), "{e}");
}

/// clap's missing-argument error spans several lines; the CLI prints it on one.
#[test]
fn cli_errors_are_one_line() {
    for argv in [
        vec!["attnproof", "solve"],
        vec!["attnproof", "sweep", "x.yaml", "--bogus"],
        vec!["attnproof", "solve", "f", "--tol", "abc"],
        vec!["attnproof"],
    ] {
        match attnproof::cli::parse_args(argv.clone()) {
            Err(e) => {
                assert!(e.starts_with("error:") && !e.contains('\n'), "{argv:?}: {e:?}");
            }
            Ok(attnproof::cli::Parsed::Print(_)) if argv.len() == 1 => {}
            Ok(_) => panic!("{argv:?} parsed"),
        }
    }
    let e = attnproof::cli::parse_args(["attnproof", "solve"]).unwrap_err();
    assert!(e.contains("<FILE>") && e.contains("--tol"), "{e}");
    let e = attnproof::cli::parse_args(["attnproof", "sweep", "x.yaml", "--mem-budget", "1Q"]).unwrap_err();
    assert!(e.contains("--mem-budget") && e.contains("1Q"), "{e}");
}
