//! Operation counts of full attention and of note 002's top-K selector + MLP approximator
//! (serves `flops.table`, `flops.count`, `topk.order`, `topk.crossover`, `memory.table`).
//!
//! **Convention (stated once, used everywhere here).** One FLOP is one scalar add, subtract,
//! multiply, divide, comparison (max, ReLU, top-K selection) or exp. A length-n dot product costs
//! 2n − 1; a dense layer a → b with bias costs 2ab (b(2a − 1) + b bias adds).
//!
//! **Full attention, one head of width h, T queries × T keys, dv = h** (scale q by 1/√h, QKᵀ, row max,
//! subtract, exp, row sum, divide, PV):
//! per query  T(2h − 1) + (T − 1) + T + T + (T − 1) + T + h(2T − 1) + h = 4hT + 4T − 2,
//! per sequence T(4hT + 4T − 2) = 4T²h + 4T² − 2T. The note's "2T²d" counts QKᵀ only (as 2 FLOPs per
//! multiply-add) and omits PV and the softmax; the leading coefficient is 4, not 2.
//! Causal (keys j ≤ i): query i costs 4h(i+1) + 4(i+1) − 2, i.e. about half.
//!
//! **Note 002's sparse path per query and head** (KeySelector h → H → T, top-K selection over T
//! scores, HeadApproximator K·h → H → h, ReLU after each hidden layer):
//! selector 2hH + H + 2HT, selection ≥ T − K comparisons (each of the T − K discarded scores must lose a
//! comparison; this lower bound favours the sparse path), approximator 2KhH + H + 2Hh:
//! total 2HT + T + 2hH(K + 2) + 2H − K. It is linear in T per query (the selector has T outputs), so
//! quadratic per sequence.
//!
//! **The table's own formulas** (reconstructed, `flops.table`): full = 2T²d with d the model size;
//! sparse = T·2(hH + HT + KhH + Hh) with h = 64, H = 64, K = 8 (multiply-adds × 2, one head,
//! no bias/ReLU/selection), which reproduces all six printed sparse figures to the printed digit.
//!
//! **Memory table** (`memory.table`): full = T²·d/2 bytes, sparse = 16·T·d bytes (MB = 10⁶ B),
//! reduction T/32; these are the only formulas found that reproduce the printed figures.

/// Head width, selector/approximator hidden size and K of the reconstruction of note 002's table.
pub const TABLE_HEAD_DIM: u64 = 64;
pub const TABLE_HIDDEN: u64 = 64;
pub const TABLE_K: u64 = 8;

/// The note's full-attention formula: 2T²d.
pub fn table_full(t: u64, d: u64) -> f64 {
    2.0 * (t * t) as f64 * d as f64
}

/// The note's (reconstructed) sparse formula: 2T(hH + HT + KhH + Hh).
pub fn table_sparse(t: u64, h: u64, hidden: u64, k: u64) -> f64 {
    2.0 * t as f64 * (h * hidden + hidden * t + k * h * hidden + hidden * h) as f64
}

/// Full attention (non-causal), one head of width h (dv = h), per query, in the stated convention.
pub fn full_per_query(t: u64, h: u64) -> u64 {
    4 * h * t + 4 * t - 2
}

/// Full attention, per sequence of T queries, one head.
pub fn full_per_sequence(t: u64, h: u64) -> u64 {
    t * full_per_query(t, h)
}

/// Causal full attention per sequence, one head: Σ_{i<T} (4h(i+1) + 4(i+1) − 2).
pub fn full_causal_per_sequence(t: u64, h: u64) -> u64 {
    (4 * h + 4) * t * (t + 1) / 2 - 2 * t
}

/// Sparse path per query and head (selection counted at its lower bound T − K).
pub fn sparse_per_query(t: u64, h: u64, hidden: u64, k: u64) -> u64 {
    2 * hidden * t + t + 2 * h * hidden * (k + 2) + 2 * hidden - k.min(t)
}

/// The selector MLP alone per query (h → H → T, ReLU), without selection.
pub fn selector_per_query(t: u64, h: u64, hidden: u64) -> u64 {
    2 * h * hidden + hidden + 2 * hidden * t
}

