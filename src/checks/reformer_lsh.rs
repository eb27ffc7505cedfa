//! Check of `reformer.lsh` (theorem file `theorems/reformer.lsh.yaml`).
//!
//! (a) Collision probability of random-rotation hashing against [`crate::theory::lsh`] for b = 2
//! and b = 4 over angles θ: Monte-Carlo collisions (fresh rotation per trial) with a two-sided
//! Clopper–Pearson interval at level 1 − δ/K (Bonferroni over K angles × bucket counts, δ = 0.01):
//! the formula must lie inside. (b) Mass captured and pairs scored by Reformer on real heads.
//! (c) Cost: pairs scored Σ|S(i)| against n for b ∝ n (bucket size 64) on Gaussian and
//! real-statistics heads; the fitted exponent decides the regime of the O(n log n) claim.
use super::Ctx;
use crate::Result;
use crate::methods::keyset::{KeySet, lsh_hash, rotations};
use crate::reference::{Head, Mask};
use crate::registry::Theorem;
use crate::theory::lsh::collision_probability;
use crate::verdict::{Finding, Report, Verdict};

const DELTA: f64 = 0.01;

/// Collisions of T independent hashes of a unit pair at angle θ in dimension d with b buckets.
pub fn collisions(d: usize, buckets: usize, theta: f64, trials: usize, seed: u64) -> u64 {
    let mut x = vec![0.0f64; d];
    let mut y = vec![0.0f64; d];
    x[0] = 1.0;
    y[0] = theta.cos();
    y[1] = theta.sin();
    (0..trials)
        .filter(|&t| {
            let r = &rotations(seed ^ (t as u64).wrapping_mul(0x9E37_79B9), d, buckets / 2, 1)[0];
            lsh_hash(&x, r, buckets / 2) == lsh_hash(&y, r, buckets / 2)
        })
        .count() as u64
}

