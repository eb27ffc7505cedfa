//! Note 004's criterion on the LM: replace the attention of every layer (or of chosen layers) and
//! compare the next-token distributions with the exact model's: KL(P_base ‖ P_custom) per position
//! (mean, max), perplexity of the actual next tokens, top-1 agreement; per replaced head the
//! attention-probability MSE against the exact softmax of the same inputs, and the peak memory of
//! one head's attention call measured by the counting allocator ([`crate::alloc_count`]).
//!
//! **Probability MSE.** For every replaced head (its q, k, v as the modified model feeds them), on
//! the rows of [`crate::methods::check::sample_rows`] (all rows up to 256, else 256 evenly spaced):
//! mean over rows × all n keys of (P_ij − W_ij)², P the exact causal softmax in f64
//! ([`crate::methods::exact::probs_row`]), W the method's weights (zero outside its support and
//! outside the causal prefix, as P); kernel methods (Performer) give their implied normalised weights
//! φ(q_i)·φ(k_j)/Σ_j φ(q_i)·φ(k_j). Reported: mean and max over heads. Hooks that return outputs
//! only (the f32 kernel, the solver) report "n/a" with the reason.
//!
//! **Peak memory.** One head (head 0 of the first replaced layer, on the inputs the modified model
//! gave it) is run again alone on a one-thread rayon pool inside
//! [`crate::alloc_count::peak_during`]: the peak of the bytes allocated during the call above the level
//! at its start (outputs included, inputs excluded), for the method and for the exact f32 kernel on
//! the same head. `None` when the counting allocator is not the global allocator (the library's unit
//! tests); the `attnproof` binary installs it.
use super::model::{self, Attention, Exact, Method, Model, OnlyLayers, Solver};
use crate::methods::{exact, keyset::KeySet, linear, performer, sparsemax};
use crate::reference::{Head, Mask};
use crate::theory::mask::{HeadData, MaskModel, TrainOpts};
use crate::{Error, Result};
use rayon::prelude::*;
use std::sync::Mutex;

/// Parse a method spec: `exact-f32`, `exact-f64`, `last:W` (last-W window, note 004's `last:10`),
/// `topk:K` (oracle top-K), `longformer:HALF:GLOBAL`, `performer:M` (orthogonal features),
/// `linear`, `sparsemax`, `solver:TOL`. (`learned:B`, the learned mask, needs a training text:
/// [`train_learned`].)
pub fn parse_method(spec: &str, seed: u64) -> Result<Box<dyn Attention>> {
    let bad = || {
        Error::invalid(
            "--methods",
            format!(
                "cannot parse `{spec}` (exact-f32 | exact-f64 | last:W | topk:K | longformer:HALF:GLOBAL | performer:M | linear | sparsemax | solver:TOL | learned:B with --train-text)"
            ),
        )
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let int =
        |i: usize| -> Result<usize> { parts.get(i).and_then(|s| s.parse().ok()).filter(|&x| x > 0).ok_or_else(bad) };
    let m =
        |b: Box<dyn crate::methods::AttentionMethod>| -> Box<dyn Attention> { Box::new(Method { method: b, seed }) };
    Ok(match (parts[0], parts.len()) {
        ("exact-f32", 1) => Box::new(Exact),
        ("exact-f64", 1) => m(Box::new(exact::ExactF64)),
        ("last", 2) => m(Box::new(KeySet::LastWindow { w: int(1)? })),
        ("topk", 2) => m(Box::new(KeySet::TopK { k: int(1)? })),
        ("longformer", 3) => {
            m(Box::new(KeySet::Longformer { half_window: int(1)?, global: parts[2].parse().map_err(|_| bad())? }))
        }
        ("performer", 2) => m(Box::new(performer::Performer { features: int(1)?, orthogonal: true })),
        ("linear", 1) => m(Box::new(linear::LinearElu)),
        ("sparsemax", 1) => m(Box::new(sparsemax::Sparsemax)),
        ("solver", 2) => {
            let tol: f64 = parts[1].parse().map_err(|_| bad())?;
            if !(tol > 0.0 && tol.is_finite()) {
                return Err(bad());
            }
            Box::new(Solver::new(tol))
        }
        _ => return Err(bad()),
    })
}

/// One method's figures against the exact model.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub method: String,
    pub layers: String,
    pub n: usize,
    pub kl_mean: f64,
    pub kl_max: f64,
    pub ppl_base: f64,
    pub ppl: f64,
    pub top1_agree: f64,
    /// Attention-probability MSE, mean over the replaced heads (see the module doc).
    pub prob_mse: Option<f64>,
    /// The same, worst head.
    pub prob_mse_max: Option<f64>,
    /// Why `prob_mse` is `None`.
    pub prob_mse_na: Option<String>,
    /// Peak bytes allocated during one head's attention call by the method, and by the exact f32
    /// kernel on the same head (see the module doc); `None` without the counting allocator.
    pub peak_bytes: Option<u64>,
    pub peak_exact_bytes: Option<u64>,
    /// Which head the peak was measured on.
    pub peak_head: String,
    pub secs: f64,
    /// What the hook reported (the solver's plans, work and certificates; the learned mask's training).
    pub note: Option<String>,
}

