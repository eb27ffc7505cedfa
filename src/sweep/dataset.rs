//! Datasets a sweep can name. Each generates an f32 head of any requested shape from the point's
//! seed alone.
//!
//! * `gaussian {scale}`: q, k with i.i.d. N(0, scale²/d) entries (‖q‖, ‖k‖ ≈ scale), v ~ N(0, 1).
//! * `bounded {entry | entry_rel}`: Alman–Song's regime, literally: entries of q and k uniform in
//!   [−B, B] and scores q·k/d (the q stored is divided by d, so scores are q·k as everywhere else);
//!   |score| ≤ B². `entry_rel: c` sets B = c·√(ln n), the threshold scale of AS23.
//! * `clustered {clusters, spread, scale}`: keys = one of `clusters` Gaussian centres (norm ≈
//!   scale) + N(0, spread²/d) noise; queries Gaussian with norm ≈ scale.
//! * `low_dim {rank, noise, scale}`: keys and queries on one random `rank`-dimensional subspace
//!   (Gaussian basis, coefficients N(0, scale²/rank), so ‖q‖, ‖k‖ ≈ scale) plus N(0, noise²/d)
//!   noise per entry (‖noise‖ ≈ noise); v ~ N(0, 1).
//! * `heavy_tailed {alpha, scale}`: key directions uniform, key norms scale·Pareto(α) (x_m = 1).
//! * `real {file, layer, head, tokens}`: a real head from a MiniLM/SmolLM2-layout file; the first n
//!   tokens of the range `tokens` (default all).
//! * `real_causal {file, layer, head, tokens}`: a head of a causal LM in the `attnproof extract`
//!   layout (SmolLM2: q `[9, n, 64]` post-RoPE and pre-scaled, k/v `[3, n, 64]`, query head h on
//!   kv head h // 3), read like `real`, but *optional data*: when the file is absent the sweep runner
//!   skips the dataset's points and says so (so that sweeps can name
//!   `../shared/data/smollm2/gpl3_n4096.safetensors`, which CI does not have), and
//!   `attnproof sweep --data FILE` replaces the file of every `real_causal` dataset. Quick subsets
//!   must not use it (the generated docs would then depend on the machine).
//! * `real_stats {file, layer, head, clusters}`: a generator fitted to a real head: k-means clusters
//!   of its keys, queries and values (centre, per-dimension spread, weight); tokens are drawn
//!   i.i.d. from the fitted mixture, so any n can be produced with the real norms, mean direction and
//!   cluster structure (not its positional structure).
use crate::data::synthetic::{self, SynthHead};
use crate::data::{self, RealHead};
use crate::{Error, Result};
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The most elements a generated tensor may hold ([`DatasetSpec::generate`]).
pub const MAX_TENSOR_ELEMS: usize = 1 << 30;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DatasetSpec {
    Gaussian {
        scale: f64,
    },
    Bounded {
        #[serde(default)]
        entry: Option<f64>,
        #[serde(default)]
        entry_rel: Option<f64>,
    },
    Clustered {
        clusters: usize,
        spread: f64,
        scale: f64,
    },
    HeavyTailed {
        alpha: f64,
        scale: f64,
    },
    LowDim {
        rank: usize,
        noise: f64,
        scale: f64,
    },
    Real {
        file: String,
        layer: usize,
        head: usize,
        #[serde(default)]
        tokens: Option<[usize; 2]>,
    },
    RealCausal {
        file: String,
        layer: usize,
        head: usize,
        #[serde(default)]
        tokens: Option<[usize; 2]>,
    },
    RealStats {
        file: String,
        layer: usize,
        head: usize,
        clusters: usize,
    },
}

