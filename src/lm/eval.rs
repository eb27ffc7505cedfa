//! Note 004's criterion on the LM: replace the attention of every layer (or of chosen layers) and
//! compare the next-token distributions with the exact model's: KL(P_base ‖ P_custom) per position
//! (mean, max), perplexity of the actual next tokens, top-1 agreement.
use super::model::{self, Attention, Exact, Method, Model, OnlyLayers, Solver};
use crate::methods::{exact, keyset::KeySet, linear, performer, sparsemax};
use crate::{Error, Result};

/// Parse a method spec: `exact-f32`, `exact-f64`, `last:W` (last-W window, note 004's `last:10`),
/// `topk:K` (oracle top-K), `longformer:HALF:GLOBAL`, `performer:M` (orthogonal features),
/// `linear`, `sparsemax`, `solver:TOL`.
pub fn parse_method(spec: &str, seed: u64) -> Result<Box<dyn Attention>> {
    let bad = || {
        Error::invalid(
            "--methods",
            format!(
                "cannot parse `{spec}` (exact-f32 | exact-f64 | last:W | topk:K | longformer:HALF:GLOBAL | performer:M | linear | sparsemax | solver:TOL)"
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
    pub secs: f64,
    /// What the hook reported (the solver's plans, work and certificates).
    pub note: Option<String>,
}

/// Base log-probabilities (exact f32 attention) of `tokens`.
pub fn base(model: &Model, tokens: &[u32]) -> Result<Vec<Vec<f64>>> {
    Ok(model::log_softmax(&model.forward(tokens, &Exact, &[])?.logits, model.cfg.vocab))
}

fn argmax(x: &[f64]) -> usize {
    x.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0
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
    let lp = model::log_softmax(&model.forward(tokens, a, &[])?.logits, model.cfg.vocab);
    let kl = model::kl_per_token(lp_base, &lp);
    let n = tokens.len();
    let agree = lp_base.iter().zip(&lp).filter(|(a, b)| argmax(a) == argmax(b)).count();
    Ok(Row {
        method: attn.name(),
        layers: layers.map_or("all".into(), |l| format!("{l:?}")),
        n,
        kl_mean: kl.iter().sum::<f64>() / n as f64,
        kl_max: kl.iter().cloned().fold(0.0, f64::max),
        ppl_base: model::perplexity(lp_base, tokens),
        ppl: model::perplexity(&lp, tokens),
        top1_agree: agree as f64 / n as f64,
        secs: t0.elapsed().as_secs_f64(),
        note: a.take_note(),
    })
}

impl Row {
    pub fn header() -> String {
        format!(
            "{:<28} {:>8} {:>6} {:>11} {:>11} {:>9} {:>9} {:>7} {:>7}",
            "method", "layers", "n", "KL mean", "KL max", "ppl base", "ppl", "top1", "secs"
        )
    }
    pub fn line(&self) -> String {
        format!(
            "{:<28} {:>8} {:>6} {:>11.3e} {:>11.3e} {:>9.4} {:>9.4} {:>7.4} {:>7.1}",
            self.method,
            self.layers,
            self.n,
            self.kl_mean,
            self.kl_max,
            self.ppl_base,
            self.ppl,
            self.top1_agree,
            self.secs
        ) + &self.note.as_ref().map_or(String::new(), |n| format!("\n    {n}"))
    }
}