/// Base log-probabilities (exact f32 attention) of `tokens`.
pub fn base(model: &Model, tokens: &[u32]) -> Result<Vec<Vec<f64>>> {
    Ok(model::log_softmax(&model.forward(tokens, &Exact, &[])?.logits, model.cfg.vocab))
}

fn argmax(x: &[f64]) -> usize {
    x.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0
}

/// Wraps the attention of a forward pass: per replaced head, the probability MSE on the sampled rows;
/// keeps a copy of the inputs of one head (`keep`: layer, head) for the memory measurement.
struct Probe<'a> {
    inner: &'a dyn Attention,
    keep: (usize, usize),
    mse: Mutex<Vec<f64>>,
    kept: Mutex<Option<(Vec<f32>, Vec<f32>, Vec<f32>, usize, usize, usize)>>,
}

impl Attention for Probe<'_> {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn head(&self, l: usize, hd: usize, h: &Head<'_, f32>) -> Result<Vec<f32>> {
        let rows = crate::methods::check::sample_rows(Mask::Causal, h.nq);
        let (o, w) = self.inner.head_with_weights(l, hd, h, &rows)?;
        if let Some(w) = w {
            let mse = prob_mse(h, &rows, &w)?;
            self.mse.lock().map_err(|_| Error::invalid("lm-eval", "poisoned lock"))?.push(mse);
        }
        if (l, hd) == self.keep {
            *self.kept.lock().map_err(|_| Error::invalid("lm-eval", "poisoned lock"))? =
                Some((h.q.to_vec(), h.k.to_vec(), h.v.to_vec(), h.nq, h.d, h.dv));
        }
        Ok(o)
    }
    fn take_note(&self) -> Option<String> {
        self.inner.take_note()
    }
}

/// Mean over `rows` × all keys of (P_ij − W_ij)², P the exact causal softmax of `h` in f64.
pub fn prob_mse(h: &Head<'_, f32>, rows: &[usize], w: &[Vec<f64>]) -> Result<f64> {
    if w.len() != rows.len() || w.iter().any(|r| r.len() != h.nk) {
        return Err(Error::invalid("attention weights", format!("expected {} rows of {} keys", rows.len(), h.nk)));
    }
    let se: f64 = rows
        .par_iter()
        .zip(w.par_iter())
        .map(|(&i, wr)| {
            exact::probs_row(h, Mask::Causal, i).iter().zip(wr).map(|(a, b)| (a - b) * (a - b)).sum::<f64>()
        })
        .sum();
    Ok(se / (rows.len() * h.nk).max(1) as f64)
}