/// Speedup full/sparse, consistent count (same heads, same convention), non-causal.
pub fn consistent_speedup(t: u64, h: u64, hidden: u64, k: u64) -> f64 {
    full_per_query(t, h) as f64 / sparse_per_query(t, h, hidden, k) as f64
}

/// Speedup with causal full attention (the selector still scores T keys per query).
pub fn consistent_speedup_causal(t: u64, h: u64, hidden: u64, k: u64) -> f64 {
    full_causal_per_sequence(t, h) as f64 / (t * sparse_per_query(t, h, hidden, k)) as f64
}

/// Smallest T ≥ 1 with `speedup(T) ≥ 1`, searched up to `t_max` (None if none).
pub fn crossover(speedup: impl Fn(u64) -> f64, t_max: u64) -> Option<u64> {
    // speedup is increasing in T for these formulas; bisection on [1, t_max].
    if speedup(t_max) < 1.0 {
        return None;
    }
    let (mut lo, mut hi) = (1u64, t_max);
    if speedup(lo) >= 1.0 {
        return Some(lo);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if speedup(mid) >= 1.0 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// Memory-table formulas (bytes).
pub fn table_memory_full(t: u64, d: u64) -> f64 {
    (t * t) as f64 * d as f64 / 2.0
}
pub fn table_memory_sparse(t: u64, d: u64) -> f64 {
    16.0 * t as f64 * d as f64
}

/// A scalar-operation counter.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ops(pub u64);

impl Ops {
    #[inline]
    fn n(&mut self, k: u64) {
        self.0 += k;
    }
}

/// Full attention of one head (rows of q, k, v of width d, dv; no mask), evaluated naively in f64
/// while counting every operation of the stated convention. `scale` multiplies q first (counted).
pub fn counted_attention(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    t: usize,
    d: usize,
    dv: usize,
    scale: f64,
) -> (Vec<f64>, Ops) {
    let mut ops = Ops::default();
    let mut out = vec![0.0; t * dv];
    let mut s = vec![0.0; t];
    for i in 0..t {
        let qi: Vec<f64> = q[i * d..(i + 1) * d].iter().map(|x| x * scale).collect();
        ops.n(d as u64);
        for j in 0..t {
            let kj = &k[j * d..(j + 1) * d];
            let mut acc = qi[0] * kj[0];
            ops.n(1);
            for c in 1..d {
                acc += qi[c] * kj[c];
                ops.n(2);
            }
            s[j] = acc;
        }
        let mut m = s[0];
        for &x in &s[1..] {
            m = m.max(x);
            ops.n(1);
        }
        for x in s.iter_mut() {
            *x = (*x - m).exp();
            ops.n(2);
        }
        let mut z = s[0];
        for &x in &s[1..] {
            z += x;
            ops.n(1);
        }
        for x in s.iter_mut() {
            *x /= z;
            ops.n(1);
        }
        for c in 0..dv {
            let mut acc = s[0] * v[c];
            ops.n(1);
            for j in 1..t {
                acc += s[j] * v[j * dv + c];
                ops.n(2);
            }
            out[i * dv + c] = acc;
        }
    }
    (out, ops)
}

/// A concrete KeySelector: h → H (ReLU) → T, weights row-major `w1[H×h]`, `b1[H]`, `w2[T×H]`, `b2[T]`.
pub struct Selector {
    pub h: usize,
    pub hidden: usize,
    pub t: usize,
    pub w1: Vec<f64>,
    pub b1: Vec<f64>,
    pub w2: Vec<f64>,
    pub b2: Vec<f64>,
}

impl Selector {
    /// Random weights N(0, 1/fan_in) from `rng`.
    pub fn random(rng: &mut impl rand::Rng, h: usize, hidden: usize, t: usize) -> Self {
        use rand_distr::{Distribution, StandardNormal};
        let mut g = |len: usize, s: f64| -> Vec<f64> {
            (0..len)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(rng);
                    z * s
                })
                .collect()
        };
        let w1 = g(hidden * h, 1.0 / (h as f64).sqrt());
        let b1 = g(hidden, 0.1);
        let w2 = g(t * hidden, 1.0 / (hidden as f64).sqrt());
        let b2 = g(t, 0.1);
        Selector { h, hidden, t, w1, b1, w2, b2 }
    }

    /// Scores of the T keys for query x (length h), counting operations.
    pub fn scores(&self, x: &[f64], ops: &mut Ops) -> Vec<f64> {
        let (h, hh) = (self.h, self.hidden);
        let mut z = vec![0.0; hh];
        for (r, zr) in z.iter_mut().enumerate() {
            let mut acc = self.b1[r];
            for c in 0..h {
                acc += self.w1[r * h + c] * x[c];
            }
            ops.n(2 * h as u64);
            *zr = acc.max(0.0);
            ops.n(1);
        }
        let mut s = vec![0.0; self.t];
        for (j, sj) in s.iter_mut().enumerate() {
            let mut acc = self.b2[j];
            for r in 0..hh {
                acc += self.w2[j * hh + r] * z[r];
            }
            ops.n(2 * hh as u64);
            *sj = acc;
        }
        s
    }
}

