//! Fast float32 causal implementations of the approximate methods timed by `bench pareto`, so that
//! their times are comparable with the tiled exact kernel ([`crate::reference::fast_f32`]): blocks of
//! query rows in parallel on the current rayon pool, the products through the `gemm` crate, the
//! exponentials through [`fast_f32::exp_slice`]. The reference implementations in
//! [`crate::methods`] compute in f64, one row at a time, single-threaded (they measure errors,
//! not speed); the tests below hold each fast version to its reference.
//!
//! * [`band_attention`]: softmax over keys j ≤ i with i − j ≤ `half` or j < `global` — the causal
//!   last-w window (`half` = w − 1, `global` = 0) and causal Longformer (window + global tokens;
//!   the first `global` rows see every earlier key anyway).
//! * [`topk_attention`]: oracle top-k: all causal scores of a row (an exact-cost pass), the k
//!   largest, softmax over them.
//! * [`performer_attention`]: FAVOR+ positive features, causal, in blocks: per block the
//!   intra-block part tril(φ(Q_b)φ(K_b)ᵀ)[V_b 1] and the inter-block part φ(Q_b)·S_{<b}, with
//!   S_{<b} = Σ_{j < b} φ(k_j)[v_j 1]ᵀ an exclusive prefix over blocks. Feature shifts: per query row
//!   its max projection (cancels in the ratio, as in [`crate::methods::performer`]); per key block
//!   its max of ω·k − ‖k‖²/2, rescaled to the running maximum over blocks ≤ b when the states are
//!   combined (the online-softmax trick), so row i only ever uses keys j ≤ i.
use crate::reference::Head;
use crate::reference::fast_f32::exp_slice;
use rayon::prelude::*;

/// Rows per parallel block.
const BLOCK: usize = 64;
/// Rows per block of the Performer (its per-block state is m × (dv+1)).
const PERF_BLOCK: usize = 128;

/// C (m×n, row stride `c_rs`, column stride 1) = A (m×k) · B (k×n) [+ C when `acc`], strides as
/// (row, column) in elements; single-threaded (callers parallelise over blocks).
#[allow(clippy::too_many_arguments)]
pub(crate) fn mm(
    m: usize,
    n: usize,
    k: usize,
    c: &mut [f32],
    c_rs: usize,
    acc: bool,
    a: &[f32],
    (a_rs, a_cs): (usize, usize),
    b: &[f32],
    (b_rs, b_cs): (usize, usize),
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !acc {
            for r in 0..m {
                c[r * c_rs..r * c_rs + n].iter_mut().for_each(|x| *x = 0.0);
            }
        }
        return;
    }
    assert!(c_rs >= n && (m - 1) * c_rs + n <= c.len(), "mm: C too small");
    assert!((m - 1) * a_rs + (k - 1) * a_cs < a.len(), "mm: A too small");
    assert!((k - 1) * b_rs + (n - 1) * b_cs < b.len(), "mm: B too small");
    // SAFETY: every index the strides reach is inside its slice (checked above); C does not alias
    // A or B (distinct borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            c_rs as isize,
            acc,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// Softmax of one score row in place (entries −∞ get weight 0); returns the sum of the weights
/// (after subtracting the max, so the sum is ≥ 1 when some entry is finite).
fn softmax_row(s: &mut [f32]) -> f32 {
    let mx = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if mx == f32::NEG_INFINITY {
        s.iter_mut().for_each(|x| *x = 0.0);
        return 0.0;
    }
    s.iter_mut().for_each(|x| *x -= mx);
    exp_slice(s);
    s.iter().sum()
}