/// Peak bytes allocated during `attn.head(layer, head, h)` on a one-thread rayon pool (so that every
/// allocation of the call happens on the measured thread); `None` without the counting allocator.
pub fn peak_bytes(attn: &dyn Attention, layer: usize, head: usize, h: &Head<'_, f32>) -> Result<Option<u64>> {
    match crate::alloc_count::peak_on_one_thread(|| {}, || attn.head(layer, head, h))? {
        None => Ok(None),
        Some((r, b)) => r.map(|_| Some(b as u64)),
    }
}

/// Compare `attn` (in `layers`, all when `None`) with the base.
pub fn compare(
    model: &Model,
    tokens: &[u32],
    lp_base: &[Vec<f64>],
    attn: &dyn Attention,
    layers: Option<&[usize]>,
) -> Result<Row> {
    let t0 = std::time::Instant::now();
    let only;
    let a: &dyn Attention = match layers {
        Some(ls) => {
            only = OnlyLayers { inner: attn, layers: ls.to_vec() };
            &only
        }
        None => attn,
    };
    let keep = (layers.and_then(|l| l.first().copied()).unwrap_or(0), 0);
    let probe = Probe { inner: a, keep, mse: Mutex::new(Vec::new()), kept: Mutex::new(None) };
    let lp = model::log_softmax(&model.forward(tokens, &probe, &[])?.logits, model.cfg.vocab);
    let note = a.take_note();
    let kl = model::kl_per_token(lp_base, &lp);
    let n = tokens.len();
    let agree = lp_base.iter().zip(&lp).filter(|(a, b)| argmax(a) == argmax(b)).count();
    let mse = probe.mse.into_inner().map_err(|_| Error::invalid("lm-eval", "poisoned lock"))?;
    let (prob_mse, prob_mse_max, prob_mse_na) = if mse.is_empty() {
        (None, None, Some(a.no_weights()))
    } else {
        (Some(mse.iter().sum::<f64>() / mse.len() as f64), Some(mse.iter().cloned().fold(0.0, f64::max)), None)
    };
    let secs = t0.elapsed().as_secs_f64();
    let kept = probe.kept.into_inner().map_err(|_| Error::invalid("lm-eval", "poisoned lock"))?;
    let (mut peak, mut peak_exact) = (None, None);
    if let Some((q, k, v, nq, d, dv)) = &kept {
        let h = Head::new(q, k, v, *nq, *d, *dv)?;
        peak = peak_bytes(a, keep.0, keep.1, &h)?;
        peak_exact = peak_bytes(&Exact, keep.0, keep.1, &h)?;
        let _ = a.take_note(); // the measurement's own call is not part of the forward's note
    }
    Ok(Row {
        method: attn.name(),
        layers: layers.map_or("all".into(), |l| format!("{l:?}")),
        n,
        kl_mean: kl.iter().sum::<f64>() / n as f64,
        kl_max: kl.iter().cloned().fold(0.0, f64::max),
        ppl_base: model::perplexity(lp_base, tokens),
        ppl: model::perplexity(&lp, tokens),
        top1_agree: agree as f64 / n as f64,
        prob_mse,
        prob_mse_max,
        prob_mse_na,
        peak_bytes: peak,
        peak_exact_bytes: peak_exact,
        peak_head: format!("layer {} head {}", keep.0, keep.1),
        secs,
        note,
    })
}

/// The learned mask of `mask.learned` ([`crate::theory::mask`]) in every head: per (layer, head) a
/// relative-offset table and content vector trained on another text; row i keeps the `budget` keys
/// j ≤ i of highest learned score (all keys when i < budget) and takes the softmax over them.
pub struct Learned {
    pub budget: usize,
    pub opts: TrainOpts,
    pub n_head: usize,
    /// `models[layer · n_head + head]`.
    pub models: Vec<MaskModel>,
    /// Where and how it was trained (for the report).
    pub trained: String,
}

