//! Check of `retrieval.passkey` (theorem file `theorems/retrieval.passkey.yaml`).
//!
//! A passkey task for one query: n keys k_j ~ N(0, s²/d·I) (‖k‖ ≈ s = 4, d = 32), values drawn from a
//! random codebook of 64 codes (dv = 16); at a random position p the value is the passkey code, and the
//! query is q = k_p + e, ‖e‖ ≈ 1. Euclidean attention softmax(−‖q−k‖²/τ), τ = 2, retrieves when the
//! code nearest (largest inner product) to the output is the passkey. Methods ([`METHODS`], open to
//! additions): exact, Nyström (64 uniform landmarks), JL projection of q and k to 16 dimensions.
use super::Ctx;
use crate::Result;
use crate::registry::Theorem;
use crate::stats::clopper_pearson_interval;
use crate::theory::{jl, nystrom};
use crate::verdict::{Finding, Report, Verdict};
use rand::RngExt;

pub const D: usize = 32;
pub const DV: usize = 16;
pub const CODES: usize = 64;
pub const KEY_NORM: f64 = 4.0;
pub const NOISE: f64 = 1.0;
pub const TAU: f64 = 2.0;

/// A retrieval method: (query row, keys, values, d, dv, seed) → output row.
pub type MethodFn = fn(&[f64], &[f64], &[f64], usize, usize, u64) -> Result<Vec<f64>>;

fn exact(q: &[f64], k: &[f64], v: &[f64], d: usize, dv: usize, _seed: u64) -> Result<Vec<f64>> {
    nystrom::euclid_exact(q, k, v, d, dv, TAU)
}

fn nystrom64(q: &[f64], k: &[f64], v: &[f64], d: usize, dv: usize, seed: u64) -> Result<Vec<f64>> {
    let n = k.len() / d;
    let mut rng = crate::rng::seeded(seed);
    let l = nystrom::landmarks(nystrom::Strategy::Uniform, k, d, 64.min(n), TAU, &mut rng)?;
    Ok(nystrom::attention(q, k, v, &l, d, dv, TAU).out)
}

fn jl16(q: &[f64], k: &[f64], v: &[f64], d: usize, dv: usize, seed: u64) -> Result<Vec<f64>> {
    let mut rng = crate::rng::seeded(seed);
    let r = jl::projection(jl::Kind::Gaussian, 16, d, &mut rng);
    let (pq, pk) = (jl::project(q, d, &r, 16), jl::project(k, d, &r, 16));
    nystrom::euclid_exact(&pq, &pk, v, 16, dv, TAU)
}

/// The methods compared; add a row to test another approximation.
pub const METHODS: &[(&str, MethodFn)] = &[("exact", exact), ("nystrom-64", nystrom64), ("jl-16", jl16)];

/// One trial at length n: did `method` retrieve the passkey?
pub fn trial(method: MethodFn, n: usize, seed: u64) -> Result<bool> {
    let mut rng = crate::rng::seeded(seed);
    let code: Vec<f64> = crate::data::synthetic::vector(&mut rng, CODES * DV, 1.0).iter().map(|&x| x as f64).collect();
    let k: Vec<f64> = crate::data::synthetic::vector(&mut rng, n * D, KEY_NORM / (D as f64).sqrt())
        .iter()
        .map(|&x| x as f64)
        .collect();
    let mut v = Vec::with_capacity(n * DV);
    for _ in 0..n {
        let c = rng.random_range(0..CODES);
        v.extend_from_slice(&code[c * DV..(c + 1) * DV]);
    }
    let p = rng.random_range(0..n);
    let key = rng.random_range(0..CODES);
    v[p * DV..(p + 1) * DV].copy_from_slice(&code[key * DV..(key + 1) * DV]);
    let e = crate::data::synthetic::vector(&mut rng, D, NOISE / (D as f64).sqrt());
    let q: Vec<f64> = k[p * D..(p + 1) * D].iter().zip(&e).map(|(a, b)| a + *b as f64).collect();
    let o = method(&q, &k, &v, D, DV, seed ^ 0x5EED)?;
    let best = (0..CODES)
        .max_by(|&a, &b| {
            let s = |c: usize| code[c * DV..(c + 1) * DV].iter().zip(&o).map(|(x, y)| x * y).sum::<f64>();
            s(a).total_cmp(&s(b))
        })
        .unwrap_or(0);
    Ok(best == key && o.iter().all(|x| x.is_finite()))
}

