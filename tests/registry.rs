//! The registry's own guarantees: strict schema with located errors, one check per file and one
//! file per check, and claimed quantities that the checks actually read (a false claim fails).
use attnproof::checks::{self, CHECKS, Ctx};
use attnproof::registry::{self, parse_str};
use attnproof::verdict::Verdict;
use std::path::Path;

/// The false-claim test runs `memory.linear`, which needs the counting allocator.
#[global_allocator]
static ALLOC: attnproof::alloc_count::Counting = attnproof::alloc_count::Counting;

fn theorem_text(id: &str) -> String {
    std::fs::read_to_string(registry::theorems_dir().join(format!("{id}.yaml"))).unwrap()
}

#[test]
fn every_theorem_file_has_a_check_and_every_check_a_file() {
    let thms = registry::load_all(&registry::theorems_dir()).unwrap();
    let ids: Vec<&str> = thms.iter().map(|t| t.id.as_str()).collect();
    for t in &thms {
        assert!(checks::find(&t.id).is_some(), "theorems/{}.yaml has no check in src/checks/mod.rs", t.id);
        let module = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("src/checks/{}.rs", t.snake()));
        assert!(module.exists(), "theorem {} has no module {}", t.id, module.display());
    }
    for (id, _) in CHECKS {
        assert!(ids.contains(id), "check `{id}` has no theorem file theorems/{id}.yaml");
    }
}

#[test]
fn unknown_field_is_an_error_with_file_line_and_column() {
    let text = theorem_text("dist.rank").replacen("kind: identity", "kind: identity\nconfidence: 0.99", 1);
    let e = parse_str(&text, Path::new("theorems/dist.rank.yaml")).unwrap_err().to_string();
    assert!(e.starts_with("theorems/dist.rank.yaml:"), "{e}");
    assert!(e.contains("unknown field `confidence`"), "{e}");
    let line = text.lines().position(|l| l.starts_with("confidence:")).unwrap() + 1;
    assert!(e.contains(&format!(":{line}:")), "error should name line {line}: {e}");
    assert_eq!(e.lines().count(), 1, "one-line error: {e}");
}

#[test]
fn missing_field_wrong_type_and_bad_verdict_are_errors() {
    let base = theorem_text("dist.rank");
    let no_kind: String = base.lines().filter(|l| !l.starts_with("kind:")).collect::<Vec<_>>().join("\n");
    let e = parse_str(&no_kind, Path::new("theorems/dist.rank.yaml")).unwrap_err().to_string();
    assert!(e.contains("missing field `kind`"), "{e}");
    let wrong = base.replacen("value: 2", "value: two", 1);
    let e = parse_str(&wrong, Path::new("theorems/dist.rank.yaml")).unwrap_err().to_string();
    assert!(e.contains("dist.rank.yaml:") && e.contains("claimed"), "{e}");
    let verdict = base.replacen("verdict: holds", "verdict: mostly", 1);
    let e = parse_str(&verdict, Path::new("theorems/dist.rank.yaml")).unwrap_err().to_string();
    assert!(e.contains("unknown variant `mostly`"), "{e}");
    let id = base.replacen("id: dist.rank", "id: dist.rnk", 1);
    let e = parse_str(&id, Path::new("theorems/dist.rank.yaml")).unwrap_err().to_string();
    assert!(e.contains("does not match the file name"), "{e}");
}

#[test]
fn invalid_theorem_files_are_rejected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid-theorems");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        let e = registry::load_file(&p).expect_err(&format!("{} should be rejected", p.display()));
        assert!(e.to_string().contains(p.file_name().unwrap().to_str().unwrap()), "{e}");
        n += 1;
    }
    assert!(n >= 3);
}

