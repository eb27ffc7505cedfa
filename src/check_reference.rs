//! `attnproof check-reference FILE`: recompute every head of a file with our float64 and float32
//! paths and compare with the file's stored float64 outputs (`layer{L}.out_full`,
//! `layer{L}.out_causal`), computed by an independent implementation.
use crate::Result;
use crate::data::{self, RealHead};
use crate::reference::{Head, Mask, attention_f64, fast_f32};
use std::collections::BTreeMap;
use std::path::Path;

/// Max abs errors per layer: (f64 full, f64 causal, f32 full, f32 causal); NaN where not stored.
#[derive(Debug, Clone, Default)]
pub struct LayerErr {
    pub heads: usize,
    pub f64_full: f64,
    pub f64_causal: f64,
    pub f32_full: f64,
    pub f32_causal: f64,
}

#[derive(Debug, Clone)]
pub struct FileReport {
    pub file: String,
    pub layers: BTreeMap<usize, LayerErr>,
}

fn max_abs(a: &[f64], b: impl Iterator<Item = f64>) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// Errors of one head: (f64 full, f64 causal, f32 full, f32 causal).
pub fn head_errors(h: &RealHead) -> Result<[f64; 4]> {
    let (q, k, v) = h.widen();
    let dv = h.dv();
    let h64 = Head::new(&q, &k, &v, h.n, h.d, dv)?;
    let h32 = Head::new(&h.q, &h.k, &h.v, h.n, h.d, dv)?;
    let mut e = [f64::NAN; 4];
    for (slot, mask, stored) in [(0, Mask::Full, &h.out_full), (1, Mask::Causal, &h.out_causal)] {
        if let Some(want) = stored {
            e[slot] = max_abs(want, attention_f64(&h64, mask).out.into_iter());
            e[slot + 2] = max_abs(want, fast_f32::attention_f32(&h32, mask).into_iter().map(|x| x as f64));
        }
    }
    Ok(e)
}

/// Recompute every head of a file.
pub fn check_file(path: &Path) -> Result<FileReport> {
    let heads = data::load_heads(path)?;
    if heads.iter().all(|h| h.out_full.is_none() && h.out_causal.is_none()) {
        return Err(crate::Error::tensor(
            path,
            "no layer{L}.out_full or layer{L}.out_causal tensors to compare against",
        ));
    }
    let mut layers: BTreeMap<usize, LayerErr> = BTreeMap::new();
    for h in &heads {
        let e = head_errors(h).map_err(|e| e.on_head(&h.label))?;
        let l = layers.entry(h.layer).or_default();
        l.heads += 1;
        for (acc, x) in [&mut l.f64_full, &mut l.f64_causal, &mut l.f32_full, &mut l.f32_causal].into_iter().zip(e) {
            *acc = if x.is_nan() || acc.is_nan() { f64::NAN } else { acc.max(x) };
        }
    }
    Ok(FileReport { file: path.display().to_string(), layers })
}

impl FileReport {
    /// Largest float64 error over the comparisons made (a missing one is reported by
    /// [`Self::missing_comparisons`], not here).
    pub fn max_f64_err(&self) -> f64 {
        self.layers.values().flat_map(|l| [l.f64_full, l.f64_causal]).filter(|x| !x.is_nan()).fold(0.0, f64::max)
    }
    /// Comparisons the file should allow but does not: a layer without any stored output, or a mask
    /// (`out_full`, `out_causal`) stored for some layers and not for this one. A missing comparison
    /// is not a pass.
    pub fn missing_comparisons(&self) -> Vec<String> {
        let stored = |f: fn(&LayerErr) -> f64| self.layers.values().any(|l| !f(l).is_nan());
        let (full, causal) = (stored(|l| l.f64_full), stored(|l| l.f64_causal));
        let mut out = Vec::new();
        for (l, e) in &self.layers {
            if e.f64_full.is_nan() && e.f64_causal.is_nan() {
                out.push(format!("layer {l} has no stored output"));
            } else if full && e.f64_full.is_nan() {
                out.push(format!("layer {l} has no `layer{l}.out_full`"));
            } else if causal && e.f64_causal.is_nan() {
                out.push(format!("layer {l} has no `layer{l}.out_causal`"));
            }
        }
        out
    }
    /// Plain-text table, one line per layer.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{}\n{:<6} {:>5} {:>13} {:>13} {:>13} {:>13}\n",
            self.file, "layer", "heads", "f64 full", "f64 causal", "f32 full", "f32 causal"
        );
        for (l, e) in &self.layers {
            s += &format!(
                "{:<6} {:>5} {:>13.3e} {:>13.3e} {:>13.3e} {:>13.3e}\n",
                l, e.heads, e.f64_full, e.f64_causal, e.f32_full, e.f32_causal
            );
        }
        s += &format!("max |f64 − stored| = {:.3e}\n", self.max_f64_err());
        s
    }
}