/// Successes out of `trials` at length n.
pub fn rate(method: MethodFn, n: usize, trials: usize, seed: u64) -> Result<u64> {
    let mut s = 0;
    for t in 0..trials {
        s += trial(method, n, seed ^ (t as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n as u64)? as u64;
    }
    Ok(s)
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let rel = thm.claimed_f64("min_relative_rate")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let ns: &[usize] = if ctx.quick { &[256, 16384] } else { &[256, 1024, 4096, 16384, 32768] };
    let trials = if ctx.quick { 30 } else { 100 };
    let mut exact_rates = Vec::new();
    let mut lines = Vec::new();
    for &n in ns {
        let s = rate(METHODS[0].1, n, trials, ctx.seed)?;
        exact_rates.push(s as f64 / trials as f64);
        let (lo, hi) = clopper_pearson_interval(s, trials as u64, 0.95);
        lines.push(format!("exact n={n}: {s}/{trials} [{lo:.2}, {hi:.2}]"));
    }
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for &(name, f) in &METHODS[1..] {
        let mut worst = (f64::INFINITY, String::new());
        for (i, &n) in ns.iter().enumerate() {
            let s = rate(f, n, trials, ctx.seed)?;
            let r = s as f64 / trials as f64;
            let (lo, hi) = clopper_pearson_interval(s, trials as u64, 0.95);
            lines.push(format!("{name} n={n}: {s}/{trials} [{lo:.2}, {hi:.2}]"));
            let relr = if exact_rates[i] > 0.0 { r / exact_rates[i] } else { f64::NAN };
            if relr < worst.0 || relr.is_nan() {
                worst = (
                    relr,
                    format!("n = {n}: {name} {s}/{trials} vs exact {:.0}/{trials}", exact_rates[i] * trials as f64),
                );
            }
        }
        let f = Finding::lower(
            format!("{name}: retrieval rate / exact rate (worst n) vs min_relative_rate"),
            worst.1.clone(),
            worst.0,
            rel,
            (ns.len() * trials) as u64,
        );
        if f.ok() {
            ok.push(name)
        } else {
            bad.push(name)
        }
        rep.findings.push(f);
    }
    rep.notes.push(format!("retrieval successes with 95% Clopper–Pearson intervals: {}", lines.join("; ")));
    rep.notes.push(format!("task: d = {D}, dv = {DV}, {CODES} codes, ‖k‖ ≈ {KEY_NORM}, ‖q − k_p‖ ≈ {NOISE}, τ = {TAU}; one query per trial (only the needle row is computed)"));
    rep.verdict = if bad.is_empty() {
        Verdict::Holds
    } else if ok.is_empty() {
        Verdict::Fails
    } else {
        rep.regime = Some(format!("holds for {}; fails for {}", ok.join(", "), bad.join(", ")));
        Verdict::HoldsInRegime
    };
    Ok(rep)
}

/// Sweep measure: successes of method index `method` (see [`METHODS`]) over `trials` at length n.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let _ = thm.claimed_f64("min_relative_rate")?;
    let mi = p.usize("method")?;
    let (_, f) = METHODS.get(mi).ok_or_else(|| {
        crate::Error::invalid(format!("point {}", p.key), format!("method {mi} outside 0..{}", METHODS.len()))
    })?;
    let n = p.usize_at_least("n", 1)?;
    if n == 0 {
        return Err(crate::Error::invalid(format!("point {}", p.key), "n must be ≥ 1"));
    }
    let s = rate(*f, n, p.trials as usize, p.seed)?;
    Ok(crate::sweep::run::metrics([
        ("successes", s as f64),
        ("trials", p.trials as f64),
        ("rate", s as f64 / p.trials as f64),
        ("n", n as f64),
    ]))
}
