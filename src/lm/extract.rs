//! `attnproof extract`: Q (post-RoPE, scaled by 1/√d_head), K, V of chosen layers of SmolLM2 on a
//! token sequence, in the MiniLM / SmolLM2 layout of [`crate::data`], plus the exact float64
//! causal outputs `layer{L}.out_causal` `[H, n, d]` (by [`crate::reference::attention_f64`]) and
//! `tokens` (i64), so that `attnproof check-reference` accepts the file.
use super::model::{Exact, Model};
use super::tokenizer::Tokenizer;
use crate::reference::{Head, Mask, attention_f64, widen};
use crate::tensor::{Data, Tensor, safetensors_io};
use crate::{Error, Result};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Token ids of a text file (the tokenizer of the GGUF), or of the `tokens` tensor of a safetensors
/// file; the first `n`, an error when there are fewer.
pub fn tokens_for(text: Option<&Path>, tokens_from: Option<&Path>, tok: &Tokenizer, n: usize) -> Result<Vec<u32>> {
    let all: Vec<u32> = match (text, tokens_from) {
        (Some(p), None) => {
            let s = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
            tok.encode(&s)
        }
        (None, Some(p)) => {
            let t = safetensors_io::load(p)?
                .into_iter()
                .find(|t| t.name == "tokens")
                .ok_or_else(|| Error::tensor(p, "no `tokens` tensor"))?;
            match &t.data {
                Data::I64(v) => v
                    .iter()
                    .map(|&x| {
                        u32::try_from(x)
                            .ok()
                            .filter(|&u| (u as usize) < tok.vocab_size())
                            .ok_or_else(|| Error::tensor(p, format!("token id {x} is outside the vocabulary")))
                    })
                    .collect::<Result<_>>()?,
                _ => return Err(Error::tensor(p, "`tokens` must be i64")),
            }
        }
        _ => return Err(Error::invalid("input", "give exactly one of --text FILE and --tokens-from FILE")),
    };
    if n == 0 || all.len() < n {
        return Err(Error::invalid("--n", format!("asked for {n} tokens, the input has {}", all.len())));
    }
    Ok(all[..n].to_vec())
}

/// Run the model on `tokens`, write the layers' Q/K/V, exact f64 causal outputs and the tokens.
pub fn extract(
    model: &Model,
    tokens: &[u32],
    layers: &[usize],
    out: &Path,
    provenance: &BTreeMap<String, String>,
) -> Result<()> {
    if layers.is_empty() {
        return Err(Error::invalid("--layers", "list at least one layer"));
    }
    let c = &model.cfg;
    let fw = model.forward(tokens, &Exact, layers)?;
    let (n, hd, nh, nkv) = (tokens.len(), c.head_dim, c.n_head, c.n_kv);
    let group = nh / nkv;
    let mut ts = Vec::new();
    for cap in &fw.captured {
        let (kw, vw) = (widen(&cap.k), widen(&cap.v));
        let qw = widen(&cap.q);
        let outs = (0..nh)
            .into_par_iter()
            .map(|h| {
                let g = h / group;
                let s = |x: &[f64], i: usize| x[i * n * hd..(i + 1) * n * hd].to_vec();
                let (q, k, v) = (s(&qw, h), s(&kw, g), s(&vw, g));
                let head = Head::new(&q, &k, &v, n, hd, hd)?;
                Ok(attention_f64(&head, Mask::Causal).out)
            })
            .collect::<Result<Vec<_>>>()?;
        let l = cap.layer;
        ts.push(Tensor::f32(&format!("layer{l}.q"), vec![nh, n, hd], cap.q.clone()));
        ts.push(Tensor::f32(&format!("layer{l}.k"), vec![nkv, n, hd], cap.k.clone()));
        ts.push(Tensor::f32(&format!("layer{l}.v"), vec![nkv, n, hd], cap.v.clone()));
        ts.push(Tensor::f64(&format!("layer{l}.out_causal"), vec![nh, n, hd], outs.concat()));
    }
    ts.push(Tensor {
        name: "tokens".into(),
        shape: vec![n],
        data: Data::I64(tokens.iter().map(|&t| t as i64).collect()),
    });
    safetensors_io::save(out, &ts, provenance)
}