/// Pairs scored Σ|S(i)| by Reformer with b = 2⌈n/128⌉ buckets (expected size 64), 1 hash; and b.
pub fn pairs(h: &Head<'_, f32>, seed: u64) -> Result<(f64, f64)> {
    let b = 2 * h.nq.div_ceil(128).max(1);
    let sets = KeySet::Reformer { buckets: b, hashes: 1 }.sets(h, Mask::Full, seed)?;
    Ok((sets.iter().map(|s| s.len() as f64).sum(), b as f64))
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let slope = thm.claimed_f64("collision_slope_b2")?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let trials = ctx.trials(40_000);
    let angles = [0.2, 0.6, 1.0, 1.5, 2.2, 3.0];
    let k = (angles.len() * 2) as f64;
    let conf = 1.0 - DELTA / k;
    let mut w = (0.0f64, String::from("none"), 0u64);
    let mut table = Vec::new();
    for (bi, b) in [2usize, 4].into_iter().enumerate() {
        for (ai, &th) in angles.iter().enumerate() {
            let c = collisions(16, b, th, trials, ctx.seed ^ ((bi * 16 + ai) as u64 + 1));
            let (lo, hi) = crate::stats::clopper_pearson_interval(c, trials as u64, conf);
            let p = collision_probability(b, th, slope).unwrap_or(f64::NAN);
            let out = (lo - p).max(p - hi).max(0.0);
            w.2 += 1;
            if out > w.0 || w.1 == "none" {
                w = (
                    out,
                    format!("b={b} θ={th}: {c}/{trials} collisions, interval [{lo:.4}, {hi:.4}], formula {p:.4}"),
                    w.2,
                );
            }
            table.push(format!("b={b} θ={th}: MC {:.4} formula {p:.4}", c as f64 / trials as f64));
        }
    }
    rep.notes.push(format!("collision probability (d = 16): {}", table.join("; ")));
    // (b) real heads: mass captured and pairs for 8 buckets, 1/2/4 hashes.
    let heads = ctx.real_heads()?;
    let mut notes = Vec::new();
    for h in heads.iter().take(if ctx.quick { 3 } else { heads.len() }) {
        let hv = Head::new(&h.q, &h.k, &h.v, h.n, h.d, h.dv())?;
        for hashes in [1, 2, 4] {
            let m = KeySet::Reformer { buckets: 8, hashes };
            let r = crate::methods::check::check_against_exact(&m, &hv, Mask::Full, ctx.seed)?;
            let pairs: f64 = m.sets(&hv, Mask::Full, ctx.seed)?.iter().map(|s| s.len() as f64).sum();
            notes.push(format!(
                "{} b=8 hashes={hashes}: mass {:.3}, pairs/n² {:.3}, rel. error {:.3}",
                h.label,
                r.mass_captured.unwrap_or(f64::NAN),
                pairs / (h.n * h.n) as f64,
                r.rel_frobenius
            ));
        }
    }
    rep.notes.push(format!("Reformer on real heads (full mask): {}", notes.join("; ")));
    // (c) pairs vs n with buckets ∝ n.
    // Both modes fit five sizes: with three (256–1024, quick mode until session 15) the fitted
    // exponent of one draw moved with the seed — 1.29 at the default seed, 1.56 at seed 1 on
    // real_stats L0H1, against 1.09–1.25 with five — and the quick verdict was the seed's. With
    // five sizes but one draw per size it still did (session 16: 1.528 at seed 35, above 1.5),
    // so each size now takes the mean pair count of DRAWS independent draws (data and hashes).
    const DRAWS: u64 = 8;
    let ns: Vec<usize> = vec![256, 512, 1024, 2048, 4096];
    let file = crate::data::shipped_slice().display().to_string();
    let mut slopes = Vec::new();
    for (name, spec) in [
        ("gaussian", crate::sweep::dataset::DatasetSpec::Gaussian { scale: 4.0 }),
        (
            "real_stats L0H1",
            crate::sweep::dataset::DatasetSpec::RealStats { file: file.clone(), layer: 0, head: 1, clusters: 8 },
        ),
    ] {
        let mut ps = Vec::new();
        for &n in &ns {
            let mut total = 0.0;
            for r in 0..DRAWS {
                let seed = if r == 0 { ctx.seed } else { ctx.seed ^ r.wrapping_mul(0x9E37_79B9_7F4A_7C15) };
                let s = spec.generate(n, 32, 32, seed)?;
                total += pairs(&s.head()?, seed)?.0;
            }
            ps.push(total / DRAWS as f64);
        }
        let xs: Vec<f64> = ns.iter().map(|&n| n as f64).collect();
        let fit = crate::stats::loglog_slope(&xs, &ps, 0.95).map(|f| f.slope).unwrap_or(f64::NAN);
        slopes.push((name, fit, ps));
    }
    for (name, fit, ps) in &slopes {
        rep.notes.push(format!("pairs scored vs n = {ns:?} with b = 2⌈n/128⌉ buckets, 1 hash, {name} (mean of {DRAWS} draws per size): {ps:?}, fitted exponent {fit:.2} (n log n ≈ 1.1, n² = 2)"));
    }
    let f = Finding::upper(
        format!("distance of the formula outside the {:.2}% Clopper–Pearson interval (= 0)", 100.0 * conf),
        w.1,
        w.0,
        0.0,
        w.2,
    );
    let ok = f.ok();
    rep.findings = vec![f];
    for (name, fit, _) in &slopes {
        rep.findings.push(Finding::upper(
            format!("exponent of pairs scored in n, {name} (≤ 1.5: subquadratic)"),
            format!("n = {ns:?}"),
            *fit,
            1.5,
            ns.len() as u64,
        ));
    }
    let sub: Vec<bool> = rep.findings[1..].iter().map(|f| f.ok()).collect();
    rep.verdict = if !ok {
        Verdict::Fails
    } else if sub.iter().all(|&s| s) {
        Verdict::Holds
    } else if sub.iter().any(|&s| s) {
        rep.regime = Some("collision probability as derived; subquadratic cost only on data whose keys spread over the buckets (Gaussian), not on clustered real-statistics keys without chunking".into());
        Verdict::HoldsInRegime
    } else {
        rep.regime = Some("collision probability as derived; cost quadratic on the measured data".into());
        Verdict::HoldsInRegime
    };
    Ok(rep)
}

/// Sweep measure: collision frequency at angle `theta` with `b` buckets against the formula;
/// `outside` = distance of the formula outside the two-sided Clopper–Pearson interval at level
/// 1 − δ/P, P the sweep's points (Bonferroni: the sweep's false-alarm probability is ≤ δ = 0.01).
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let slope = thm.claimed_f64("collision_slope_b2")?;
    // A pair at angle θ spans a plane (d ≥ 2); b buckets are ± the b/2 rotated axes (b even ≥ 2).
    let (b, th, d) = (p.usize_at_least("b", 2)?, p.f64("theta")?, p.usize_at_least("d", 2)?);
    if b % 2 != 0 {
        return Err(crate::Error::invalid(
            format!("point {}", p.key),
            format!("parameter `b` = {b}: expected an even number"),
        ));
    }
    let c = collisions(d, b, th, p.trials as usize, p.seed);
    let (lo, hi) = crate::stats::clopper_pearson_interval(c, p.trials, 1.0 - DELTA / p.family.max(1) as f64);
    let f = collision_probability(b, th, slope).unwrap_or(f64::NAN);
    Ok(crate::sweep::run::metrics([
        ("outside", (lo - f).max(f - hi).max(0.0)),
        ("collision_mc", c as f64 / p.trials as f64),
        ("collision_formula", f),
        ("theta", th),
    ]))
}