/// Causal softmax attention restricted to keys j ≤ i with i − j ≤ `half` or j < `global`;
/// n × dv output, row-major.
pub fn band_attention(h: &Head<'_, f32>, half: usize, global: usize) -> Vec<f32> {
    let (n, d, dv) = (h.nq.min(h.nk), h.d, h.dv);
    let mut out = vec![0f32; n * dv];
    out.par_chunks_mut(BLOCK * dv).enumerate().for_each(|(b, ob)| {
        let b0 = b * BLOCK;
        let rows = ob.len() / dv;
        let b1 = b0 + rows;
        let lo = b0.saturating_sub(half);
        let g = global.min(lo);
        let nb = b1 - lo;
        let mut sg = vec![0f32; rows * g];
        let mut sb = vec![0f32; rows * nb];
        mm(rows, g, d, &mut sg, g, false, &h.q[b0 * d..], (d, 1), h.k, (1, d));
        mm(rows, nb, d, &mut sb, nb, false, &h.q[b0 * d..], (d, 1), &h.k[lo * d..], (1, d));
        let mut z = vec![0f32; rows];
        let mut row = vec![0f32; g + nb];
        for r in 0..rows {
            let i = b0 + r;
            row[..g].copy_from_slice(&sg[r * g..(r + 1) * g]);
            row[g..].copy_from_slice(&sb[r * nb..(r + 1) * nb]);
            for (t, x) in row[g..].iter_mut().enumerate() {
                let j = lo + t;
                if j > i || (i - j > half && j >= global) {
                    *x = f32::NEG_INFINITY;
                }
            }
            z[r] = softmax_row(&mut row);
            sg[r * g..(r + 1) * g].copy_from_slice(&row[..g]);
            sb[r * nb..(r + 1) * nb].copy_from_slice(&row[g..]);
        }
        mm(rows, dv, g, ob, dv, false, &sg, (g, 1), h.v, (dv, 1));
        mm(rows, dv, nb, ob, dv, g > 0, &sb, (nb, 1), &h.v[lo * dv..], (dv, 1));
        for r in 0..rows {
            let inv = 1.0 / z[r];
            ob[r * dv..(r + 1) * dv].iter_mut().for_each(|x| *x *= inv);
        }
    });
    out
}

/// Oracle top-k causal attention: row i is softmax over the k largest scores q_i·k_j, j ≤ i (all
/// of them when i < k). Computes every causal score (exact cost) plus a selection per row.
pub fn topk_attention(h: &Head<'_, f32>, k: usize) -> Vec<f32> {
    let (n, d, dv) = (h.nq.min(h.nk), h.d, h.dv);
    let k = k.max(1);
    let mut out = vec![0f32; n * dv];
    out.par_chunks_mut(BLOCK * dv).enumerate().for_each(|(b, ob)| {
        let b0 = b * BLOCK;
        let rows = ob.len() / dv;
        let b1 = b0 + rows;
        let mut s = vec![0f32; rows * b1];
        mm(rows, b1, d, &mut s, b1, false, &h.q[b0 * d..], (d, 1), h.k, (1, d));
        let mut idx: Vec<u32> = Vec::with_capacity(b1);
        let mut w: Vec<f32> = Vec::with_capacity(k);
        for r in 0..rows {
            let i = b0 + r;
            let sr = &s[r * b1..r * b1 + i + 1];
            idx.clear();
            idx.extend(0..=i as u32);
            if idx.len() > k {
                idx.select_nth_unstable_by(k - 1, |&a, &c| sr[c as usize].total_cmp(&sr[a as usize]));
                idx.truncate(k);
            }
            w.clear();
            w.extend(idx.iter().map(|&j| sr[j as usize]));
            let z = softmax_row(&mut w);
            let o = &mut ob[r * dv..(r + 1) * dv];
            for (&j, &p) in idx.iter().zip(&w) {
                let vj = &h.v[j as usize * dv..(j as usize + 1) * dv];
                o.iter_mut().zip(vj).for_each(|(x, y)| *x += p * y);
            }
            o.iter_mut().for_each(|x| *x /= z);
        }
    });
    out
}

