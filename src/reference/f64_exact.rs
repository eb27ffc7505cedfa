//! Float64 exact softmax attention — the oracle.
//!
//! For query row i with key set J(i):
//! $$o_i = \frac{\sum_{j\in J(i)} e^{s_{ij}-m_i} v_j}{\sum_{j\in J(i)} e^{s_{ij}-m_i}},\quad
//!   s_{ij} = q_i\cdot k_j,\ m_i = \max_{j\in J(i)} s_{ij}$$
//! with J(i) = all keys ([`Mask::Full`]), keys j ≤ i ([`Mask::Causal`]) or keys j < i
//! ([`Mask::StrictPrefix`], note `001_adfd34b1610b4d26.txt`: x_α = f(q_{α+1}, k_{1..α}, v_{1..α})).
//! Scores, normaliser and numerators are Neumaier-compensated sums; subtracting m_i makes every
//! exponential ≤ 1 so nothing overflows whatever the key norms. Rows are independent and computed in
//! parallel; each row's arithmetic is sequential, so the result is identical for any thread count.
use super::Head;
use super::sum::Neumaier;
use rayon::prelude::*;

/// Which keys query i sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// All keys.
    Full,
    /// Keys j ≤ i (inclusive causal; the usual decoder mask).
    Causal,
    /// Keys j < i (note 001's prefix problem). Row 0 has no keys; its output is not defined and
    /// [`attention_f64`] returns rows 1..n only, so row α−1 of the result is the note's x_α.
    StrictPrefix,
}

impl Mask {
    /// Key range of query row i (0-based) among `nk` keys.
    pub fn keys(self, i: usize, nk: usize) -> std::ops::Range<usize> {
        match self {
            Mask::Full => 0..nk,
            Mask::Causal => 0..(i + 1).min(nk),
            Mask::StrictPrefix => 0..i.min(nk),
        }
    }
    /// The query rows that have an output.
    pub fn rows(self, nq: usize) -> std::ops::Range<usize> {
        match self {
            Mask::StrictPrefix => 1.min(nq)..nq,
            _ => 0..nq,
        }
    }
}

/// Result of the reference: outputs and the log-normaliser of every row.
#[derive(Debug, Clone)]
pub struct ExactOut {
    /// `rows × dv`, row-major, rows as in [`Mask::rows`].
    pub out: Vec<f64>,
    /// log Σ_j exp(s_ij), per output row.
    pub lse: Vec<f64>,
    pub dv: usize,
}

/// One row of exact attention: writes `o` (length dv) and returns log Σ exp(s).
pub fn row_f64(q: &[f64], keys: &[f64], vals: &[f64], d: usize, dv: usize, o: &mut [f64]) -> f64 {
    let nk = keys.len() / d;
    let s: Vec<f64> = (0..nk)
        .map(|j| {
            let mut acc = Neumaier::new();
            for (a, b) in q.iter().zip(&keys[j * d..(j + 1) * d]) {
                acc.add(a * b);
            }
            acc.value()
        })
        .collect();
    row_from_logits(&s, vals, dv, o)
}

/// One row of attention from given logits ℓ_j (not necessarily dot products): o = Σ e^{ℓ_j − m} v_j /
/// Σ e^{ℓ_j − m}, compensated; returns log Σ e^{ℓ_j}.
pub fn row_from_logits(logits: &[f64], vals: &[f64], dv: usize, o: &mut [f64]) -> f64 {
    let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut z = Neumaier::new();
    let mut num = vec![Neumaier::new(); dv];
    for (j, &l) in logits.iter().enumerate() {
        let w = (l - m).exp();
        z.add(w);
        for (c, acc) in num.iter_mut().enumerate() {
            acc.add(w * vals[j * dv + c]);
        }
    }
    let z = z.value();
    for (oc, acc) in o.iter_mut().zip(&num) {
        *oc = acc.value() / z;
    }
    m + z.ln()
}

