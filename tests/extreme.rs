//! Extreme values through every attention path: the float64 and float32 exact references, the
//! certified solver (both plans, causal and strict prefix) and every method of `methods::zoo`, on
//! ‖k‖ = 1e3, scores up to 1e4, subnormal inputs, n = 1, d = 1, duplicate keys, constant and zero
//! values. Each path must return finite outputs or a one-line error (no panic, no inf/NaN); the
//! solver's certificate must bound its true error (against float64) on every row; NaN and Inf
//! inputs must be rejected with a one-line error by every Result-returning entry point.
use attnproof::methods::{self, Request};
use attnproof::reference::fast_f32::attention_f32;
use attnproof::reference::{Head, Mask, attention_f64, widen};
use attnproof::solver::{Force, SolverOptions, solve};
use std::path::Path;

struct Case {
    label: &'static str,
    n: usize,
    d: usize,
    dv: usize,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
}

fn wave(len: usize, seed: u32) -> Vec<f32> {
    (0..len).map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) as f32 / u32::MAX as f32) * 2.0 - 1.0).collect()
}

fn normalize_rows(x: &mut [f32], d: usize, norm: f32) {
    for r in x.chunks_mut(d) {
        let s = r.iter().map(|v| v * v).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
        for v in r.iter_mut() {
            *v *= norm / s;
        }
    }
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let (n, d, dv) = (96, 16, 8);
    // ‖k‖ = 1e3 with ‖q‖ = 1: scores up to 1e3.
    let mut k = wave(n * d, 1);
    normalize_rows(&mut k, d, 1e3);
    let mut q = wave(n * d, 2);
    normalize_rows(&mut q, d, 1.0);
    out.push(Case { label: "norm_k_1e3", n, d, dv, q, k: k.clone(), v: wave(n * dv, 3) });
    // Scores up to 1e4: ‖q‖ = 10, ‖k‖ = 1e3, queries aligned with keys.
    let mut q = k.clone();
    normalize_rows(&mut q, d, 10.0);
    out.push(Case { label: "scores_1e4", n, d, dv, q, k: k.clone(), v: wave(n * dv, 4) });
    // Subnormal q, k and v.
    let sub = |x: Vec<f32>| x.into_iter().map(|v| v * 1e-40).collect::<Vec<f32>>();
    out.push(Case {
        label: "subnormal",
        n,
        d,
        dv,
        q: sub(wave(n * d, 5)),
        k: sub(wave(n * d, 6)),
        v: sub(wave(n * dv, 7)),
    });
    // n = 1 and d = 1.
    out.push(Case { label: "n1", n: 1, d, dv, q: wave(d, 8), k: wave(d, 9), v: wave(dv, 10) });
    out.push(Case { label: "n1_d1", n: 1, d: 1, dv: 1, q: vec![3.0], k: vec![-2.0], v: vec![0.5] });
    let mut q1: Vec<f32> = wave(n, 11).iter().map(|x| x * 100.0).collect();
    q1[0] = 100.0;
    out.push(Case {
        label: "d1_scores_1e4",
        n,
        d: 1,
        dv: 1,
        q: q1,
        k: wave(n, 12).iter().map(|x| x * 100.0).collect(),
        v: wave(n, 13),
    });
    // Duplicate keys (every key the same), constant values, zero values.
    let k1 = wave(d, 14);
    let dup: Vec<f32> = (0..n).flat_map(|_| k1.iter().map(|x| x * 30.0)).collect();
    out.push(Case { label: "duplicate_keys", n, d, dv, q: wave(n * d, 15), k: dup, v: wave(n * dv, 16) });
    out.push(Case {
        label: "constant_values",
        n,
        d,
        dv,
        q: wave(n * d, 17),
        k: wave(n * d, 18),
        v: vec![3.25; n * dv],
    });
    out.push(Case { label: "zero_values", n, d, dv, q: wave(n * d, 19), k: wave(n * d, 20), v: vec![0.0; n * dv] });
    out.push(Case { label: "all_zero", n, d, dv, q: vec![0.0; n * d], k: vec![0.0; n * d], v: vec![0.0; n * dv] });
    out
}

fn one_line(e: &attnproof::Error) {
    let s = e.to_string();
    assert!(!s.contains('\n') && !s.is_empty(), "multi-line error: {s:?}");
}

fn finite(label: &str, what: &str, x: impl IntoIterator<Item = f64>) {
    for (i, v) in x.into_iter().enumerate() {
        assert!(v.is_finite(), "{label}: {what}: non-finite output {v} at {i}");
    }
}

