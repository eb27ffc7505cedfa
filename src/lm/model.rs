//! The llama forward pass of SmolLM2-135M-Instruct in float32 with pluggable attention.
//!
//! Per layer: `h = RMSNorm(x)·g_attn`; `q = h Wqᵀ`, `k = h Wkᵀ`, `v = h Wvᵀ`; RoPE on adjacent pairs
//! `(x[2i], x[2i+1])` with θ_i = base^(−2i/d_head) (the GGUF converter permuted the rows for this
//! layout); `q ← q / √d_head` (exact: d_head = 64, a power of 4); per query head h the causal
//! attention over kv head h / (H / H_kv) — computed by the [`Attention`] hook; `x += o Woᵀ`;
//! `x += (silu(h Wgᵀ) ⊙ h Wuᵀ) Wdᵀ` with `h = RMSNorm(x)·g_ffn`. Logits `RMSNorm(x)·g_out Eᵀ` (tied
//! embeddings E). Matrix products by `gemm` (f32 accumulation), element-wise steps in f32 with f64
//! accumulation of the RMS.
use super::gguf::Gguf;
use crate::methods::{AttentionMethod, Request};
use crate::reference::{Head, Mask, fast_f32};
use crate::solver::{self, SolverOptions};
use crate::{Error, Result};
use rayon::prelude::*;
use std::path::Path;

/// Hyper-parameters read from the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub n_layer: usize,
    pub d_model: usize,
    pub n_head: usize,
    pub n_kv: usize,
    pub head_dim: usize,
    pub ffn: usize,
    pub vocab: usize,
    pub rope_base: f64,
    pub eps: f64,
}

/// Weights of one block, row-major `[out, in]` (= ggml order).
pub struct Layer {
    pub attn_norm: Vec<f32>,
    pub wq: Vec<f32>,
    pub wk: Vec<f32>,
    pub wv: Vec<f32>,
    pub wo: Vec<f32>,
    pub ffn_norm: Vec<f32>,
    pub wg: Vec<f32>,
    pub wu: Vec<f32>,
    pub wd: Vec<f32>,
}

pub struct Model {
    pub cfg: Config,
    pub layers: Vec<Layer>,
    /// Token embeddings `[vocab, d_model]`, also the output matrix.
    pub embd: Vec<f32>,
    pub out_norm: Vec<f32>,
}

