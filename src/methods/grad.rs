//! Analytic backward passes of the softmax-over-a-key-set methods (exact, every key-set method) and
//! of sparsemax, for the scalar loss L = Σ_{r,c} g_{rc} o_{rc} (a fixed direction g); and a
//! complex-step derivative of the same loss, which checks them.
//!
//! **Softmax on a key set S(i)** (selection held fixed: it is piecewise constant in Q, K, so its
//! derivative is zero almost everywhere): with p_j = softmax_S(s)_j, s_j = q_i·k_j,
//! dV_j += p_j g_i, dP_j = g_i·v_j, dS_j = p_j (dP_j − g_i·o_i), dQ_i += Σ_j dS_j k_j,
//! dK_j += dS_j q_i.
//! **Sparsemax** p = sparsemax(s) with support T: ∂p/∂s = diag(1_T) − 1_T 1_Tᵀ/|T|, so
//! dS_j = dP_j − mean_{l∈T} dP_l on T and 0 elsewhere.
//!
//! **Complex step** (Squire & Trapp 1998): for f analytic near x, f'(x) = Im f(x + iη)/η + O(η²);
//! with η = 1e-30 the truncation term is far below rounding and there is no cancellation, so it is
//! forward-mode differentiation. Both it and the analytic backward are sums of products evaluated
//! in f64; in the standard model (Higham, Lemma 3.1) each carries at most γ_N times the same
//! expression with every factor replaced by its absolute value (the "absolute gradient" A computed
//! by [`softmax_backward_abs`]), N = 2(nk + d + dv) + 8 (score dot d, exp 2, normaliser nk, dP dot
//! dv, Σp·dP nk, accumulation of dQ/dK/dV nk + d, divisions and products 6). So
//! |analytic − complex step| ≤ 2 γ_N A entrywise.
use super::Grads;
use crate::Result;
use crate::reference::{Head, Mask};
use nalgebra::Complex;

type Keys<'a> = &'a dyn Fn(usize) -> Vec<usize>;

fn check_g(h: &Head<'_, f32>, mask: Mask, g: &[f64]) -> Result<()> {
    let rows = mask.rows(h.nq).len();
    if g.len() != rows * h.dv {
        return Err(crate::Error::invalid(
            "loss direction g",
            format!("expected {rows}×{} values, got {}", h.dv, g.len()),
        ));
    }
    Ok(())
}

fn backward_impl(h: &Head<'_, f32>, mask: Mask, g: &[f64], keys: Keys<'_>, abs: bool, sparse: bool) -> Result<Grads> {
    check_g(h, mask, g)?;
    let (d, dv) = (h.d, h.dv);
    let f = |x: f64| if abs { x.abs() } else { x };
    let mut gr = Grads { dq: vec![0.0; h.nq * d], dk: vec![0.0; h.nk * d], dv: vec![0.0; h.nk * dv] };
    for (r, i) in mask.rows(h.nq).enumerate() {
        let ks = keys(i);
        if ks.is_empty() {
            continue;
        }
        let gi = &g[r * dv..(r + 1) * dv];
        let s: Vec<f64> = ks.iter().map(|&j| super::dot(h.q_row(i), h.k_row(j))).collect();
        let p = if sparse { super::sparsemax::sparsemax(&s) } else { softmax(&s) };
        let mut o = vec![0.0; dv];
        for (t, &j) in ks.iter().enumerate() {
            for c in 0..dv {
                o[c] += p[t] * h.v_row(j)[c] as f64;
            }
        }
        let dp: Vec<f64> = ks.iter().map(|&j| (0..dv).map(|c| f(gi[c]) * f(h.v_row(j)[c] as f64)).sum()).collect();
        let ds: Vec<f64> = if sparse {
            let supp: Vec<usize> = (0..ks.len()).filter(|&t| p[t] > 0.0).collect();
            let mean = supp.iter().map(|&t| dp[t]).sum::<f64>() / supp.len().max(1) as f64;
            (0..ks.len())
                .map(|t| if p[t] > 0.0 { if abs { dp[t] + mean } else { dp[t] - mean } } else { 0.0 })
                .collect()
        } else {
            let go: f64 = (0..dv).map(|c| f(gi[c]) * f(o[c])).sum();
            (0..ks.len()).map(|t| p[t] * if abs { dp[t] + go } else { dp[t] - go }).collect()
        };
        for (t, &j) in ks.iter().enumerate() {
            for c in 0..dv {
                gr.dv[j * dv + c] += p[t] * f(gi[c]);
            }
            for a in 0..d {
                gr.dq[i * d + a] += ds[t] * f(h.k_row(j)[a] as f64);
                gr.dk[j * d + a] += ds[t] * f(h.q_row(i)[a] as f64);
            }
        }
    }
    Ok(gr)
}

/// Stable softmax of a slice.
pub fn softmax(s: &[f64]) -> Vec<f64> {
    let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
    let z = crate::reference::sum::sum(e.iter().cloned());
    e.into_iter().map(|x| x / z).collect()
}

/// Gradients of L = Σ g ⊙ O for softmax restricted to the key sets `keys(i)`.
pub fn softmax_backward(h: &Head<'_, f32>, mask: Mask, g: &[f64], keys: Keys<'_>) -> Result<Grads> {
    backward_impl(h, mask, g, keys, false, false)
}

/// The absolute gradient A of the module doc (every factor replaced by its absolute value).
pub fn softmax_backward_abs(h: &Head<'_, f32>, mask: Mask, g: &[f64], keys: Keys<'_>, sparse: bool) -> Result<Grads> {
    backward_impl(h, mask, g, keys, true, sparse)
}