/// Causal FAVOR+ with the m × d directions `omega` (row-major, e.g. from
/// [`crate::methods::performer::omegas`]); n × dv output. Rows whose normaliser under- or
/// overflows come out non-finite (the caller reports them).
pub fn performer_attention(h: &Head<'_, f32>, omega: &[f64]) -> Vec<f32> {
    let (n, d, dv) = (h.nq.min(h.nk), h.d, h.dv);
    let m = omega.len() / d.max(1);
    let om: Vec<f32> = omega.iter().map(|&x| x as f32).collect();
    let c = dv + 1;
    let nblk = n.div_ceil(PERF_BLOCK);
    // Key features per block (shift c_b = the block's max of ω·k − ‖k‖²/2) and [v 1].
    let mut fk = vec![0f32; n * m];
    let mut cb = vec![0f32; nblk];
    let mut ds = vec![0f32; nblk * m * c];
    let mut v1 = vec![1f32; n * c];
    v1.par_chunks_mut(c).zip(h.v.par_chunks(dv)).for_each(|(a, v)| a[..dv].copy_from_slice(v));
    fk.par_chunks_mut(PERF_BLOCK * m).zip(cb.par_iter_mut()).zip(ds.par_chunks_mut(m * c)).enumerate().for_each(
        |(b, ((f, cmax), s))| {
            let b0 = b * PERF_BLOCK;
            let rows = f.len() / m;
            mm(rows, m, d, f, m, false, &h.k[b0 * d..], (d, 1), &om, (1, d));
            let mut mx = f32::NEG_INFINITY;
            for r in 0..rows {
                let kr = &h.k[(b0 + r) * d..(b0 + r + 1) * d];
                let sq: f32 = kr.iter().map(|x| x * x).sum::<f32>() / 2.0;
                let fr = &mut f[r * m..(r + 1) * m];
                fr.iter_mut().for_each(|x| *x -= sq);
                mx = fr.iter().copied().fold(mx, f32::max);
            }
            f.iter_mut().for_each(|x| *x -= mx);
            exp_slice(f);
            *cmax = mx;
            // ΔS_b = φ(K_b)ᵀ [V_b 1]  (m × c).
            mm(m, c, rows, s, c, false, f, (1, m), &v1[b0 * c..], (c, 1));
        },
    );
    // Exclusive prefix over blocks: ds[b] ← S_{<b} in the shift prev[b] (the running max before b).
    let mut prev = vec![f32::NEG_INFINITY; nblk];
    let mut acc = vec![0f32; m * c];
    let mut acc_m = f32::NEG_INFINITY;
    for b in 0..nblk {
        let s = &mut ds[b * m * c..(b + 1) * m * c];
        prev[b] = acc_m;
        let new_m = acc_m.max(cb[b]);
        let (ea, eb) = (if acc_m == f32::NEG_INFINITY { 0.0 } else { (acc_m - new_m).exp() }, (cb[b] - new_m).exp());
        for (a, x) in acc.iter_mut().zip(s.iter_mut()) {
            let delta = *x;
            *x = *a;
            *a = *a * ea + delta * eb;
        }
        acc_m = new_m;
    }
    let mut out = vec![0f32; n * dv];
    out.par_chunks_mut(PERF_BLOCK * dv).enumerate().for_each(|(b, ob)| {
        let b0 = b * PERF_BLOCK;
        let rows = ob.len() / dv;
        let mb = prev[b].max(cb[b]);
        let alpha = if prev[b] == f32::NEG_INFINITY { 0.0 } else { (prev[b] - mb).exp() };
        let beta = (cb[b] - mb).exp();
        // Query features, shifted by each row's max projection.
        let mut fq = vec![0f32; rows * m];
        mm(rows, m, d, &mut fq, m, false, &h.q[b0 * d..], (d, 1), &om, (1, d));
        for r in 0..rows {
            let fr = &mut fq[r * m..(r + 1) * m];
            let mx = fr.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            fr.iter_mut().for_each(|x| *x -= mx);
        }
        exp_slice(&mut fq);
        let mut num = vec![0f32; rows * c];
        // Inter-block: α·φ(Q_b)·S_{<b}.
        mm(rows, c, m, &mut num, c, false, &fq, (m, 1), &ds[b * m * c..(b + 1) * m * c], (c, 1));
        num.iter_mut().for_each(|x| *x *= alpha);
        // Intra-block: β·tril(φ(Q_b) φ(K_b)ᵀ)·[V_b 1].
        let mut a = vec![0f32; rows * rows];
        mm(rows, rows, m, &mut a, rows, false, &fq, (m, 1), &fk[b0 * m..], (1, m));
        for r in 0..rows {
            for (t, x) in a[r * rows..(r + 1) * rows].iter_mut().enumerate() {
                *x = if t <= r { *x * beta } else { 0.0 };
            }
        }
        mm(rows, c, rows, &mut num, c, true, &a, (rows, 1), &v1[b0 * c..], (c, 1));
        for r in 0..rows {
            let z = num[r * c + dv];
            for t in 0..dv {
                ob[r * dv + t] = num[r * c + t] / z;
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::keyset::KeySet;
    use crate::methods::performer::{Performer, omegas};
    use crate::methods::{AttentionMethod, Request};
    use crate::reference::Mask;

    fn head(n: usize, d: usize, seed: u64, scale: f64) -> crate::data::synthetic::SynthHead {
        crate::data::synthetic::gaussian(&mut crate::rng::seeded(seed), n, d, d, scale)
    }

    fn max_diff(a: &[f32], b: &[f64]) -> f64 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (*x as f64 - y).abs()).fold(0.0, f64::max)
    }

    #[test]
    fn band_matches_keyset_reference() {
        // n not a multiple of the block; windows crossing blocks; globals beyond and inside the band.
        let g = head(301, 16, 3, 3.0);
        let h = g.head().unwrap();
        for (half, global) in [(0, 0), (9, 0), (70, 0), (31, 2), (5, 100), (400, 0)] {
            let fast = band_attention(&h, half, global);
            let refm = KeySet::Longformer { half_window: half, global };
            let r = refm.forward(&h, &Request::new(Mask::Causal, 0)).unwrap();
            let e = max_diff(&fast, &r.out);
            assert!(e < 2e-5, "half {half} global {global}: {e}");
        }
        // The last-w window is the band with half = w − 1.
        let fast = band_attention(&h, 9, 0);
        let r = KeySet::LastWindow { w: 10 }.forward(&h, &Request::new(Mask::Causal, 0)).unwrap();
        assert!(max_diff(&fast, &r.out) < 2e-5);
    }

    #[test]
    fn topk_matches_keyset_reference() {
        let g = head(200, 16, 4, 3.0);
        let h = g.head().unwrap();
        for k in [1, 7, 64, 500] {
            let fast = topk_attention(&h, k);
            let r = KeySet::TopK { k }.forward(&h, &Request::new(Mask::Causal, 0)).unwrap();
            let e = max_diff(&fast, &r.out);
            assert!(e < 2e-5, "k {k}: {e}");
        }
    }

    #[test]
    fn performer_matches_reference_and_is_causal() {
        let g = head(333, 16, 5, 2.0);
        let h = g.head().unwrap();
        for m in [8, 64] {
            let om = omegas(9, h.d, m, true);
            let fast = performer_attention(&h, &om);
            let r = Performer { features: m, orthogonal: true }.forward(&h, &Request::new(Mask::Causal, 9)).unwrap();
            let vmax = g.v.iter().fold(0f64, |a, x| a.max(x.abs() as f64));
            let e = max_diff(&fast, &r.out);
            assert!(e < 1e-3 * vmax, "m {m}: {e}");
            // Changing the future (keys and values after row 150) leaves rows ≤ 150 unchanged.
            let (mut k2, mut v2) = (g.k.clone(), g.v.clone());
            k2[151 * h.d..].iter_mut().for_each(|x| *x = -*x * 3.0);
            v2[151 * h.dv..].iter_mut().for_each(|x| *x += 5.0);
            let h2 = Head::new(&g.q, &k2, &v2, g.n, g.d, g.dv).unwrap();
            let f2 = performer_attention(&h2, &om);
            // Same block of rows 128..256 sees a different block maximum: allow rounding.
            let leak = fast[..151 * h.dv].iter().zip(&f2).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(leak < 1e-4, "m {m}: causal leak {leak}");
        }
    }
}
