//! Causal sparse masks for one head (serves `window.last10` and `mask.learned`).
//!
//! A mask keeps a set S_i of keys j ≤ i for query i; the masked row is P̂_i = P_i restricted to S_i and
//! renormalised (the note's custom attention with the logits of the baseline). Statistics
//! ([`crate::theory::topk`]): KL(P̂‖P) = −log m_i (finite), KL(P‖P̂) = ∞ whenever m_i < 1.
//!
//! **Learned mask.** Score of key j for query i: s_ij = w[b(i − j)] + u·k_j, a per-head relative-offset
//! table w (buckets b: offsets 0…15 exactly, then 4 buckets per octave) plus a query-independent content
//! term u·k_j (cost O(d) per key, no query–key product). The hard mask keeps the `budget` highest scores
//! among j ≤ i. Training minimises the note's objective KL(P_base ‖ P_masked) for the relaxation
//! P_masked ∝ p_ij·g_ij with gates g_ij = σ(κ(s_ij − θ_i)/σ_i), θ_i the midpoint between the budget-th
//! and (budget+1)-th highest score and σ_i the standard deviation of the row's scores (both held fixed
//! when differentiating; κ = [`KAPPA`]), which is finite:
//! L_i = −Σ_j p_ij log g_ij + log Σ_j p_ij g_ij, ∂L_i/∂s_ij = (κ/σ_i) p_ij(1 − g_ij)(g_ij/M_i − 1),
//! M_i = Σ_j p_ij g_ij. (Without the standardisation the loss is minimised by flat scores: uniform gates
//! cancel in the normalisation and the relaxed KL is 0 whatever the hard mask keeps.) Even so this
//! objective only penalises the *variation* of the gates over the keys that carry mass, not their level:
//! gates equal (and small) on all of them give a small loss while the hard mask drops them all. The
//! objective that matches the hard mask is the relaxed kept mass, L_i = −log M_i = relaxed KL(P̂‖P),
//! ∂L_i/∂s_ij = −(κ/σ_i) p_ij g_ij(1 − g_ij)/M_i ([`TrainOpts::kept_mass`]); `mask.learned` trains both.
//! Adam on (w, u), mini-batches of rows drawn from a seeded `rand_pcg` stream; deterministic.
use crate::theory::topk::probs;
use rand::RngExt;

/// Number of relative-offset buckets.
pub const NB: usize = 64;

/// Bucket of a non-negative offset i − j.
pub fn bucket(off: usize) -> usize {
    if off < 16 { off } else { (16 + (4.0 * (off as f64 / 16.0).log2()).floor() as usize).min(NB - 1) }
}

/// The last `w` keys of query i (keys max(0, i+1−w) ..= i).
pub fn window(i: usize, w: usize) -> Vec<usize> {
    ((i + 1).saturating_sub(w)..=i).collect()
}

/// A head as the mask code needs it: f64 rows of q, k (scores are q·k) and v.
pub struct HeadData {
    pub label: String,
    pub n: usize,
    pub d: usize,
    pub dv: usize,
    pub q: Vec<f64>,
    pub k: Vec<f64>,
    pub v: Vec<f64>,
}

impl HeadData {
    pub fn from_real(h: &crate::data::RealHead) -> Self {
        let (q, k, v) = h.widen();
        HeadData { label: h.label.clone(), n: h.n, d: h.d, dv: h.dv(), q, k, v }
    }
    /// Root-mean-square key norm (1 when all keys are 0).
    pub fn key_rms(&self) -> f64 {
        let r = (self.k.iter().map(|x| x * x).sum::<f64>() / self.n.max(1) as f64).sqrt();
        if r > 0.0 { r } else { 1.0 }
    }
    /// Causal probabilities of row i (length i + 1).
    pub fn causal_probs(&self, i: usize) -> Vec<f64> {
        let d = self.d;
        let q = &self.q[i * d..(i + 1) * d];
        let logits: Vec<f64> =
            (0..=i).map(|j| q.iter().zip(&self.k[j * d..(j + 1) * d]).map(|(a, b)| a * b).sum()).collect();
        probs(&logits)
    }
}

/// Learned scores: per-bucket table and content vector.
#[derive(Debug, Clone)]
pub struct MaskModel {
    pub w: Vec<f64>,
    pub u: Vec<f64>,
}