/// Stable log-softmax: ℓ_j − (m + log Σ e^{ℓ−m}).
pub fn log_softmax(logits: &[f64]) -> Vec<f64> {
    let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + super::sum::sum(logits.iter().map(|l| (l - m).exp())).ln();
    logits.iter().map(|l| l - lse).collect()
}

/// Exact attention of a head under `mask`, in float64.
pub fn attention_f64(h: &Head<'_, f64>, mask: Mask) -> ExactOut {
    let rows = mask.rows(h.nq);
    let dv = h.dv;
    let mut out = vec![0.0; rows.len() * dv];
    let mut lse = vec![0.0; rows.len()];
    out.par_chunks_mut(dv.max(1)).zip(lse.par_iter_mut()).enumerate().for_each(|(r, (o, l))| {
        let i = rows.start + r;
        let keys = mask.keys(i, h.nk);
        *l = row_f64(
            h.q_row(i),
            &h.k[keys.start * h.d..keys.end * h.d],
            &h.v[keys.start * dv..keys.end * dv],
            h.d,
            dv,
            o,
        );
    });
    ExactOut { out, lse, dv }
}

/// The strict-prefix problem written literally from note 001, 1-based:
/// x_α = Σ_{β=1}^{α} exp(k_β·q_{α+1}) v_β / Σ_{β=1}^{α} exp(k_β·q_{α+1}), α = 1..n−1,
/// with no max subtraction and plain summation: a cross-check of [`attention_f64`] on small,
/// well-scaled inputs only (it overflows for large scores, which is why the reference subtracts m).
/// `offset` is the note's query offset (1: x_α uses q_{α+1}); rows whose query would fall outside
/// the sequence are left out.
pub fn strict_prefix_literal(h: &Head<'_, f64>, offset: usize) -> Vec<f64> {
    let (n, dv) = (h.nq, h.dv);
    let mut x = Vec::with_capacity(n.saturating_sub(1) * dv);
    for alpha in 1..n {
        if alpha + offset > n || alpha + offset == 0 {
            continue;
        }
        let q = h.q_row(alpha + offset - 1); // q_{α+offset} in 1-based numbering
        let mut num = vec![0.0; dv];
        let mut den = 0.0;
        for beta in 0..alpha {
            let w = h.k_row(beta).iter().zip(q).map(|(a, b)| a * b).sum::<f64>().exp();
            den += w;
            for c in 0..dv {
                num[c] += w * h.v_row(beta)[c];
            }
        }
        x.extend(num.iter().map(|u| u / den));
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_case_two_keys() {
        // q·k = (0, ln 3): weights 1/4, 3/4.
        let q = [1.0];
        let k = [0.0, 3f64.ln()];
        let v = [4.0, 8.0];
        let h = Head { q: &q, k: &k, v: &v, nq: 1, nk: 2, d: 1, dv: 1 };
        let r = attention_f64(&h, Mask::Full);
        assert!((r.out[0] - 7.0).abs() < 1e-15);
        assert!((r.lse[0] - 4f64.ln()).abs() < 1e-15);
    }

    #[test]
    fn huge_scores_do_not_overflow() {
        let q = [1000.0];
        let k = [1000.0, 999.0];
        let v = [1.0, -1.0];
        let h = Head { q: &q, k: &k, v: &v, nq: 1, nk: 2, d: 1, dv: 1 };
        let r = attention_f64(&h, Mask::Full);
        assert!(r.out[0].is_finite() && r.out[0] > 0.99);
    }

    #[test]
    fn causal_first_row_is_first_value_and_strict_prefix_drops_row_zero() {
        let q = [0.3, -0.2, 0.5];
        let k = [0.1, 0.7, -0.4];
        let v = [2.0, 5.0, -1.0];
        let h = Head { q: &q, k: &k, v: &v, nq: 3, nk: 3, d: 1, dv: 1 };
        let c = attention_f64(&h, Mask::Causal);
        assert_eq!(c.out[0], 2.0);
        let p = attention_f64(&h, Mask::StrictPrefix);
        assert_eq!(p.out.len(), 2);
        assert_eq!(p.out[0], 2.0);
    }
}