impl DatasetSpec {
    /// A short stable label (part of every point key).
    pub fn label(&self) -> String {
        match self {
            DatasetSpec::Gaussian { scale } => format!("gaussian(scale={scale})"),
            DatasetSpec::Bounded { entry, entry_rel } => match (entry, entry_rel) {
                (Some(b), _) => format!("bounded(B={b})"),
                (None, Some(c)) => format!("bounded(B={c}·√ln n)"),
                _ => "bounded(?)".into(),
            },
            DatasetSpec::Clustered { clusters, spread, scale } => {
                format!("clustered(c={clusters},spread={spread},scale={scale})")
            }
            DatasetSpec::HeavyTailed { alpha, scale } => format!("heavy_tailed(α={alpha},scale={scale})"),
            DatasetSpec::LowDim { rank, noise, scale } => format!("low_dim(rank={rank},noise={noise},scale={scale})"),
            DatasetSpec::Real { file, layer, head, tokens } => {
                let stem = Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or(file);
                match tokens {
                    Some([a, b]) => format!("real({stem}:L{layer}H{head}[{a}..{b}])"),
                    None => format!("real({stem}:L{layer}H{head})"),
                }
            }
            DatasetSpec::RealCausal { file, layer, head, tokens } => {
                let stem = Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or(file);
                match tokens {
                    Some([a, b]) => format!("real_causal({stem}:L{layer}H{head}[{a}..{b}])"),
                    None => format!("real_causal({stem}:L{layer}H{head})"),
                }
            }
            DatasetSpec::RealStats { file, layer, head, clusters } => {
                let stem = Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or(file);
                format!("real_stats({stem}:L{layer}H{head},c={clusters})")
            }
        }
    }