impl Learned {
    fn sets(&self, l: usize, hd: usize, h: &Head<'_, f32>) -> Result<Vec<Vec<usize>>> {
        let m = self
            .models
            .get(l * self.n_head + hd)
            .ok_or_else(|| Error::invalid("learned mask", format!("no trained model for layer {l} head {hd}")))?;
        // Only k is read by the mask rule (content scores u·k_j/rms‖k‖); q and v are not needed.
        let data = HeadData {
            label: String::new(),
            n: h.nk,
            d: h.d,
            dv: h.dv,
            q: Vec::new(),
            k: crate::reference::widen(h.k),
            v: Vec::new(),
        };
        let uk = m.content(&data);
        Ok((0..h.nq)
            .map(|i| {
                let mut s = m.keep(&data, i, self.budget, &uk);
                s.sort_unstable();
                // `keep` truncates a buffer of all i + 1 keys: without this every kept set would
                // retain i + 1 slots (quadratic memory over the head).
                s.shrink_to_fit();
                s
            })
            .collect())
    }
}

impl Attention for Learned {
    fn name(&self) -> String {
        let o = &self.opts;
        format!(
            "learned-mask(B={},{}x{},lr={},{})",
            self.budget,
            o.steps,
            o.batch,
            o.lr,
            if o.content { "content" } else { "offsets" }
        )
    }
    fn head(&self, l: usize, hd: usize, h: &Head<'_, f32>) -> Result<Vec<f32>> {
        Ok(self.head_with_weights(l, hd, h, &[])?.0)
    }
    fn head_with_weights(
        &self,
        l: usize,
        hd: usize,
        h: &Head<'_, f32>,
        rows: &[usize],
    ) -> Result<(Vec<f32>, Option<Vec<Vec<f64>>>)> {
        if h.nq != h.nk {
            return Err(Error::invalid("learned mask", "needs a causal self-attention head (nq = nk)"));
        }
        let sets = self.sets(l, hd, h)?;
        let o = crate::methods::keyset::forward_sets(
            h,
            &crate::methods::Request::with_rows(Mask::Causal, 0, rows),
            &sets,
            Default::default(),
        )?;
        Ok((o.out.iter().map(|&x| x as f32).collect(), o.weights.map(|w| w.w)))
    }
    fn take_note(&self) -> Option<String> {
        Some(self.trained.clone())
    }
}

/// Parse `learned:B[:STEPS:LR[:content|offsets]]` into the budget and training options (default:
/// 100 steps of 16 rows, lr 0.05, content term on, the relaxed kept-mass objective of
/// `mask.learned`; the per-head seed is derived from `seed` in [`train_learned`]).
pub fn parse_learned(spec: &str, seed: u64) -> Result<(usize, TrainOpts)> {
    let bad = || {
        Error::invalid("--methods", format!("cannot parse `{spec}` (learned:B[:STEPS:LR[:content|offsets]], B ≥ 1)"))
    };
    let p: Vec<&str> = spec.split(':').collect();
    if p[0] != "learned" || !(p.len() == 2 || p.len() == 4 || p.len() == 5) {
        return Err(bad());
    }
    let b: usize = p[1].parse().ok().filter(|&b| b > 0).ok_or_else(bad)?;
    let mut o = TrainOpts { steps: 100, batch: 16, lr: 0.05, seed, content: true, kept_mass: true };
    if p.len() >= 4 {
        o.steps = p[2].parse().ok().filter(|&s| s > 0).ok_or_else(bad)?;
        o.lr = p[3].parse().ok().filter(|&x: &f64| x > 0.0 && x.is_finite()).ok_or_else(bad)?;
    }
    if p.len() == 5 {
        o.content = match p[4] {
            "content" => true,
            "offsets" => false,
            _ => return Err(bad()),
        };
    }
    Ok((b, o))
}

