//! Check of `memory.linear` (theorem file `theorems/memory.linear.yaml`).
//!
//! Peak heap bytes allocated while computing attention of an n-token f32 head (d = dv = 32), measured
//! with the counting allocator [`crate::alloc_count`] (installed by the `attnproof` binary and the test
//! binaries, never by the library), at n = N, 2N, 3N, 4N. Allocation sizes are exact integers, so the
//! growth law is identified exactly: second differences p(3N) − 2p(2N) + p(N) and p(4N) − 2p(3N) + p(2N)
//! both 0 ⇒ affine in n (degree 1); equal and non-zero ⇒ quadratic (degree 2).
use super::Ctx;
use crate::Result;
use crate::reference::{Head, Mask};
use crate::registry::Theorem;
use crate::stats::loglog_slope;
use crate::theory::{jl, nystrom};
use crate::verdict::{Finding, Report, Verdict};

/// Standard attention with the n×n score matrix materialised (as in a plain `softmax(QKᵀ)V`).
pub fn materialised_f32(h: &Head<'_, f32>) -> Vec<f32> {
    let (n, m) = (h.nq, h.nk);
    let mut s = vec![0f32; n * m];
    for i in 0..n {
        for j in 0..m {
            s[i * m + j] = h.q_row(i).iter().zip(h.k_row(j)).map(|(a, b)| a * b).sum();
        }
        let row = &mut s[i * m..(i + 1) * m];
        let mx = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut z = 0f32;
        for x in row.iter_mut() {
            *x = (*x - mx).exp();
            z += *x;
        }
        row.iter_mut().for_each(|x| *x /= z);
    }
    let mut out = vec![0f32; n * h.dv];
    for i in 0..n {
        for j in 0..m {
            let w = s[i * m + j];
            for (o, v) in out[i * h.dv..(i + 1) * h.dv].iter_mut().zip(h.v_row(j)) {
                *o += w * v;
            }
        }
    }
    out
}

/// The methods measured: name and a function of (head, landmarks (64×d), JL matrix (16×d)).
pub type Method = fn(&Head<'_, f32>, &[f32], &[f32]) -> Vec<f32>;
pub const METHODS: &[(&str, Method)] = &[
    ("materialised exact", |h, _, _| materialised_f32(h)),
    ("streaming exact (reference::fast_f32)", |h, _, _| {
        crate::reference::fast_f32::attention_f32_sequential(h, Mask::Full)
    }),
    ("nystrom-64", |h, l, _| nystrom::attention_f32(h, l, 2.0)),
    ("jl-16", |h, _, r| jl::projected_attention_f32(h, r, 16).unwrap_or_default()),
];

/// Peak bytes of method `m` at length n (head data and parameters allocated outside the measurement).
pub fn peak(m: Method, n: usize, seed: u64) -> Result<usize> {
    let (d, dv) = (32, 32);
    let mut rng = crate::rng::seeded(seed);
    let s = crate::data::synthetic::gaussian(&mut rng, n, d, dv, 1.0);
    let l: Vec<f32> = s.k[..64.min(n) * d].to_vec();
    let r: Vec<f32> = jl::projection(jl::Kind::Gaussian, 16, d, &mut rng).iter().map(|&x| x as f32).collect();
    let h = Head::new(&s.q, &s.k, &s.v, n, d, dv)?;
    // On a one-thread pool (all of the call's allocations on the measured thread, whatever thread
    // the check runs on), after a warm-up call there: one-time lazy state (the GEMM library's
    // per-thread workspace, CPU-feature detection) is allocated outside the measured call.
    let (_, bytes) = crate::alloc_count::peak_on_one_thread(|| drop(m(&h, &l, &r)), || m(&h, &l, &r))?.ok_or_else(|| {
        crate::Error::invalid("memory.linear", "the counting allocator is not installed in this binary (install attnproof::alloc_count::Counting as #[global_allocator])")
    })?;
    Ok(bytes)
}

/// (degree, peaks) of a method over n = N, 2N, 3N, 4N.
pub fn degree(m: Method, base: usize, seed: u64) -> Result<(f64, Vec<usize>)> {
    let p: Vec<usize> = (1..=4).map(|t| peak(m, base * t, seed)).collect::<Result<_>>()?;
    let pi: Vec<i128> = p.iter().map(|&x| x as i128).collect();
    let d1 = pi[2] - 2 * pi[1] + pi[0];
    let d2 = pi[3] - 2 * pi[2] + pi[1];
    let deg = if d1 == 0 && d2 == 0 {
        1.0
    } else if d1 == d2 {
        2.0
    } else {
        3.0
    };
    Ok((deg, p))
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let ae = thm.claimed_f64("approx_exponent")?;
    let ee = thm.claimed_f64("exact_exponent")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let base = if ctx.quick { 512 } else { 2048 };
    let mut streaming = None;
    for (i, &(name, m)) in METHODS.iter().enumerate() {
        let (deg, p) = degree(m, base, ctx.seed)?;
        let xs: Vec<f64> = (1..=4).map(|t| (base * t) as f64).collect();
        let ys: Vec<f64> = p.iter().map(|&x| x as f64).collect();
        let slope = loglog_slope(&xs, &ys, 0.95).map(|f| f.slope).unwrap_or(f64::NAN);
        let case = format!(
            "peak bytes at n = {}, {}, {}, {}: {:?}; log-log slope {slope:.3}",
            base,
            2 * base,
            3 * base,
            4 * base,
            p
        );
        rep.notes.push(format!("{name}: degree {deg}, {case}"));
        match i {
            0 => rep.findings.push(Finding::lower(
                format!("{name}: exact polynomial degree of peak memory in n vs exact_exponent"),
                case,
                deg,
                ee,
                4,
            )),
            1 => streaming = Some((deg, p)),
            _ => rep.findings.push(Finding::upper(
                format!("{name}: exact polynomial degree of peak memory in n vs approx_exponent"),
                case,
                deg,
                ae,
                4,
            )),
        }
    }
    rep.notes.push("allocations counted per thread by attnproof::alloc_count::Counting; inputs (q, k, v, landmarks, projection) are allocated before the measurement; outputs are included".into());
    let mut rep = rep.conclude_all();
    if let (Verdict::Holds, Some((deg, p))) = (rep.verdict, streaming) {
        if deg <= ae {
            rep.verdict = Verdict::HoldsInRegime;
            rep.regime = Some(format!(
                "against attention that materialises the n×n score matrix; a streaming exact kernel (reference::fast_f32) is linear as well (degree {deg}, {} → {} bytes from n = {base} to {})",
                p[0],
                p[3],
                4 * base
            ));
        }
    }
    Ok(rep)
}

/// Sweep measure: peak bytes of method index `method` (see [`METHODS`]) at length n.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let _ = thm.claimed_f64("approx_exponent")?;
    let mi = p.usize("method")?;
    let (_, m) = METHODS.get(mi).ok_or_else(|| {
        crate::Error::invalid(format!("point {}", p.key), format!("method {mi} outside 0..{}", METHODS.len()))
    })?;
    let n = p.usize_at_least("n", 1)?;
    if n < 64 {
        return Err(crate::Error::invalid(format!("point {}", p.key), "n must be ≥ 64 (64 landmarks)"));
    }
    let b = peak(*m, n, p.seed)?;
    Ok(crate::sweep::run::metrics([
        ("peak_bytes", b as f64),
        ("bytes_per_token", b as f64 / n as f64),
        ("n", n as f64),
    ]))
}