    /// Check the generator's fields: scales, entries and α positive and finite, spread and noise
    /// finite and ≥ 0, cluster counts and rank ≥ 1, exactly one of `entry` and `entry_rel`, a
    /// non-empty token range. The error is `FIELD: expected …, found …`.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let positive = |name: &str, x: f64| {
            if x.is_finite() && x > 0.0 {
                Ok(())
            } else {
                Err(format!("{name}: expected a positive finite number, found {x}"))
            }
        };
        let non_negative = |name: &str, x: f64| {
            if x.is_finite() && x >= 0.0 {
                Ok(())
            } else {
                Err(format!("{name}: expected a finite number ≥ 0, found {x}"))
            }
        };
        let count =
            |name: &str, c: usize| if c >= 1 { Ok(()) } else { Err(format!("{name}: expected ≥ 1, found {c}")) };
        match self {
            DatasetSpec::Gaussian { scale } => positive("scale", *scale),
            DatasetSpec::Bounded { entry, entry_rel } => match (entry, entry_rel) {
                (Some(b), None) => positive("entry", *b),
                (None, Some(c)) => positive("entry_rel", *c),
                _ => Err(format!(
                    "entry: expected exactly one of `entry` and `entry_rel`, found {}",
                    if entry.is_some() { "both" } else { "neither" }
                )),
            },
            DatasetSpec::Clustered { clusters, spread, scale } => {
                count("clusters", *clusters)?;
                non_negative("spread", *spread)?;
                positive("scale", *scale)
            }
            DatasetSpec::HeavyTailed { alpha, scale } => {
                positive("alpha", *alpha)?;
                positive("scale", *scale)
            }
            DatasetSpec::LowDim { rank, noise, scale } => {
                count("rank", *rank)?;
                non_negative("noise", *noise)?;
                positive("scale", *scale)
            }
            DatasetSpec::Real { tokens, .. } | DatasetSpec::RealCausal { tokens, .. } => match tokens {
                Some([a, b]) if a >= b => {
                    Err(format!("tokens: expected [first, end) with first < end, found [{a}, {b}]"))
                }
                _ => Ok(()),
            },
            DatasetSpec::RealStats { clusters, .. } => count("clusters", *clusters),
        }
    }

    /// False for an optional dataset (`real_causal`) whose file is absent; true otherwise.
    pub fn available(&self) -> bool {
        match self {
            DatasetSpec::RealCausal { file, .. } => resolve(file).is_file(),
            _ => true,
        }
    }

    /// The same dataset with the file of a `real_causal` dataset replaced by `file`.
    pub fn with_causal_file(&self, file: &Path) -> DatasetSpec {
        match self {
            DatasetSpec::RealCausal { layer, head, tokens, .. } => DatasetSpec::RealCausal {
                file: file.display().to_string(),
                layer: *layer,
                head: *head,
                tokens: *tokens,
            },
            d => d.clone(),
        }
    }

    /// The token range `tokens` (default all) of a real head with `n` tokens, or an error.
    fn token_range(&self, tokens: Option<[usize; 2]>, n: usize) -> Result<[usize; 2]> {
        let [a, b] = tokens.unwrap_or([0, n]);
        if a >= b || b > n {
            return Err(Error::invalid(
                format!("dataset {}", self.label()),
                format!("tokens [{a}, {b}) outside 0..{n}"),
            ));
        }
        Ok([a, b])
    }

    /// Check that a real dataset can be read (file, layer, head, token range), loading its head
    /// once (cached for the points that follow); nothing to check for a generated dataset.
    pub fn preflight(&self) -> Result<()> {
        match self {
            DatasetSpec::Real { file, layer, head, tokens } | DatasetSpec::RealCausal { file, layer, head, tokens } => {
                let h = real_head(file, *layer, *head)?;
                self.token_range(*tokens, h.n).map(|_| ())
            }
            DatasetSpec::RealStats { file, layer, head, .. } => real_head(file, *layer, *head).map(|_| ()),
            _ => Ok(()),
        }
    }

    /// The head dimension the data fixes, whatever d is asked: a real head's, or the head a
    /// real-statistics generator was fitted to (`None`: generated at the d asked).
    pub fn fixed_d(&self) -> Result<Option<usize>> {
        match self {
            DatasetSpec::Real { file, layer, head, .. }
            | DatasetSpec::RealCausal { file, layer, head, .. }
            | DatasetSpec::RealStats { file, layer, head, .. } => Ok(Some(real_head(file, *layer, *head)?.d)),
            _ => Ok(None),
        }
    }

    /// True for datasets whose shape is fixed by the data (the point's n and d are upper limits).
    pub fn is_real(&self) -> bool {
        matches!(self, DatasetSpec::Real { .. } | DatasetSpec::RealCausal { .. })
    }

    /// Generate a head with (up to) n tokens, dimension d and value dimension dv from `seed`.
    pub fn generate(&self, n: usize, d: usize, dv: usize, seed: u64) -> Result<SynthHead> {
        // n·max(d, dv) elements per tensor, counted without wrapping: beyond 2^30 (4 GiB of f32 per
        // tensor) the allocation would abort the process instead of failing here.
        if n.checked_mul(d.max(dv)).is_none_or(|e| e > MAX_TENSOR_ELEMS) {
            return Err(Error::invalid(
                format!("dataset {}", self.label()),
                format!("n = {n}, d = {d}, dv = {dv}: more than 2^30 elements per tensor (4 GiB of f32): refused"),
            ));
        }
        let mut rng = crate::rng::seeded(seed);
        match self {
            DatasetSpec::Gaussian { scale } => Ok(synthetic::gaussian(&mut rng, n, d, dv, *scale)),
            DatasetSpec::Bounded { entry, entry_rel } => {
                let b = match (entry, entry_rel) {
                    (Some(b), None) => *b,
                    (None, Some(c)) => c * (n.max(2) as f64).ln().sqrt(),
                    _ => {
                        return Err(Error::invalid(
                            "dataset bounded",
                            "expected exactly one of `entry` and `entry_rel`",
                        ));
                    }
                };
                let mut u = |len: usize, s: f64| {
                    (0..len).map(|_| (rng.random_range(-1.0..1.0) * s) as f32).collect::<Vec<f32>>()
                };
                let q = u(n * d, b / d as f64);
                let k = u(n * d, b);
                let v = u(n * dv, 1.0);
                Ok(SynthHead { n, d, dv, q, k, v })
            }
            DatasetSpec::Clustered { clusters, spread, scale } => {
                let c = (*clusters).max(1);
                let sd = (d as f64).sqrt();
                let centres: Vec<Vec<f32>> = (0..c).map(|_| synthetic::vector(&mut rng, d, scale / sd)).collect();
                let mut k = Vec::with_capacity(n * d);
                for _ in 0..n {
                    let ci = rng.random_range(0..c);
                    let noise = synthetic::vector(&mut rng, d, spread / sd);
                    k.extend(centres[ci].iter().zip(&noise).map(|(a, b)| a + b));
                }
                let q = synthetic::vector(&mut rng, n * d, scale / sd);
                let v = synthetic::vector(&mut rng, n * dv, 1.0);
                Ok(SynthHead { n, d, dv, q, k, v })
            }
            DatasetSpec::HeavyTailed { alpha, scale } => {
                let sd = (d as f64).sqrt();
                let mut k = Vec::with_capacity(n * d);
                for _ in 0..n {
                    let dir = synthetic::vector(&mut rng, d, 1.0);
                    let norm = dir.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt().max(1e-30);
                    let u: f64 = rng.random_range(f64::EPSILON..1.0);
                    let r = scale * u.powf(-1.0 / alpha);
                    k.extend(dir.iter().map(|x| (*x as f64 * r / norm) as f32));
                }
                let q = synthetic::vector(&mut rng, n * d, scale / sd);
                let v = synthetic::vector(&mut rng, n * dv, 1.0);
                Ok(SynthHead { n, d, dv, q, k, v })
            }
            DatasetSpec::LowDim { rank, noise, scale } => {
                if *rank > d {
                    return Err(Error::invalid(
                        format!("dataset {}", self.label()),
                        format!("rank {rank} > d = {d}: expected a subspace of dimension ≤ d"),
                    ));
                }
                let r = (*rank).max(1);
                let sd = (d as f64).sqrt();
                // Basis columns with N(0, 1/d) entries: nearly orthonormal, norm ≈ 1.
                let basis: Vec<Vec<f32>> = (0..r).map(|_| synthetic::vector(&mut rng, d, 1.0 / sd)).collect();
                let draw = |rng: &mut rand_pcg::Pcg64Mcg| {
                    let c = synthetic::vector(rng, r, scale / (r as f64).sqrt());
                    let e = synthetic::vector(rng, d, noise / sd);
                    (0..d)
                        .map(|t| basis.iter().zip(&c).map(|(b, ci)| b[t] * ci).sum::<f32>() + e[t])
                        .collect::<Vec<f32>>()
                };
                let mut q = Vec::with_capacity(n * d);
                let mut k = Vec::with_capacity(n * d);
                for _ in 0..n {
                    k.extend(draw(&mut rng));
                    q.extend(draw(&mut rng));
                }
                let v = synthetic::vector(&mut rng, n * dv, 1.0);
                Ok(SynthHead { n, d, dv, q, k, v })
            }
            DatasetSpec::Real { file, layer, head, tokens } | DatasetSpec::RealCausal { file, layer, head, tokens } => {
                let h = real_head(file, *layer, *head)?;
                let [a, b] = self.token_range(*tokens, h.n)?;
                let b = b.min(a + n);
                let (d, dv) = (h.d, h.dv());
                Ok(SynthHead {
                    n: b - a,
                    d,
                    dv,
                    q: h.q[a * d..b * d].to_vec(),
                    k: h.k[a * d..b * d].to_vec(),
                    v: h.v[a * dv..b * dv].to_vec(),
                })
            }
            DatasetSpec::RealStats { file, layer, head, clusters } => {
                let fit = real_fit(file, *layer, *head, *clusters)?;
                Ok(fit.sample(n, seed))
            }
        }
    }
}