/// Train the learned mask of budget `budget` on every head of the exact model run on `tokens`
/// (all rows; the relaxed kept-mass objective). `what` names the training text for the report.
pub fn train_learned(model: &Model, tokens: &[u32], budget: usize, opts: TrainOpts, what: &str) -> Result<Learned> {
    if budget == 0 {
        return Err(Error::invalid("--methods", "learned:B needs B ≥ 1"));
    }
    let t0 = std::time::Instant::now();
    let c = &model.cfg;
    let all: Vec<usize> = (0..c.n_layer).collect();
    let fw = model.forward(tokens, &Exact, &all)?;
    let (n, d, nh, group) = (tokens.len(), c.head_dim, c.n_head, c.n_head / c.n_kv);
    let rows: Vec<usize> = (0..n).collect();
    let jobs: Vec<(usize, usize)> = (0..c.n_layer).flat_map(|l| (0..nh).map(move |h| (l, h))).collect();
    let trained: Vec<(MaskModel, f64, f64)> = jobs
        .par_iter()
        .map(|&(l, h)| {
            let cap = &fw.captured[l];
            let g = h / group;
            let sl = |x: &[f32], i: usize| crate::reference::widen(&x[i * n * d..(i + 1) * n * d]);
            let data = HeadData {
                label: format!("L{l}H{h}"),
                n,
                d,
                dv: d,
                q: sl(&cap.q, h),
                k: sl(&cap.k, g),
                v: sl(&cap.v, g),
            };
            crate::theory::mask::train(
                &data,
                &rows,
                budget,
                TrainOpts { seed: model::head_seed(opts.seed, l, h), ..opts },
            )
        })
        .collect();
    let (l0, l1) = trained.iter().fold((0.0, 0.0), |a, t| (a.0 + t.1, a.1 + t.2));
    let k = trained.len().max(1) as f64;
    Ok(Learned {
        budget,
        opts,
        n_head: nh,
        trained: format!(
            "trained on {what} ({n} tokens, {} heads, {} steps × {} rows, lr {}, {}; mean relaxed loss −log M {:.4} → {:.4}; {:.0} s)",
            trained.len(),
            opts.steps,
            opts.batch,
            opts.lr,
            if opts.content { "offsets + content" } else { "offsets only" },
            l0 / k,
            l1 / k,
            t0.elapsed().as_secs_f64()
        ),
        models: trained.into_iter().map(|t| t.0).collect(),
    })
}