impl MaskModel {
    /// Recency prior: w[b] = −log(1 + representative offset of b), u = 0 (the initial mask is the
    /// last-`budget` window).
    pub fn init(d: usize) -> Self {
        let w = (0..NB)
            .map(|b| {
                let off = if b < 16 { b as f64 } else { 16.0 * 2f64.powf((b - 16) as f64 / 4.0) };
                -(1.0 + off).ln()
            })
            .collect();
        MaskModel { w, u: vec![0.0; d] }
    }
    /// Scores of keys 0..=i for query i.
    pub fn scores(&self, _h: &HeadData, i: usize, uk: &[f64]) -> Vec<f64> {
        (0..=i).map(|j| self.w[bucket(i - j)] + uk[j]).collect()
    }
    /// u·k_j/r for every key, r = root-mean-square key norm of the head (so that u is scale-free).
    pub fn content(&self, h: &HeadData) -> Vec<f64> {
        let r = h.key_rms();
        (0..h.n).map(|j| h.k[j * h.d..(j + 1) * h.d].iter().zip(&self.u).map(|(a, b)| a * b).sum::<f64>() / r).collect()
    }
    /// The kept keys of query i under `budget` (all keys when i + 1 ≤ budget).
    pub fn keep(&self, h: &HeadData, i: usize, budget: usize, uk: &[f64]) -> Vec<usize> {
        top_indices(&self.scores(h, i, uk), budget)
    }
}

/// Indices of the `k` largest entries (ties to the later key, i.e. the more recent one).
pub fn top_indices(s: &[f64], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..s.len()).collect();
    if k < s.len() {
        idx.select_nth_unstable_by(k, |&a, &b| {
            s[b].partial_cmp(&s[a]).unwrap_or(std::cmp::Ordering::Equal).then(b.cmp(&a))
        });
        idx.truncate(k);
    }
    idx
}

/// Threshold between the budget-th and (budget+1)-th largest scores.
fn threshold(s: &[f64], budget: usize) -> f64 {
    let mut v = s.to_vec();
    v.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
    0.5 * (v[budget - 1] + v[budget])
}

/// Gate sharpness: gates are σ(κ(s − θ)/σ_s) with σ_s the standard deviation of the row's scores
/// (held fixed when differentiating), so a uniform rescaling or flattening of the scores cannot
/// make the gates uniform (uniform gates would make the relaxed KL vanish whatever the budget).
pub const KAPPA: f64 = 4.0;