/// Resolve a dataset path: absolute, or relative to the repository root.
pub fn resolve(file: &str) -> PathBuf {
    let p = Path::new(file);
    if p.is_absolute() { p.to_path_buf() } else { Path::new(env!("CARGO_MANIFEST_DIR")).join(p) }
}

type HeadCache = Mutex<HashMap<PathBuf, Arc<Vec<RealHead>>>>;

/// A real head, loading each file once per process.
pub fn real_head(file: &str, layer: usize, head: usize) -> Result<RealHead> {
    static CACHE: OnceLock<HeadCache> = OnceLock::new();
    let path = resolve(file);
    let heads = {
        let mut c = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        match c.get(&path) {
            Some(h) => Arc::clone(h),
            None => {
                let h = Arc::new(data::load_heads(&path)?);
                c.insert(path.clone(), Arc::clone(&h));
                h
            }
        }
    };
    heads
        .iter()
        .find(|h| h.layer == layer && h.head == head)
        .cloned()
        .ok_or_else(|| Error::tensor(&path, format!("no layer {layer} head {head} in this file")))
}

/// A Gaussian mixture fitted to the rows of one matrix: weights, centres, per-dimension spreads.
#[derive(Debug, Clone)]
pub struct Mixture {
    pub weights: Vec<f64>,
    pub centres: Vec<Vec<f64>>,
    pub spreads: Vec<Vec<f64>>,
}