/// The attention of one head, replaceable: receives the head (q post-RoPE and scaled by
/// 1/√d_head, so scores are q·k; k post-RoPE; v) and returns the causal output, `n × dv` f32.
pub trait Attention: Sync {
    fn name(&self) -> String;
    fn head(&self, layer: usize, head: usize, h: &Head<'_, f32>) -> Result<Vec<f32>>;
    /// What the hook measured since the last call (the solver's plans and work), if anything.
    fn take_note(&self) -> Option<String> {
        None
    }
    /// [`Attention::head`], also returning the attention weights the hook puts on the keys of the
    /// query rows `rows` (dense rows of length n, zero outside the causal prefix) when it defines
    /// them explicitly or implicitly (kernel methods: φ(q_i)·φ(k_j)/Σ_j φ(q_i)·φ(k_j)); `None` when
    /// it does not (see [`Attention::no_weights`]).
    fn head_with_weights(
        &self,
        layer: usize,
        head: usize,
        h: &Head<'_, f32>,
        _rows: &[usize],
    ) -> Result<(Vec<f32>, Option<Vec<Vec<f64>>>)> {
        Ok((self.head(layer, head, h)?, None))
    }
    /// Why [`Attention::head_with_weights`] gives no weights (shown instead of the probability MSE).
    fn no_weights(&self) -> String {
        "the hook returns outputs only".into()
    }
}

/// Exact causal attention: the tiled f32 kernel [`fast_f32::attention_f32`] (the default).
pub struct Exact;

impl Attention for Exact {
    fn name(&self) -> String {
        "exact-f32".into()
    }
    fn head(&self, _l: usize, _h: usize, h: &Head<'_, f32>) -> Result<Vec<f32>> {
        Ok(fast_f32::attention_f32(h, Mask::Causal))
    }
    fn no_weights(&self) -> String {
        "the tiled f32 kernel never materialises its probabilities (online softmax)".into()
    }
}

/// Any [`AttentionMethod`] under the causal mask; its seed for (layer, head) is drawn from
/// `crate::rng::stream(seed, layer·1024 + head)`.
pub struct Method {
    pub method: Box<dyn AttentionMethod>,
    pub seed: u64,
}

/// The seed of (layer, head) drawn from `crate::rng::stream(seed, layer·1024 + head)`.
pub fn head_seed(seed: u64, layer: usize, head: usize) -> u64 {
    let mut rng = crate::rng::stream(seed, (layer * 1024 + head) as u64);
    rand::Rng::next_u64(&mut rng)
}

impl Attention for Method {
    fn name(&self) -> String {
        self.method.name()
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
        let seed = head_seed(self.seed, l, hd);
        let o = self.method.forward(h, &Request::with_rows(Mask::Causal, seed, rows))?;
        Ok((o.out.iter().map(|&x| x as f32).collect(), o.weights.map(|w| w.w)))
    }
    fn no_weights(&self) -> String {
        format!("{} defines no attention weights", self.method.name())
    }
}

/// The certified solver at tolerance `tol` (every row's certificate ≤ tol in max-abs error).
pub struct Solver {
    pub tol: f64,
    pub opts: SolverOptions,
    /// (heads, heads on the tree plan, work, exact work, fallback rows, max certificate) since the last note.
    pub acc: std::sync::Mutex<(usize, usize, u64, u64, usize, f64)>,
}

impl Solver {
    pub fn new(tol: f64) -> Self {
        Solver { tol, opts: SolverOptions::default(), acc: Default::default() }
    }
}

impl Attention for Solver {
    fn name(&self) -> String {
        format!("solver(tol={:e})", self.tol)
    }
    fn head(&self, _l: usize, _h: usize, h: &Head<'_, f32>) -> Result<Vec<f32>> {
        let s = solver::solve(h, Mask::Causal, self.tol, &self.opts)?;
        if let Ok(mut a) = self.acc.lock() {
            a.0 += 1;
            a.1 += usize::from(matches!(s.plan, solver::Plan::Tree { .. }));
            a.2 += s.stats.work;
            a.3 += s.stats.exact_work;
            a.4 += s.stats.fallback_rows;
            a.5 = a.5.max(s.max_cert());
        }
        Ok(s.out.iter().map(|&x| x as f32).collect())
    }
    fn no_weights(&self) -> String {
        "the solver returns certified outputs, not probabilities".into()
    }
    fn take_note(&self) -> Option<String> {
        let mut a = self.acc.lock().ok()?;
        let (h, t, w, e, f, c) = std::mem::take(&mut *a);
        Some(format!(
            "{h} heads, {t} on the tree plan, work {:.3} of exact, {f} fallback rows, max certificate {c:.2e}",
            w as f64 / e.max(1) as f64
        ))
    }
}

/// `inner` in the listed layers only, exact elsewhere (one layer at a time).
pub struct OnlyLayers<'a> {
    pub inner: &'a dyn Attention,
    pub layers: Vec<usize>,
}

