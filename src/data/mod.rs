//! Real attention heads from safetensors files in the MiniLM / SmolLM2 layout:
//! `layer{L}.q` `[H, n, d]` (already scaled, scores are q·k), `layer{L}.k`, `layer{L}.v`
//! `[H_kv, n, d]` (query head h uses kv head h / (H / H_kv)), optional float64
//! `layer{L}.out_full` / `layer{L}.out_causal` `[H, n, d]`.
pub mod synthetic;

use crate::tensor::{Tensor, safetensors_io};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One real head: inputs in f32 as stored, exact outputs in f64 when the file has them.
#[derive(Debug, Clone)]
pub struct RealHead {
    /// `file:layerL.headH`.
    pub label: String,
    pub layer: usize,
    pub head: usize,
    pub n: usize,
    pub d: usize,
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    pub out_full: Option<Vec<f64>>,
    pub out_causal: Option<Vec<f64>>,
}

/// The slice of real MiniLM data shipped with the repository (see `tests/data/README.md`).
pub fn shipped_slice() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/minilm_slice.safetensors")
}

/// Layers present in a set of tensors (those with a `layer{L}.q`).
pub fn layers(tensors: &BTreeMap<String, Tensor>) -> Vec<usize> {
    // Canonical numbers only (`layer00.q` is not layer 0: its k, v would be looked up as `layer0.k`).
    let canonical = |s: &str| s.parse::<usize>().ok().filter(|l| l.to_string() == s);
    let mut ls: Vec<usize> =
        tensors.keys().filter_map(|k| canonical(k.strip_prefix("layer")?.strip_suffix(".q")?)).collect();
    ls.sort();
    ls
}

/// Every head of every layer of a file.
pub fn load_heads(path: &Path) -> Result<Vec<RealHead>> {
    heads_from_bytes(&safetensors_io::read_file(path)?, path)
}

/// Every head of every layer of safetensors bytes (`path` names them in errors).
pub fn heads_from_bytes(bytes: &[u8], path: &Path) -> Result<Vec<RealHead>> {
    let tensors: BTreeMap<String, Tensor> =
        safetensors_io::parse(bytes, path)?.into_iter().map(|t| (t.name.clone(), t)).collect();
    let ls = layers(&tensors);
    // A `layer…q` tensor that `layers` does not read (`layer00.q`, `layer-1.q`) is a naming error,
    // not something to skip silently.
    if let Some(odd) = tensors.keys().find(|k| {
        k.strip_prefix("layer")
            .and_then(|r| r.strip_suffix(".q"))
            .is_some_and(|l| !ls.iter().any(|x| x.to_string() == l))
    }) {
        return Err(Error::tensor(
            path,
            format!("tensor `{odd}`: expected the name layer{{L}}.q with L a plain number"),
        ));
    }
    if ls.is_empty() {
        return Err(Error::tensor(path, "no tensor named layer{L}.q: expected the MiniLM/SmolLM2 attention layout"));
    }
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("file").to_string();
    let mut out = Vec::new();
    for l in ls {
        out.extend(heads_of_layer(&tensors, path, &stem, l)?);
    }
    Ok(out)
}

fn get<'a>(t: &'a BTreeMap<String, Tensor>, path: &Path, name: &str) -> Result<&'a Tensor> {
    t.get(name).ok_or_else(|| Error::tensor(path, format!("tensor `{name}` is missing")))
}

/// The heads of layer `l`.
pub fn heads_of_layer(t: &BTreeMap<String, Tensor>, path: &Path, stem: &str, l: usize) -> Result<Vec<RealHead>> {
    let q = get(t, path, &format!("layer{l}.q"))?;
    q.expect_shape(path, &[None, None, None])?;
    let (h, n, d) = (q.shape[0], q.shape[1], q.shape[2]);
    let k = get(t, path, &format!("layer{l}.k"))?;
    k.expect_shape(path, &[None, Some(n), Some(d)])?;
    let v = get(t, path, &format!("layer{l}.v"))?;
    let hkv = k.shape[0];
    v.expect_shape(path, &[Some(hkv), Some(n), None])?;
    let dv = v.shape[2];
    if n == 0 || d == 0 || dv == 0 {
        // A head with no token or no dimension is not attention (and [2^40, 0, 1] would loop over
        // 2^40 empty heads).
        return Err(Error::tensor(
            path,
            format!("layer{l}: expected n ≥ 1 tokens and d, dv ≥ 1, found n = {n}, d = {d}, dv = {dv}"),
        ));
    }
    if h == 0 {
        return Err(Error::tensor(path, format!("layer{l}: `layer{l}.q` has 0 heads: expected ≥ 1")));
    }
    if hkv == 0 || h % hkv != 0 {
        return Err(Error::tensor(
            path,
            format!("layer{l}: {h} query heads cannot share {hkv} key/value heads evenly"),
        ));
    }
    for x in [q, k, v] {
        x.expect_finite(path)?;
    }
    let (qf, kf, vf) = (q.to_f32(path)?, k.to_f32(path)?, v.to_f32(path)?);
    let opt = |name: &str| -> Result<Option<Vec<f64>>> {
        match t.get(name) {
            None => Ok(None),
            Some(o) => {
                o.expect_shape(path, &[Some(h), Some(n), Some(dv)])?;
                o.expect_finite(path)?;
                Ok(Some(o.to_f64(path)?))
            }
        }
    };
    let of = opt(&format!("layer{l}.out_full"))?;
    let oc = opt(&format!("layer{l}.out_causal"))?;
    let group = h / hkv;
    let mut heads = Vec::with_capacity(h);
    for hi in 0..h {
        let g = hi / group;
        let slice_o = |o: &Option<Vec<f64>>| o.as_ref().map(|o| o[hi * n * dv..(hi + 1) * n * dv].to_vec());
        heads.push(RealHead {
            label: format!("{stem}:layer{l}.head{hi}"),
            layer: l,
            head: hi,
            n,
            d,
            q: qf[hi * n * d..(hi + 1) * n * d].to_vec(),
            k: kf[g * n * d..(g + 1) * n * d].to_vec(),
            v: vf[g * n * dv..(g + 1) * n * dv].to_vec(),
            out_full: slice_o(&of),
            out_causal: slice_o(&oc),
        });
    }
    Ok(heads)
}