/// Indices of the K largest entries of `s` (ties to the lower index), counting comparisons: a
/// binary min-heap of the first K, then one comparison per remaining entry with the heap minimum
/// and a sift-down (counted) when it enters. Returned in decreasing order of score.
pub fn top_k_counted(s: &[f64], k: usize, ops: &mut Ops) -> Vec<usize> {
    let k = k.min(s.len());
    if k == 0 {
        return Vec::new();
    }
    // "less" = smaller score, or equal score and larger index (so lower indices win ties).
    let less = |a: usize, b: usize, ops: &mut Ops| {
        ops.n(1);
        s[a] < s[b] || (s[a] == s[b] && a > b)
    };
    let mut heap: Vec<usize> = (0..k).collect();
    fn sift(heap: &mut [usize], mut i: usize, less: &dyn Fn(usize, usize, &mut Ops) -> bool, ops: &mut Ops) {
        let n = heap.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut m = i;
            if l < n && less(heap[l], heap[m], ops) {
                m = l;
            }
            if r < n && less(heap[r], heap[m], ops) {
                m = r;
            }
            if m == i {
                return;
            }
            heap.swap(i, m);
            i = m;
        }
    }
    for i in (0..k / 2).rev() {
        sift(&mut heap, i, &less, ops);
    }
    for j in k..s.len() {
        if less(heap[0], j, ops) {
            heap[0] = j;
            sift(&mut heap, 0, &less, ops);
        }
    }
    heap.sort_by(|&a, &b| s[b].partial_cmp(&s[a]).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(&b)));
    heap
}

/// The whole sparse path for one query with a counted selector, selection and an approximator of
/// the stated shape (its weights do not change the count, so it is counted, not evaluated).
pub fn sparse_query_counted(sel: &Selector, x: &[f64], k: usize) -> (Vec<usize>, Ops) {
    let mut ops = Ops::default();
    let s = sel.scores(x, &mut ops);
    let idx = top_k_counted(&s, k, &mut ops);
    let (h, hh) = (sel.h as u64, sel.hidden as u64);
    ops.n(2 * k as u64 * h * hh + hh + 2 * hh * h);
    (idx, ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_reconstruction_reproduces_the_sparse_column() {
        let rows = [(64, 5.8), (128, 12.6), (256, 29.4), (512, 75.5), (1024, 218.1), (2048, 704.6)];
        for (t, printed) in rows {
            let s = table_sparse(t, TABLE_HEAD_DIM, TABLE_HIDDEN, TABLE_K) / 1e6;
            assert!((s - printed).abs() <= 0.05, "T={t}: {s} vs {printed}");
        }
    }

    #[test]
    fn closed_forms_agree_with_counts() {
        let mut rng = crate::rng::seeded(3);
        for (t, d) in [(1, 1), (5, 3), (17, 8)] {
            let h = crate::data::synthetic::gaussian(&mut rng, t, d, d, 1.0);
            let w = |x: &[f32]| x.iter().map(|&a| a as f64).collect::<Vec<_>>();
            let (_, ops) = counted_attention(&w(&h.q), &w(&h.k), &w(&h.v), t, d, d, 1.0);
            assert_eq!(ops.0, full_per_sequence(t as u64, d as u64));
        }
        let causal: u64 = (0..10u64).map(|i| full_per_query(i + 1, 4)).sum();
        assert_eq!(causal, full_causal_per_sequence(10, 4));
    }
}