fn spread(s: &[f64]) -> f64 {
    let n = s.len() as f64;
    let mean = s.iter().sum::<f64>() / n;
    let sd = (s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    if sd > 0.0 && sd.is_finite() { sd } else { 1.0 }
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Training options.
#[derive(Debug, Clone, Copy)]
pub struct TrainOpts {
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    pub seed: u64,
    /// Train the content vector u (false: relative-offset scores only).
    pub content: bool,
    /// Objective: false = the note's relaxed KL(P_base‖P_masked) (degenerate: see the module doc),
    /// true = relaxed −log(soft kept mass) = −log Σ_j p_ij g_ij, the relaxation of KL(P̂‖P) = −log m.
    pub kept_mass: bool,
}

/// Train a mask model for one head on rows `rows` (only rows with i + 1 > budget carry a loss).
/// Returns the model and the relaxed loss (mean over the batch) at the first and last step.
pub fn train(h: &HeadData, rows: &[usize], budget: usize, o: TrainOpts) -> (MaskModel, f64, f64) {
    let mut m = MaskModel::init(h.d);
    let rows: Vec<usize> = rows.iter().cloned().filter(|&i| i + 1 > budget).collect();
    if rows.is_empty() || budget == 0 {
        return (m, 0.0, 0.0);
    }
    let mut rng = crate::rng::stream(o.seed, budget as u64);
    let np = NB + h.d;
    let kr = h.key_rms();
    let (mut m1, mut m2) = (vec![0.0; np], vec![0.0; np]);
    let (b1, b2, eps) = (0.9, 0.999, 1e-8);
    let (mut first, mut last) = (f64::NAN, f64::NAN);
    for step in 0..o.steps {
        let uk = m.content(h);
        let mut grad = vec![0.0; np];
        let mut loss = 0.0;
        let bsz = o.batch.min(rows.len());
        for _ in 0..bsz {
            let i = rows[rng.random_range(0..rows.len())];
            let p = h.causal_probs(i);
            let s = m.scores(h, i, &uk);
            let th = threshold(&s, budget);
            let sc = KAPPA / spread(&s);
            let g: Vec<f64> = s.iter().map(|x| sigmoid(sc * (x - th))).collect();
            let mm: f64 = p.iter().zip(&g).map(|(a, b)| a * b).sum();
            loss += if o.kept_mass {
                -mm.ln()
            } else {
                -p.iter().zip(&g).map(|(a, b)| a * b.max(1e-300).ln()).sum::<f64>() + mm.ln()
            };
            for j in 0..=i {
                let ds = if o.kept_mass {
                    -sc * p[j] * g[j] * (1.0 - g[j]) / mm
                } else {
                    sc * p[j] * (1.0 - g[j]) * (g[j] / mm - 1.0)
                };
                grad[bucket(i - j)] += ds;
                for c in 0..h.d {
                    grad[NB + c] += ds * h.k[j * h.d + c] / kr;
                }
            }
        }
        let inv = 1.0 / bsz as f64;
        loss *= inv;
        if step == 0 {
            first = loss;
        }
        last = loss;
        let t = (step + 1) as i32;
        for (idx, gr) in grad.iter().enumerate() {
            let gr = gr * inv;
            m1[idx] = b1 * m1[idx] + (1.0 - b1) * gr;
            m2[idx] = b2 * m2[idx] + (1.0 - b2) * gr * gr;
            let mh = m1[idx] / (1.0 - b1.powi(t));
            let vh = m2[idx] / (1.0 - b2.powi(t));
            let delta = o.lr * mh / (vh.sqrt() + eps);
            if idx < NB {
                m.w[idx] -= delta;
            } else if o.content {
                m.u[idx - NB] -= delta;
            }
        }
    }
    (m, first, last)
}

/// Evaluation of one kept-set rule over rows: mean KL(P̂‖P) = mean −log m, MSE of the attention
/// probabilities over the rows' full length-n rows (masked entries are zeros in both matrices),
/// mean relative output error ‖ô − o‖/‖o‖, and the number of rows with KL(P‖P̂) = ∞ (m < 1).
#[derive(Debug, Clone, Copy, Default)]
pub struct Eval {
    pub kl_mean: f64,
    pub kl_max: f64,
    pub mse: f64,
    pub out_rel: f64,
    pub rows: usize,
    pub infinite_forward_kl: usize,
}

/// Evaluate `keep(i, &p)` on rows `rows` of head `h`.
pub fn evaluate(h: &HeadData, rows: &[usize], mut keep: impl FnMut(usize, &[f64]) -> Vec<usize>) -> Eval {
    let mut e = Eval::default();
    let mut diff = vec![0.0; h.dv];
    let mut sq = 0.0;
    for &i in rows {
        let p = h.causal_probs(i);
        let s = keep(i, &p);
        let vals = &h.v[..(i + 1) * h.dv];
        let (m, se) = crate::theory::topk::hard_mask_row(&p, vals, h.dv, &s, &mut diff);
        let kl = -m.ln();
        e.kl_mean += kl.max(0.0);
        e.kl_max = e.kl_max.max(kl);
        sq += se;
        let on: f64 =
            (0..h.dv).map(|c| (0..=i).map(|j| p[j] * vals[j * h.dv + c]).sum::<f64>().powi(2)).sum::<f64>().sqrt();
        let dn: f64 = diff.iter().map(|x| x * x).sum::<f64>().sqrt();
        e.out_rel += if on > 0.0 { dn / on } else { dn };
        if s.len() < i + 1 && p.iter().enumerate().any(|(j, &x)| x > 0.0 && !s.contains(&j)) {
            e.infinite_forward_kl += 1;
        }
        e.rows += 1;
    }
    let r = e.rows.max(1) as f64;
    e.kl_mean /= r;
    e.out_rel /= r;
    e.mse = sq / (r * h.n as f64);
    e
}