/// Gradients of L = Σ g ⊙ O for sparsemax over the key sets `keys(i)`.
pub fn sparsemax_backward(h: &Head<'_, f32>, mask: Mask, g: &[f64], keys: Keys<'_>) -> Result<Grads> {
    backward_impl(h, mask, g, keys, false, true)
}

/// L(Q, K, V) in complex arithmetic (inputs given as complex), softmax or sparsemax (support from the
/// real parts) over the key sets.
fn loss_complex(
    q: &[Complex<f64>],
    k: &[Complex<f64>],
    v: &[Complex<f64>],
    n: usize,
    d: usize,
    dv: usize,
    mask: Mask,
    g: &[f64],
    keys: Keys<'_>,
    sparse: bool,
) -> Complex<f64> {
    let mut l = Complex::new(0.0, 0.0);
    for (r, i) in mask.rows(n).enumerate() {
        let ks = keys(i);
        if ks.is_empty() {
            continue;
        }
        let s: Vec<Complex<f64>> = ks.iter().map(|&j| (0..d).map(|a| q[i * d + a] * k[j * d + a]).sum()).collect();
        let p: Vec<Complex<f64>> = if sparse {
            let pr = super::sparsemax::sparsemax(&s.iter().map(|z| z.re).collect::<Vec<_>>());
            let supp: Vec<usize> = (0..ks.len()).filter(|&t| pr[t] > 0.0).collect();
            let tau = (supp.iter().map(|&t| s[t]).sum::<Complex<f64>>() - 1.0) / supp.len() as f64;
            (0..ks.len()).map(|t| if pr[t] > 0.0 { s[t] - tau } else { Complex::new(0.0, 0.0) }).collect()
        } else {
            let m = s.iter().map(|z| z.re).fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<Complex<f64>> = s.iter().map(|z| (z - m).exp()).collect();
            let zsum: Complex<f64> = e.iter().sum();
            e.into_iter().map(|x| x / zsum).collect()
        };
        for (t, &j) in ks.iter().enumerate() {
            for c in 0..dv {
                l += p[t] * v[j * dv + c] * g[r * dv + c];
            }
        }
    }
    l
}

/// Complex-step gradient of L (one complex evaluation per input coordinate: use small heads).
pub fn complex_step(h: &Head<'_, f32>, mask: Mask, g: &[f64], keys: Keys<'_>, sparse: bool) -> Result<Grads> {
    check_g(h, mask, g)?;
    let eta = 1e-30;
    let c = |x: &[f32]| x.iter().map(|&a| Complex::new(a as f64, 0.0)).collect::<Vec<_>>();
    let (mut q, mut k, mut v) = (c(h.q), c(h.k), c(h.v));
    let mut out = Grads { dq: vec![0.0; q.len()], dk: vec![0.0; k.len()], dv: vec![0.0; v.len()] };
    for which in 0..3 {
        let len = [q.len(), k.len(), v.len()][which];
        for idx in 0..len {
            let buf = match which {
                0 => &mut q,
                1 => &mut k,
                _ => &mut v,
            };
            buf[idx].im = eta;
            let l = loss_complex(&q, &k, &v, h.nq, h.d, h.dv, mask, g, keys, sparse);
            let buf = match which {
                0 => &mut q,
                1 => &mut k,
                _ => &mut v,
            };
            buf[idx].im = 0.0;
            let dst = match which {
                0 => &mut out.dq,
                1 => &mut out.dk,
                _ => &mut out.dv,
            };
            dst[idx] = l.im / eta;
        }
    }
    Ok(out)
}

/// N of the module doc.
pub fn rounding_terms(nk: usize, d: usize, dv: usize) -> usize {
    2 * (nk + d + dv) + 8
}

/// Concatenated (dQ, dK, dV).
pub fn flat(g: &Grads) -> Vec<f64> {
    g.dq.iter().chain(&g.dk).chain(&g.dv).cloned().collect()
}

/// Cosine similarity of two vectors (NaN when either is zero).
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let ab: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let aa: f64 = a.iter().map(|x| x * x).sum();
    let bb: f64 = b.iter().map(|x| x * x).sum();
    ab / (aa.sqrt() * bb.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::theory::fp::{U64, gamma};

    #[test]
    fn analytic_backward_matches_the_complex_step() {
        let s = crate::data::synthetic::gaussian(&mut crate::rng::seeded(3), 7, 3, 2, 2.0);
        let h = Head::new(&s.q, &s.k, &s.v, 7, 3, 2).unwrap();
        for mask in [Mask::Full, Mask::Causal] {
            let g: Vec<f64> = (0..7 * 2).map(|i| ((i * 7919) % 13) as f64 / 6.0 - 1.0).collect();
            let all = |i: usize| mask.keys(i, 7).collect::<Vec<_>>();
            let window = |i: usize| mask.keys(i, 7).filter(|j| i.abs_diff(*j) <= 2).collect::<Vec<_>>();
            for (keys, sparse) in [(&all as Keys<'_>, false), (&window as Keys<'_>, false), (&all as Keys<'_>, true)] {
                let an =
                    if sparse { sparsemax_backward(&h, mask, &g, keys) } else { softmax_backward(&h, mask, &g, keys) }
                        .unwrap();
                let cs = complex_step(&h, mask, &g, keys, sparse).unwrap();
                let ab = softmax_backward_abs(&h, mask, &g, keys, sparse).unwrap();
                let tol = 2.0 * gamma(rounding_terms(7, 3, 2), U64);
                for ((a, c), b) in flat(&an).iter().zip(flat(&cs)).zip(flat(&ab)) {
                    assert!((a - c).abs() <= tol * b, "{a} vs {c} (A = {b})");
                }
                assert!(flat(&an).iter().any(|x| x.abs() > 1e-3));
            }
        }
    }
}
