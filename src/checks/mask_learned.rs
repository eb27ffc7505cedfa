//! Check of `mask.learned` (theorem file `theorems/mask.learned.yaml`): a sparse causal mask learned
//! per head by minimising the relaxed KL(P_base‖P_masked) ([`crate::theory::mask::train`]) on training
//! rows (or the first data file), evaluated as a hard top-budget mask on held-out rows (or the second
//! file) against the oracle top-budget set (the most mass any mask of that size can keep) and the fixed
//! last-budget window.
use super::Ctx;
use crate::Result;
use crate::registry::Theorem;
use crate::theory::mask::{Eval, HeadData, TrainOpts, evaluate, train, window};
use crate::theory::topk::top_k;
use crate::verdict::{Finding, Report, Verdict, Worst};

/// One (train head, eval head, train rows, eval rows) task.
pub struct Task {
    pub train: HeadData,
    pub eval: HeadData,
    pub train_rows: Vec<usize>,
    pub eval_rows: Vec<usize>,
}

fn strided(lo: usize, hi: usize, max: usize) -> Vec<usize> {
    let step = ((hi - lo) / max.max(1)).max(1);
    (lo..hi).step_by(step).take(max).collect()
}

/// Tasks: with two or more data files, train on the first file's heads and evaluate on the same
/// (layer, head) of the second; otherwise train on rows [0, n/2) and evaluate on rows [n/2, n).
pub fn tasks(ctx: &Ctx, max_heads: usize, eval_rows: usize) -> Result<(Vec<Task>, String)> {
    let heads = ctx.real_heads()?;
    let stem = |l: &str| l.split(':').next().unwrap_or("").to_string();
    let mut stems: Vec<String> = heads.iter().map(|h| stem(&h.label)).collect();
    stems.dedup();
    let mut out = Vec::new();
    if stems.len() >= 2 {
        for h in heads.iter().filter(|h| stem(&h.label) == stems[0]).take(max_heads) {
            if let Some(e) = heads.iter().find(|e| stem(&e.label) == stems[1] && e.layer == h.layer && e.head == h.head)
            {
                out.push(Task {
                    train: HeadData::from_real(h),
                    eval: HeadData::from_real(e),
                    train_rows: (0..h.n).collect(),
                    eval_rows: strided(0, e.n, eval_rows),
                });
            }
        }
        Ok((out, format!("trained on {}, evaluated on {} (same layer and head)", stems[0], stems[1])))
    } else {
        for h in heads.iter().take(max_heads) {
            let n = h.n;
            out.push(Task {
                train: HeadData::from_real(h),
                eval: HeadData::from_real(h),
                train_rows: (0..n / 2).collect(),
                eval_rows: strided(n / 2, n, eval_rows),
            });
        }
        Ok((out, "trained on rows [0, n/2), evaluated on held-out rows [n/2, n) of each head".into()))
    }
}