#[test]
fn every_path_is_finite_or_refuses_on_extreme_inputs() {
    let mut lines = Vec::new();
    let (mut runs, mut refusals) = (0, 0);
    for c in cases() {
        let h = Head::new(&c.q, &c.k, &c.v, c.n, c.d, c.dv).unwrap();
        let (qw, kw, vw) = (widen(&c.q), widen(&c.k), widen(&c.v));
        let hw = Head { q: &qw, k: &kw, v: &vw, nq: c.n, nk: c.n, d: c.d, dv: c.dv };
        let vmax = attnproof::theory::fp::max_abs_f64(&c.v);
        for mask in [Mask::Full, Mask::Causal, Mask::StrictPrefix] {
            let exact = attention_f64(&hw, mask);
            finite(c.label, "attention_f64", exact.out.iter().copied());
            let o32 = attention_f32(&h, mask);
            finite(c.label, "attention_f32", o32.iter().map(|&x| x as f64));
            runs += 2;
            // f32 against f64: within the kernel's a-priori rounding bound, element by element
            // (theorem reference.f32_rounding; the f64 oracle's own error allowed as 1e-12·max|v|).
            let (o32s, rs) = attnproof::reference::fast_f32::attention_f32_with_stats(&h, mask, Default::default());
            assert_eq!(o32s, o32, "{}: stats variant differs", c.label);
            let eb = attnproof::theory::rounding::bounds_from_stats(&h, mask, &rs);
            for (i, ((a, b), bound)) in o32.iter().zip(&exact.out).zip(&eb).enumerate() {
                let err = (*a as f64 - b).abs();
                assert!(
                    err <= bound + 1e-12 * vmax,
                    "{}: f32 vs f64 error {err:e} > rounding bound {bound:e} at {i} ({mask:?})",
                    c.label
                );
            }
            if mask != Mask::Full {
                let tol = (1e-3 * vmax).max(1e-30);
                for force in [None, Some(Force::Tree), Some(Force::Exact)] {
                    let opts = SolverOptions { force, band: 16, ..Default::default() };
                    runs += 1;
                    match solve(&h, mask, tol, &opts) {
                        Ok(s) => {
                            finite(c.label, "solver", s.out.iter().copied());
                            for r in 0..s.cert.len() {
                                let e = (0..c.dv)
                                    .map(|j| (s.out[r * c.dv + j] - exact.out[r * c.dv + j]).abs())
                                    .fold(0.0, f64::max);
                                // The float64 oracle's own error is ~1e-16 relative; allow 1e-12·max|v|.
                                assert!(
                                    e <= s.cert[r] + 1e-12 * vmax,
                                    "{}: solver {force:?} {mask:?} row {r}: true error {e:e} > certificate {:e}",
                                    c.label,
                                    s.cert[r]
                                );
                                assert!(s.cert[r] <= tol);
                            }
                        }
                        Err(e) => {
                            one_line(&e);
                            refusals += 1;
                            lines.push(format!("{} solver {force:?} {mask:?}: {e}", c.label));
                        }
                    }
                }
            }
            for m in methods::zoo(c.n, c.d) {
                runs += 1;
                let rows: Vec<usize> = (0..c.n.min(3)).collect();
                match m.forward(&h, &Request::with_rows(mask, 7, &rows)) {
                    Ok(o) => {
                        finite(c.label, &m.name(), o.out.iter().copied());
                        if let Some(w) = &o.weights {
                            finite(c.label, &format!("{} weights", m.name()), w.w.iter().flatten().copied());
                        }
                    }
                    Err(e) => {
                        one_line(&e);
                        refusals += 1;
                        if mask != Mask::StrictPrefix {
                            lines.push(format!("{} {} {mask:?}: {e}", c.label, m.name()));
                        }
                    }
                }
            }
        }
    }
    for l in &lines {
        println!("refused: {l}");
    }
    let line = format!(
        "| extreme values ({} cases × 3 masks: exact f64, exact f32, solver ×3 plans, {} methods) | {runs} runs, all outputs finite, solver certificate ≥ true error on every row; {refusals} one-line refusals (strict-prefix mask on methods that support full/causal only{}) | `cargo test --release --test extreme` |",
        cases().len(),
        methods::zoo(8, 4).len(),
        if lines.is_empty() { String::new() } else { format!("; others: {}", lines.len()) }
    );
    println!("{line}");
    if let Ok(d) = std::env::var("ATTNPROOF_RELIABILITY_DIR") {
        let _ = std::fs::create_dir_all(&d);
        let _ = std::fs::write(Path::new(&d).join("extreme.md"), format!("{line}\n"));
    }
}

#[test]
fn nan_and_inf_inputs_are_rejected_with_one_line_errors() {
    let (n, d, dv) = (8, 4, 3);
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        for which in 0..3 {
            let (mut q, mut k, mut v) = (wave(n * d, 1), wave(n * d, 2), wave(n * dv, 3));
            match which {
                0 => q[5] = bad,
                1 => k[7] = bad,
                _ => v[2] = bad,
            }
            let e = Head::new(&q, &k, &v, n, d, dv).unwrap_err();
            one_line(&e);
            assert!(e.to_string().contains("non-finite"), "{e}");
            // An unchecked head reaches the solver and the methods: they check it themselves.
            let h = Head { q: &q, k: &k, v: &v, nq: n, nk: n, d, dv };
            let e = solve(&h, Mask::Causal, 1e-3, &SolverOptions::default()).unwrap_err();
            one_line(&e);
            for m in methods::zoo(n, d) {
                match m.forward(&h, &Request::new(Mask::Causal, 1)) {
                    Ok(_) => panic!("{} accepted a non-finite input ({bad} in input {which})", m.name()),
                    Err(e) => one_line(&e),
                }
            }
        }
    }
    // Finite inputs whose scores overflow are refused too.
    let (q, k, v) = (vec![1e20f32; n * d], vec![1e20f32; n * d], wave(n * dv, 3));
    let e = Head::new(&q, &k, &v, n, d, dv).unwrap_err();
    assert!(e.to_string().contains("scores may overflow"), "{e}");
}