impl Mixture {
    /// Lloyd's k-means (deterministic farthest-point initialisation, 20 iterations).
    pub fn fit(rows: &[f32], dim: usize, clusters: usize) -> Mixture {
        let x: Vec<Vec<f64>> = rows.chunks_exact(dim).map(|r| r.iter().map(|&v| v as f64).collect()).collect();
        let n = x.len();
        let c = clusters.clamp(1, n.max(1));
        let dist2 = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum::<f64>();
        let mut centres = vec![x[0].clone()];
        while centres.len() < c {
            let far = (0..n)
                .max_by(|&i, &j| {
                    let di = centres.iter().map(|m| dist2(&x[i], m)).fold(f64::INFINITY, f64::min);
                    let dj = centres.iter().map(|m| dist2(&x[j], m)).fold(f64::INFINITY, f64::min);
                    di.total_cmp(&dj)
                })
                .unwrap_or(0);
            centres.push(x[far].clone());
        }
        let mut assign = vec![0usize; n];
        for _ in 0..20 {
            for (i, xi) in x.iter().enumerate() {
                assign[i] =
                    (0..c).min_by(|&a, &b| dist2(xi, &centres[a]).total_cmp(&dist2(xi, &centres[b]))).unwrap_or(0);
            }
            for (ci, centre) in centres.iter_mut().enumerate() {
                let members: Vec<&Vec<f64>> =
                    x.iter().zip(&assign).filter(|(_, a)| **a == ci).map(|(r, _)| r).collect();
                if !members.is_empty() {
                    for t in 0..dim {
                        centre[t] = members.iter().map(|r| r[t]).sum::<f64>() / members.len() as f64;
                    }
                }
            }
        }
        let mut weights = vec![0.0f64; c];
        let mut spreads = vec![vec![0.0; dim]; c];
        for (xi, &a) in x.iter().zip(&assign) {
            weights[a] += 1.0;
            for t in 0..dim {
                spreads[a][t] += (xi[t] - centres[a][t]).powi(2);
            }
        }
        for ci in 0..c {
            for s in spreads[ci].iter_mut() {
                *s = (*s / weights[ci].max(1.0)).sqrt();
            }
            weights[ci] /= n.max(1) as f64;
        }
        Mixture { weights, centres, spreads }
    }

    fn draw(&self, rng: &mut impl rand::Rng, out: &mut Vec<f32>) {
        let u: f64 = rng.random_range(0.0..1.0);
        let mut acc = 0.0;
        let mut ci = self.weights.len() - 1;
        for (i, w) in self.weights.iter().enumerate() {
            acc += w;
            if u < acc {
                ci = i;
                break;
            }
        }
        for (m, s) in self.centres[ci].iter().zip(&self.spreads[ci]) {
            let z: f64 = StandardNormal.sample(rng);
            out.push((m + s * z) as f32);
        }
    }
}

/// Mixtures fitted to the queries, keys and values of one real head.
#[derive(Debug, Clone)]
pub struct RealFit {
    pub d: usize,
    pub dv: usize,
    pub q: Mixture,
    pub k: Mixture,
    pub v: Mixture,
}

impl RealFit {
    pub fn from_head(h: &RealHead, clusters: usize) -> RealFit {
        let dv = h.dv();
        RealFit {
            d: h.d,
            dv,
            q: Mixture::fit(&h.q, h.d, clusters),
            k: Mixture::fit(&h.k, h.d, clusters),
            v: Mixture::fit(&h.v, dv, clusters),
        }
    }
    /// n i.i.d. tokens from the fitted mixtures.
    pub fn sample(&self, n: usize, seed: u64) -> SynthHead {
        let mut rng = crate::rng::seeded(seed);
        let (mut q, mut k, mut v) =
            (Vec::with_capacity(n * self.d), Vec::with_capacity(n * self.d), Vec::with_capacity(n * self.dv));
        for _ in 0..n {
            self.q.draw(&mut rng, &mut q);
            self.k.draw(&mut rng, &mut k);
            self.v.draw(&mut rng, &mut v);
        }
        SynthHead { n, d: self.d, dv: self.dv, q, k, v }
    }
}

type FitCache = Mutex<HashMap<(PathBuf, usize, usize, usize), Arc<RealFit>>>;

/// The fitted generator of a real head (fitted once per process).
pub fn real_fit(file: &str, layer: usize, head: usize, clusters: usize) -> Result<Arc<RealFit>> {
    static CACHE: OnceLock<FitCache> = OnceLock::new();
    let key = (resolve(file), layer, head, clusters);
    if let Some(f) = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(Arc::clone(f));
    }
    let h = real_head(file, layer, head)?;
    let fit = Arc::new(RealFit::from_head(&h, clusters));
    CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner()).insert(key, Arc::clone(&fit));
    Ok(fit)
}