impl Row {
    pub fn header() -> String {
        format!(
            "{:<28} {:>8} {:>6} {:>11} {:>11} {:>9} {:>9} {:>7} {:>10} {:>10} {:>10} {:>10} {:>7}",
            "method",
            "layers",
            "n",
            "KL mean",
            "KL max",
            "ppl base",
            "ppl",
            "top1",
            "MSE mean",
            "MSE max",
            "peak MiB",
            "exact MiB",
            "secs"
        )
    }
    pub fn line(&self) -> String {
        let e = |x: Option<f64>| x.map_or("n/a".to_string(), |v| format!("{v:.3e}"));
        let mib = |x: Option<u64>| x.map_or("n/a".to_string(), |v| format!("{:.3}", v as f64 / 1048576.0));
        let mut s = format!(
            "{:<28} {:>8} {:>6} {:>11.3e} {:>11.3e} {:>9.4} {:>9.4} {:>7.4} {:>10} {:>10} {:>10} {:>10} {:>7.1}",
            self.method,
            self.layers,
            self.n,
            self.kl_mean,
            self.kl_max,
            self.ppl_base,
            self.ppl,
            self.top1_agree,
            e(self.prob_mse),
            e(self.prob_mse_max),
            mib(self.peak_bytes),
            mib(self.peak_exact_bytes),
            self.secs
        );
        if let Some(r) = &self.prob_mse_na {
            s += &format!("\n    MSE n/a: {r}");
        }
        if let Some(n) = &self.note {
            s += &format!("\n    {n}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic;

    fn head(n: usize) -> synthetic::SynthHead {
        synthetic::gaussian(&mut crate::rng::seeded(3), n, 16, 16, 3.0)
    }

    #[test]
    fn prob_mse_is_zero_for_the_exact_weights_and_positive_for_a_window() {
        let s = head(96);
        let h = s.head().unwrap();
        let rows = crate::methods::check::sample_rows(Mask::Causal, h.nq);
        let exact = Method { method: Box::new(exact::ExactF64), seed: 1 };
        let (_, w) = exact.head_with_weights(0, 0, &h, &rows).unwrap();
        assert_eq!(prob_mse(&h, &rows, &w.unwrap()).unwrap(), 0.0);
        let last = Method { method: Box::new(KeySet::LastWindow { w: 4 }), seed: 1 };
        let (_, w) = last.head_with_weights(0, 0, &h, &rows).unwrap();
        let m = prob_mse(&h, &rows, &w.unwrap()).unwrap();
        assert!(m > 0.0 && m < 1.0, "{m}");
        // Wrong shapes are an error, not a panic.
        assert!(prob_mse(&h, &rows, &[vec![0.0; 3]]).is_err());
        // Output-only hooks give no weights and say why.
        let (_, w) = Exact.head_with_weights(0, 0, &h, &rows).unwrap();
        assert!(w.is_none() && !Exact.no_weights().is_empty());
    }

    #[test]
    fn the_untrained_learned_mask_is_the_last_budget_window() {
        // MaskModel::init is the recency prior: w decreasing in the offset, u = 0, so the kept set is
        // the last `budget` keys; the hook must then equal the last-window method exactly.
        let s = head(80);
        let h = s.head().unwrap();
        let l = Learned {
            budget: 8,
            opts: TrainOpts { steps: 1, batch: 1, lr: 0.1, seed: 0, content: true, kept_mass: true },
            n_head: 1,
            models: vec![MaskModel::init(16)],
            trained: String::new(),
        };
        let rows = [0usize, 5, 40, 79];
        let (a, wa) = l.head_with_weights(0, 0, &h, &rows).unwrap();
        let (b, wb) = Method { method: Box::new(KeySet::LastWindow { w: 8 }), seed: 0 }
            .head_with_weights(0, 0, &h, &rows)
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(wa, wb);
        // A model missing for the layer is a one-line error.
        assert!(l.head(1, 0, &h).unwrap_err().to_string().contains("no trained model for layer 1"));
    }

    #[test]
    fn learned_specs_parse_and_bad_ones_are_errors() {
        let (b, o) = parse_learned("learned:32", 9).unwrap();
        assert_eq!((b, o.steps, o.content, o.seed), (32, 100, true, 9));
        let (b, o) = parse_learned("learned:16:300:0.01:offsets", 9).unwrap();
        assert_eq!((b, o.steps, o.lr, o.content), (16, 300, 0.01, false));
        for bad in ["learned", "learned:0", "learned:8:10", "learned:8:0:0.1", "learned:8:10:-1", "learned:8:10:0.1:x"]
        {
            let e = parse_learned(bad, 1).unwrap_err().to_string();
            assert!(e.starts_with("--methods:") && e.lines().count() == 1, "{bad}: {e}");
        }
        assert!(parse_method("learned:8", 1).is_err());
    }

    #[test]
    fn peak_bytes_is_none_without_the_counting_allocator() {
        // The library's unit tests do not install alloc_count::Counting.
        let s = head(32);
        let h = s.head().unwrap();
        assert_eq!(peak_bytes(&Exact, 0, 0, &h).unwrap(), None);
    }

    #[test]
    fn a_row_round_trips_into_the_criteria_page_row() {
        let r = Row {
            method: "m".into(),
            layers: "all".into(),
            n: 8,
            kl_mean: 0.5,
            kl_max: 1.0,
            ppl_base: 2.0,
            ppl: 3.0,
            top1_agree: 0.75,
            prob_mse: None,
            prob_mse_max: None,
            prob_mse_na: Some("why".into()),
            peak_bytes: Some(1024),
            peak_exact_bytes: Some(512),
            peak_head: "layer 0 head 0".into(),
            secs: 1.0,
            note: None,
        };
        let line = serde_json::to_string(&r).unwrap();
        let back: crate::docs::criteria::LmRow = serde_json::from_str(&line).unwrap();
        assert_eq!((back.n, back.peak_bytes, back.prob_mse_na.as_deref()), (8, Some(1024), Some("why")));
    }
}