impl Attention for OnlyLayers<'_> {
    fn name(&self) -> String {
        format!("{} in layers {:?}", self.inner.name(), self.layers)
    }
    fn head(&self, l: usize, hd: usize, h: &Head<'_, f32>) -> Result<Vec<f32>> {
        if self.layers.contains(&l) { self.inner.head(l, hd, h) } else { Exact.head(l, hd, h) }
    }
    fn head_with_weights(
        &self,
        l: usize,
        hd: usize,
        h: &Head<'_, f32>,
        rows: &[usize],
    ) -> Result<(Vec<f32>, Option<Vec<Vec<f64>>>)> {
        if self.layers.contains(&l) {
            self.inner.head_with_weights(l, hd, h, rows)
        } else {
            Ok((Exact.head(l, hd, h)?, None))
        }
    }
    fn no_weights(&self) -> String {
        self.inner.no_weights()
    }
    fn take_note(&self) -> Option<String> {
        self.inner.take_note()
    }
}

/// Q (post-RoPE, scaled), K (post-RoPE), V of one layer, head-major: q `[H, n, d]`, k/v `[H_kv, n, d]`.
pub struct Captured {
    pub layer: usize,
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
}

/// Output of [`Model::forward`].
pub struct Forward {
    /// `[n, vocab]` logits.
    pub logits: Vec<f32>,
    pub captured: Vec<Captured>,
}

/// y `[n, out]` = x `[n, inp]` · Wᵀ, W `[out, inp]` row-major.
pub fn matmul_t(x: &[f32], w: &[f32], n: usize, inp: usize, out: usize) -> Vec<f32> {
    assert!(x.len() == n * inp && w.len() == out * inp);
    let mut y = vec![0f32; n * out];
    if n == 0 {
        return y;
    }
    // SAFETY: the strides describe buffers of exactly the asserted sizes.
    unsafe {
        gemm::gemm(
            n,
            out,
            inp,
            y.as_mut_ptr(),
            1,
            out as isize,
            false,
            x.as_ptr(),
            1,
            inp as isize,
            w.as_ptr(),
            inp as isize,
            1,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        );
    }
    y
}

fn rmsnorm(x: &[f32], g: &[f32], eps: f64) -> Vec<f32> {
    let d = g.len();
    let mut y = vec![0f32; x.len()];
    y.par_chunks_mut(d).zip(x.par_chunks(d)).for_each(|(yr, xr)| {
        let ms = xr.iter().map(|&a| a as f64 * a as f64).sum::<f64>() / d as f64;
        let s = (1.0 / (ms + eps).sqrt()) as f32;
        for ((o, &a), &w) in yr.iter_mut().zip(xr).zip(g) {
            *o = a * s * w;
        }
    });
    y
}

/// Rotate adjacent pairs of every head of `x` (`[n, heads·hd]`) at positions 0..n.
fn rope(x: &mut [f32], heads: usize, hd: usize, base: f64) {
    let inv: Vec<f64> = (0..hd / 2).map(|i| base.powf(-2.0 * i as f64 / hd as f64)).collect();
    x.par_chunks_mut(heads * hd).enumerate().for_each(|(p, row)| {
        let cs: Vec<(f32, f32)> = inv
            .iter()
            .map(|f| {
                let a = p as f64 * f;
                (a.cos() as f32, a.sin() as f32)
            })
            .collect();
        for h in row.chunks_mut(hd) {
            for (i, &(c, s)) in cs.iter().enumerate() {
                let (a, b) = (h[2 * i], h[2 * i + 1]);
                h[2 * i] = a * c - b * s;
                h[2 * i + 1] = a * s + b * c;
            }
        }
    });
}

/// `[n, heads·hd]` → `[heads, n, hd]`.
fn head_major(x: &[f32], n: usize, heads: usize, hd: usize) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    for t in 0..n {
        for h in 0..heads {
            y[(h * n + t) * hd..(h * n + t + 1) * hd]
                .copy_from_slice(&x[(t * heads + h) * hd..(t * heads + h + 1) * hd]);
        }
    }
    y
}