impl RealHead {
    pub fn dv(&self) -> usize {
        self.v.len() / self.n.max(1)
    }
    /// The head widened to f64 (exact): `(q, k, v)`.
    pub fn widen(&self) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        (crate::reference::widen(&self.q), crate::reference::widen(&self.k), crate::reference::widen(&self.v))
    }
}

/// Write the chosen layers and heads of a real-data file to `output` (kv heads follow the query heads
/// kept), with a metadata entry recording the source file, its sha256-free size, and the selection.
pub fn write_slice(input: &Path, output: &Path, layers: &[usize], heads: &[usize]) -> Result<()> {
    use crate::tensor::Data;
    crate::out_file::check_out_path("OUTPUT", output)?;
    let tensors: BTreeMap<String, Tensor> =
        safetensors_io::load(input)?.into_iter().map(|t| (t.name.clone(), t)).collect();
    let mut meta = safetensors_io::metadata(input)?;
    for (what, list) in [("--layers", layers), ("--heads", heads)] {
        if list.is_empty() {
            return Err(Error::invalid(what, "expected at least one index"));
        }
        if let Some(x) = crate::repeats::first_repeat(list) {
            return Err(Error::invalid(what, format!("{x} is listed twice")));
        }
    }
    let stem = input.file_stem().and_then(|s| s.to_str()).unwrap_or("file").to_string();
    let mut out = Vec::new();
    for &l in layers {
        // The layer as every reader checks it (shapes, dtypes, finite values, kv grouping), so that a
        // slice is never written from an input that no command could read.
        heads_of_layer(&tensors, input, &stem, l)?;
        let q = get(&tensors, input, &format!("layer{l}.q"))?;
        let k = get(&tensors, input, &format!("layer{l}.k"))?;
        let group = q.shape[0] / k.shape[0];
        if group > 1 {
            return Err(Error::invalid(
                "--heads",
                format!(
                    "layer{l} shares key/value heads across {group} query heads; slicing such files is not supported (the head-to-kv mapping would change)"
                ),
            ));
        }
        for name in ["q", "k", "v", "out_full", "out_causal"] {
            let Some(t) = tensors.get(&format!("layer{l}.{name}")) else {
                continue;
            };
            let per_kv = name == "k" || name == "v";
            let mut picked: Vec<usize> = heads.iter().map(|&h| if per_kv { h / group } else { h }).collect();
            picked.dedup();
            let stride: usize = t.shape[1..].iter().product();
            for &h in &picked {
                if h >= t.shape[0] {
                    return Err(Error::invalid(
                        "--heads",
                        format!("head {h} out of range: `{}` has {} heads", t.name, t.shape[0]),
                    ));
                }
            }
            let take =
                |v: &[f64]| picked.iter().flat_map(|&h| v[h * stride..(h + 1) * stride].to_vec()).collect::<Vec<f64>>();
            let data = match &t.data {
                Data::F32(v) => {
                    Data::F32(picked.iter().flat_map(|&h| v[h * stride..(h + 1) * stride].to_vec()).collect())
                }
                Data::F64(v) => Data::F64(take(v)),
                Data::I64(_) => {
                    return Err(Error::tensor(input, format!("tensor `{}`: expected a float dtype", t.name)));
                }
            };
            let mut shape = t.shape.clone();
            shape[0] = picked.len();
            out.push(Tensor { name: t.name.clone(), shape, data });
        }
    }
    if let Some(tok) = tensors.get("tokens") {
        out.push(tok.clone());
    }
    meta.insert(
        "slice_of".into(),
        format!(
            "{} (layers {:?}, query heads {:?}, in that order; kv heads follow)",
            input.file_name().and_then(|s| s.to_str()).unwrap_or("?"),
            layers,
            heads
        ),
    );
    meta.insert("heads".into(), heads.len().to_string());
    safetensors_io::save(output, &out, &meta)
}