/// Editing a claimed constant to a false value must turn the verdict into `fails`.
#[test]
fn a_false_claimed_constant_makes_the_check_fail() {
    let ctx = Ctx::new(true, 7, Vec::new());
    let cases = [
        ("dist.decomposition", "value: -2", "value: -1"),
        ("dist.rank", "value: 2", "value: 1"),
        ("euclid.as_dot", "value: 2", "value: 1"),
        ("rewrite.gaussian", "value: 13.3", "value: 20"),
        ("rewrite.gaussian", "value: 25", "value: 40"),
        ("prefix.problem", "value: 1", "value: 0"),
        ("softmax.invariance", "value: -1", "value: 1"),
        ("reference.f32_rounding", "value: 1.5", "value: 0.25"),
        ("split.sign", "value: 1", "value: 0.5"),
        ("split.scale_classes", "value: 2\n    meaning: \"classes", "value: 1\n    meaning: \"classes"),
        ("split.scale_classes", "value: 0.5", "value: 0.25"),
        ("merge.centroid", "value: 0.125", "value: 0.1"),
        ("merge.drift", "value: 1", "value: 0.9"),
        ("taylor.slow", "value: 2\n", "value: -20\n"),
        ("taylor.slow", "value: 7.389", "value: 2"),
        ("eikonal.gradient", "value: 1", "value: 0.5"),
        // [E2] notes 002-004
        ("topk.error", "value: -1", "value: -2"),
        ("topk.error", "value: 1\n", "value: 0.5\n"),
        ("memory.table", "4295.0", "4000.0"),
        ("memory.table", "[16.0, 32.0, 64.0]", "[16.0, 32.0, 32.0]"),
        // --- note 000 (issue B) ---
        ("ivww.sampling", "value: 4", "value: 0.5"),
        ("ivww.reads", "value: 6", "value: 1"),
        ("ivww.bound", "value: 4", "value: 0.25"),
        ("jl.distances", "value: 4", "value: 0.5"),
        ("nystrom.sqrt_n", "value: 0.1", "value: 0.001"),
        ("nystrom.error_rank", "value: 0\n", "value: -5\n"),
        ("nystrom.landmarks", "value: 1", "value: 0.1"),
        ("nystrom.attention", "value: 0.1", "value: 0.0001"),
        ("euclid.locality", "value: 1", "value: 0.01"),
        ("retrieval.passkey", "value: 0.9", "value: 2"),
        ("memory.linear", "value: 1", "value: 0"),
        ("speed.crossover", "value: 1000", "value: 10"),
        ("ivww.sampling", "value: 3\n", "value: 2\n"),
        ("solver.certificate", "value: 1.0", "value: 0.0"),
        ("solver.complexity", "value: 0.25", "value: -0.5"),
        ("solver.complexity", "value: 0.9", "value: 1.5"),
        ("solver.complexity", "value: 0.85", "value: 1.5"),
        ("solver.complexity", "value: 2\n", "value: 1.05\n"),
        ("solver.feasibility", "value: 0.9", "value: 1.2"),
        ("solver.feasibility", "value: 0.85", "value: 1.5"),
        ("solver.feasibility", "value: 3\n", "value: 40\n"),
        ("solver.feasibility", "value: 0.333", "value: 0.99"),
        // --- notes 002-004 ---
        ("linear.recurrence", "value: 0", "value: 1"),
        ("performer.unbiased", "value: 1", "value: 2"),
        ("longformer.window", "value: 1", "value: 2"),
        ("longformer.window", "value: 2", "value: 1"),
        ("sparse.patterns", "value: 1", "value: 0.5"),
        ("reformer.lsh", "value: 1", "value: 0.8"),
        ("linformer.lowrank", "value: 4", "value: 0.4"),
        ("criteria.matrix", "value: 0.3", "value: 1.0"),
    ];
    for (id, from, to) in cases {
        let text = theorem_text(id);
        assert!(text.contains(from), "{id}: `{from}` not found");
        let thm = parse_str(&text.replacen(from, to, 1), Path::new(&format!("{id}.yaml"))).unwrap();
        let r = checks::find(id).unwrap()(&thm, &ctx).unwrap();
        assert_eq!(r.verdict, Verdict::Fails, "{id} with `{to}` should fail, got {:?}", r.findings);
    }
}

/// [E2] For claims recorded as `fails`, the check must read the claimed figures: replacing them by the
/// values the measurement supports must turn the verdict away from `fails`.
#[test]
fn correcting_a_refuted_claim_changes_the_verdict() {
    let ctx = Ctx::new(true, 7, Vec::new());
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("flops.table", &[("10737.4]", "17179.9]"), ("15.24]", "24.38]")]),
        ("flops.count", &[("value: 2\n", "value: 4\n")]),
        ("topk.crossover", &[("value: 256", "value: 627")]),
        ("topk.order", &[("value: 0\n", "value: 2\n"), ("value: 16384", "value: 1.0e12")]),
        ("window.last10", &[("value: 0.001", "value: 10"), ("value: 0.0001", "value: 0.01")]),
        ("mask.learned", &[("value: 0.001", "value: 10"), ("value: 0.0001", "value: 0.01")]),
    ];
    for (id, edits) in cases {
        let mut text = theorem_text(id);
        for (from, to) in edits.iter() {
            assert!(text.contains(from), "{id}: `{from}` not found");
            text = text.replacen(from, to, 1);
        }
        let thm = parse_str(&text, Path::new(&format!("{id}.yaml"))).unwrap();
        let r = checks::find(id).unwrap()(&thm, &ctx).unwrap();
        assert_ne!(r.verdict, Verdict::Fails, "{id} with corrected claims should not fail: {:?}", r.findings);
        // and the recorded (uncorrected) file does fail
        let orig = parse_str(&theorem_text(id), Path::new(&format!("{id}.yaml"))).unwrap();
        assert_eq!(checks::find(id).unwrap()(&orig, &ctx).unwrap().verdict, Verdict::Fails, "{id}");
    }
}