impl Model {
    /// Load and dequantise every weight of a llama GGUF.
    pub fn load(path: &Path) -> Result<(Self, Gguf)> {
        let g = Gguf::open(path)?;
        let arch = g.meta_str("general.architecture")?;
        if arch != "llama" {
            return Err(Error::tensor(path, format!("architecture `{arch}` is not supported (llama only)")));
        }
        let u = |k: &str| g.meta_u64(&format!("llama.{k}")).map(|x| x as usize);
        let d_model = u("embedding_length")?;
        let n_head = u("attention.head_count")?;
        let n_kv = u("attention.head_count_kv")?;
        if n_head == 0 || n_kv == 0 || d_model % n_head != 0 || n_head % n_kv != 0 {
            return Err(Error::tensor(
                path,
                format!("inconsistent heads: d_model {d_model}, heads {n_head}, kv heads {n_kv}"),
            ));
        }
        let head_dim = d_model / n_head;
        let embd_info = g.info("token_embd.weight")?;
        let vocab = *embd_info.dims.get(1).unwrap_or(&0);
        let cfg = Config {
            n_layer: u("block_count")?,
            d_model,
            n_head,
            n_kv,
            head_dim,
            ffn: u("feed_forward_length")?,
            vocab,
            rope_base: g.meta_f64("llama.rope.freq_base").unwrap_or(10000.0),
            eps: g.meta_f64("llama.attention.layer_norm_rms_epsilon")?,
        };
        if g.tensors.contains_key("output.weight") {
            return Err(Error::tensor(path, "an untied `output.weight` is not supported (tied embeddings only)"));
        }
        let (d, f, kv) = (cfg.d_model, cfg.ffn, cfg.n_kv * cfg.head_dim);
        let layers = (0..cfg.n_layer)
            .into_par_iter()
            .map(|i| {
                let t = |n: &str, dims: &[usize]| g.dequant(&format!("blk.{i}.{n}.weight"), dims);
                Ok(Layer {
                    attn_norm: t("attn_norm", &[d])?,
                    wq: t("attn_q", &[d, d])?,
                    wk: t("attn_k", &[d, kv])?,
                    wv: t("attn_v", &[d, kv])?,
                    wo: t("attn_output", &[d, d])?,
                    ffn_norm: t("ffn_norm", &[d])?,
                    wg: t("ffn_gate", &[d, f])?,
                    wu: t("ffn_up", &[d, f])?,
                    wd: t("ffn_down", &[f, d])?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let embd = g.dequant("token_embd.weight", &[d, vocab])?;
        let out_norm = g.dequant("output_norm.weight", &[d])?;
        Ok((Model { cfg, layers, embd, out_norm }, g))
    }

    /// Forward pass over `tokens`; `capture` lists layers whose Q/K/V to keep.
    pub fn forward(&self, tokens: &[u32], attn: &dyn Attention, capture: &[usize]) -> Result<Forward> {
        let c = &self.cfg;
        let n = tokens.len();
        if n == 0 {
            return Err(Error::invalid("tokens", "need at least one token"));
        }
        if let Some(t) = tokens.iter().find(|&&t| t as usize >= c.vocab) {
            return Err(Error::invalid("tokens", format!("token id {t} is outside the vocabulary 0..{}", c.vocab)));
        }
        if let Some(l) = capture.iter().find(|&&l| l >= c.n_layer) {
            return Err(Error::invalid("layers", format!("layer {l} is outside 0..{}", c.n_layer)));
        }
        let (d, hd, nh, nkv) = (c.d_model, c.head_dim, c.n_head, c.n_kv);
        let group = nh / nkv;
        let scale = 1.0 / (hd as f32).sqrt();
        let mut x: Vec<f32> =
            tokens.iter().flat_map(|&t| self.embd[t as usize * d..(t as usize + 1) * d].iter().copied()).collect();
        let mut captured = Vec::new();
        for (li, w) in self.layers.iter().enumerate() {
            let h = rmsnorm(&x, &w.attn_norm, c.eps);
            let mut q = matmul_t(&h, &w.wq, n, d, d);
            let mut k = matmul_t(&h, &w.wk, n, d, nkv * hd);
            let v = matmul_t(&h, &w.wv, n, d, nkv * hd);
            rope(&mut q, nh, hd, c.rope_base);
            rope(&mut k, nkv, hd, c.rope_base);
            q.iter_mut().for_each(|a| *a *= scale);
            let (qh, kh, vh) = (head_major(&q, n, nh, hd), head_major(&k, n, nkv, hd), head_major(&v, n, nkv, hd));
            let outs = (0..nh)
                .into_par_iter()
                .map(|hh| {
                    let kv = hh / group;
                    let head = Head::new(
                        &qh[hh * n * hd..(hh + 1) * n * hd],
                        &kh[kv * n * hd..(kv + 1) * n * hd],
                        &vh[kv * n * hd..(kv + 1) * n * hd],
                        n,
                        hd,
                        hd,
                    )?;
                    let o = attn.head(li, hh, &head)?;
                    if o.len() != n * hd {
                        return Err(Error::invalid(
                            "attention",
                            format!(
                                "{} returned {} values for layer {li} head {hh}, expected {}",
                                attn.name(),
                                o.len(),
                                n * hd
                            ),
                        ));
                    }
                    Ok(o)
                })
                .collect::<Result<Vec<_>>>()?;
            if capture.contains(&li) {
                captured.push(Captured { layer: li, q: qh, k: kh, v: vh });
            }
            // back to [n, H·hd]
            let mut o = vec![0f32; n * d];
            for (hh, oh) in outs.iter().enumerate() {
                for t in 0..n {
                    o[t * d + hh * hd..t * d + (hh + 1) * hd].copy_from_slice(&oh[t * hd..(t + 1) * hd]);
                }
            }
            let a = matmul_t(&o, &w.wo, n, d, d);
            x.iter_mut().zip(&a).for_each(|(xi, ai)| *xi += ai);
            let h = rmsnorm(&x, &w.ffn_norm, c.eps);
            let gt = matmul_t(&h, &w.wg, n, d, c.ffn);
            let mut up = matmul_t(&h, &w.wu, n, d, c.ffn);
            up.par_iter_mut().zip(gt.par_iter()).for_each(|(u, &g)| *u *= g / (1.0 + (-g).exp()));
            let m = matmul_t(&up, &w.wd, n, c.ffn, d);
            x.iter_mut().zip(&m).for_each(|(xi, mi)| *xi += mi);
        }
        let h = rmsnorm(&x, &self.out_norm, c.eps);
        let logits = matmul_t(&h, &self.embd, n, d, c.vocab);
        Ok(Forward { logits, captured })
    }
}

/// Per-position log-softmax of `[n, vocab]` logits, in f64.
pub fn log_softmax(logits: &[f32], vocab: usize) -> Vec<Vec<f64>> {
    logits
        .par_chunks(vocab)
        .map(|r| {
            let m = r.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
            let lse = m + r.iter().map(|&z| (z as f64 - m).exp()).sum::<f64>().ln();
            r.iter().map(|&z| z as f64 - lse).collect()
        })
        .collect()
}

/// KL(P‖Q) per position from log-probabilities.
pub fn kl_per_token(lp: &[Vec<f64>], lq: &[Vec<f64>]) -> Vec<f64> {
    lp.par_iter()
        .zip(lq.par_iter())
        .map(|(p, q)| p.iter().zip(q).map(|(a, b)| a.exp() * (a - b)).sum::<f64>().max(0.0))
        .collect()
}

/// Perplexity of the next tokens: exp(−mean_{t<n−1} log p_t(tokens[t+1])).
pub fn perplexity(lp: &[Vec<f64>], tokens: &[u32]) -> f64 {
    let n = tokens.len();
    if n < 2 {
        return f64::NAN;
    }
    let nll: f64 = (0..n - 1).map(|t| -lp[t][tokens[t + 1] as usize]).sum();
    (nll / (n - 1) as f64).exp()
}
