//! The command line: bad input is a one-line error and a non-zero exit, never a panic.
use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_attnproof")).args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn list_and_show() {
    let (code, out, _) = run(&["list"]);
    assert_eq!(code, 0);
    assert!(out.contains("dist.decomposition") && out.contains("rewrite.gaussian"));
    let (code, out, _) = run(&["show", "dist.rank"]);
    assert_eq!(code, 0);
    assert!(out.contains("rank_excess") && out.contains("src/checks/dist_rank.rs"));
}

#[test]
fn unknown_theorem_and_missing_file_are_one_line_errors() {
    let (code, _, err) = run(&["show", "no.such"]);
    assert_eq!(code, 2);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("no theorem `no.such`"));
    let (code, _, err) = run(&["verify", "--quick", "no.such"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&["check-reference", "/nonexistent/x.safetensors"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/x.safetensors") && err.trim().lines().count() == 1, "{err}");
    let (code, _, err) = run(&["bench", "exact", "--n", "abc"]);
    assert_eq!(code, 2, "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn check_reference_on_the_shipped_slice() {
    let p = attnproof::data::shipped_slice();
    let (code, out, err) = run(&["check-reference", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("layer") && out.contains("max |f64 − stored|"));
}