/// Learned, oracle and window evaluations of one task at one budget.
pub fn run_task(t: &Task, budget: usize, opts: TrainOpts) -> (Eval, Eval, Eval, f64, f64) {
    let (model, l0, l1) = train(&t.train, &t.train_rows, budget, opts);
    let uk = model.content(&t.eval);
    let learned = evaluate(&t.eval, &t.eval_rows, |i, _| model.keep(&t.eval, i, budget, &uk));
    let oracle = evaluate(&t.eval, &t.eval_rows, |_, p| top_k(p, budget));
    let win = evaluate(&t.eval, &t.eval_rows, |i, _| window(i, budget));
    (learned, oracle, win, l0, l1)
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let klmax = thm.claimed_f64("kl_max")?;
    let msemax = thm.claimed_f64("mse_max")?;
    let budgets = thm.claimed_list("budgets")?;
    if budgets.is_empty() || budgets.iter().any(|b| !(*b >= 1.0 && b.fract() == 0.0)) {
        return Err(crate::Error::Registry(format!(
            "theorems/{}.yaml: claimed.budgets must be positive integers",
            thm.id
        )));
    }
    let budgets: Vec<usize> = if ctx.quick {
        budgets.iter().map(|&b| b as usize).filter(|b| [4, 16, 64].contains(b)).collect()
    } else {
        budgets.iter().map(|&b| b as usize).collect()
    };
    let opts = if ctx.quick {
        TrainOpts { steps: 40, batch: 16, lr: 0.05, seed: ctx.seed, content: true, kept_mass: true }
    } else {
        TrainOpts { steps: 150, batch: 32, lr: 0.05, seed: ctx.seed, content: true, kept_mass: true }
    };
    let (tasks, split) = tasks(ctx, if ctx.quick { 3 } else { 64 }, if ctx.quick { 64 } else { 256 })?;
    if tasks.is_empty() {
        return Err(crate::Error::Registry("mask.learned: no (train, eval) head pairs in the data".into()));
    }
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut sanity = Worst::new("oracle top-budget KL − learned KL (oracle keeps the most mass: must be ≤ 0)");
    let mut first_ok: Option<usize> = None;
    for &b in &budgets {
        let (mut lk, mut ok_, mut wk) = (Vec::new(), Vec::new(), Vec::new());
        let (mut lm, mut om, mut wm) = (0.0f64, 0.0f64, 0.0f64);
        let (mut lo, mut oo, mut wo) = (0.0, 0.0, 0.0);
        let (mut worst_kl, mut beats_window) = (0.0f64, 0usize);
        let mut loss = (0.0, 0.0);
        for t in &tasks {
            let (l, o, w, l0, l1) = run_task(t, b, opts);
            sanity.push(o.kl_mean - l.kl_mean, 1e-12 * (1.0 + l.kl_mean), || format!("{} budget {b}", t.eval.label));
            worst_kl = worst_kl.max(l.kl_mean);
            lm = lm.max(l.mse);
            om = om.max(o.mse);
            wm = wm.max(w.mse);
            lk.push(l.kl_mean);
            ok_.push(o.kl_mean);
            wk.push(w.kl_mean);
            lo += l.out_rel;
            oo += o.out_rel;
            wo += w.out_rel;
            if l.kl_mean < w.kl_mean {
                beats_window += 1;
            }
            loss.0 += l0;
            loss.1 += l1;
        }
        let nt = tasks.len() as f64;
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let mx = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
        rep.notes.push(format!(
            "budget {b}: mean KL(P̂‖P) learned {:.4} (worst head {:.4}) | oracle top-{b} {:.4} ({:.4}) | window {:.4} ({:.4}); worst-head MSE learned {:.2e} | oracle {:.2e} | window {:.2e}; mean ‖ô−o‖/‖o‖ learned {:.3} | oracle {:.3} | window {:.3}; learned beats the window on {beats_window}/{} heads; relaxed training loss {:.4} → {:.4}",
            mean(&lk), mx(&lk), mean(&ok_), mx(&ok_), mean(&wk), mx(&wk), lm, om, wm, lo / nt, oo / nt, wo / nt, tasks.len(), loss.0 / nt, loss.1 / nt
        ));
        let met = worst_kl <= klmax && lm <= msemax;
        rep.findings.push(Finding::upper(
            format!("worst-head mean KL of the learned mask, budget {b}"),
            format!("criterion kl_max = {klmax}; MSE {lm:.2e} vs {msemax}"),
            worst_kl,
            klmax,
            tasks.len() as u64,
        ));
        if met && first_ok.is_none() {
            first_ok = Some(b);
        }
    }
    let san = sanity.finish();
    let sane = san.ok();
    rep.findings.insert(0, san);
    rep.notes.push(format!("{split}; {} heads; KL(P_base‖P_masked) = +∞ for every hard mask that drops mass, so the relaxation (gates σ(s − θ)) is trained and −log m is evaluated; data: {}", tasks.len(), ctx.data_label()));
    let n = tasks[0].eval.n;
    match (sane, first_ok) {
        (false, _) => rep.verdict = Verdict::Fails,
        (true, Some(b)) => {
            rep.verdict = Verdict::HoldsInRegime;
            rep.regime = Some(format!(
                "budget ≥ {b} of n = {n} keys per query (the smallest budget tried at which the learned mask meets KL ≤ {klmax} and MSE ≤ {msemax} on every held-out head)"
            ));
        }
        (true, None) => {
            rep.verdict = Verdict::Fails;
            rep.regime =
                Some(format!("no budget in {budgets:?} meets KL ≤ {klmax} and MSE ≤ {msemax} on every held-out head"));
        }
    }
    Ok(rep)
}

/// Sweep measure: one real head (dataset), budget b: learned (trained on rows [0, n/2)), oracle and
/// window on rows [n/2, n).
pub fn measure(p: &crate::sweep::Point, _thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let b = p.usize("budget")?;
    let n = p.usize_or_at_least("n", 512, 1)?;
    if b == 0 || n < 4 {
        return Err(crate::Error::invalid(format!("point {}", p.key), "budget ≥ 1 and n ≥ 4 required"));
    }
    let g = p.dataset.generate(n, p.usize_or_at_least("d", 32, 1)?, 32, p.seed)?;
    let w64 = |x: &[f32]| x.iter().map(|&a| a as f64).collect::<Vec<f64>>();
    let mk = || HeadData { label: p.key.clone(), n: g.n, d: g.d, dv: g.dv, q: w64(&g.q), k: w64(&g.k), v: w64(&g.v) };
    let t = Task { train: mk(), eval: mk(), train_rows: (0..g.n / 2).collect(), eval_rows: strided(g.n / 2, g.n, 128) };
    let steps = p.trials.clamp(1, 1000) as usize;
    let (l, o, w, _, _) =
        run_task(&t, b, TrainOpts { steps, batch: 16, lr: 0.1, seed: p.seed, content: true, kept_mass: true });
    Ok(crate::sweep::run::metrics([
        ("kl_learned", l.kl_mean),
        ("kl_oracle", o.kl_mean),
        ("kl_window", w.kl_mean),
        ("mse_learned", l.mse),
        ("mse_oracle", o.mse),
        ("mse_window", w.mse),
        ("oracle_over_learned", if l.kl_mean > 0.0 { o.kl_mean / l.kl_mean } else { 1.0 }),
    ]))
}
