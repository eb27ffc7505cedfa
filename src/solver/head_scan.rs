//! The statistics a tree-planned solve needs from Q, K and V — ‖q_i‖ per row, max_j ‖k_j‖,
//! max|v| — and the input check, in one pass over the three buffers.
//!
//! [`crate::reference::Head::check_values`] reads Q, K and V once (finiteness, max|x|), and the
//! statistics read them again; at n = 2^17, d = 64 that is 96 MiB twice. Here each piece of rows is
//! read once, by code compiled for the CPU's widest vectors (`per_isa!`), and the check's verdict is
//! derived from the statistics:
//!
//! * **finiteness.** A row's Σ x² in f64 of f32 values is finite iff every value is: a square is at
//!   most (3.4·10³⁸)² ≈ 1.2·10⁷⁷ and a row of d ≤ 10²³⁰ of them stays below f64's 1.8·10³⁰⁸, while a
//!   NaN or ±∞ makes the sum NaN or +∞. For V, [`crate::theory::fp::scan`]'s own flag.
//! * **representable scores.** The check asks d·max|q|·max|k| < F/4 (F the largest f32); every
//!   entry is at most its row's norm, and the norms here are rounded up
//!   ([`crate::theory::solver::norm_up`]), so d·max_i‖q_i‖·max_j‖k_j‖ < F/4 implies it.
//! * **representable sums.** n·max|v| < F/4, with the same max|v|.
//!
//! When any of these is not established (a non-finite value, or norms too large to decide), the
//! caller runs the full check, which names the offending value or bound — so a head is accepted or
//! rejected exactly as by [`crate::reference::Head::check`], with the same message.
//!
//! The values are those of the separate passes: each row's Σ x² by [`crate::theory::fp::sum_sq_f64`]
//! (fixed lane order, so the same bits on every vector width) and maxima (exact in any order).
//! Session 17, 2-core Xeon (AVX-512), clustered n = 2^17: the check 5.3–5.5 ms and the statistics
//! 9–13 ms before (throw-away timers); see `docs/performance.md` for the fused pass.
use crate::reference::Head;
use crate::theory::fp::{scan, sum_sq_f64};
use crate::theory::solver::norm_up;
use rayon::prelude::*;

/// Rows per piece of the pass (a piece of Q, K and V at d = 64 is 3 × 256 KiB).
const PIECE_ROWS: usize = 1024;

/// Statistics of a head for the solver, and whether they prove the head passes
/// [`crate::reference::Head::check_values`].
pub struct HeadScan {
    /// ‖q_i‖, rounded up.
    pub qnorm: Vec<f64>,
    /// max_i ‖q_i‖ (rounded up).
    pub qmax: f64,
    /// max_j ‖k_j‖ (rounded up).
    pub kmax: f64,
    /// max |v| (exact).
    pub vmax: f64,
    /// true: every value is finite and scores and weighted sums are representable (the check
    /// passes); false: undecided here, the caller must run the check.
    pub checked: bool,
}

/// What one piece of rows gives: (Q and K finite, max ‖k‖² computed, V finite, max|v|).
type Piece = (bool, f64, bool, f32);

#[inline(always)]
fn piece_body(q: &[f32], k: &[f32], v: &[f32], d: usize, qn: &mut [f64]) -> Piece {
    let mut finite = true;
    for (o, r) in qn.iter_mut().zip(q.chunks_exact(d)) {
        let s = sum_sq_f64(r);
        finite &= s.is_finite();
        *o = norm_up(s.sqrt(), d);
    }
    let mut kmax = 0.0f64;
    for r in k.chunks_exact(d) {
        let s = sum_sq_f64(r);
        finite &= s.is_finite();
        kmax = if s > kmax { s } else { kmax };
    }
    let (vfinite, vmax) = scan(v);
    (finite, kmax, vfinite, vmax)
}

per_isa! {
    fn piece(q: &[f32], k: &[f32], v: &[f32], d: usize, qn: &mut [f64]) -> Piece = piece_body;
}

/// One parallel pass over the head's rows (self-attention: nq = nk; shapes already checked).
pub fn scan_head(h: &Head<'_, f32>) -> HeadScan {
    let (n, d, dv) = (h.nq, h.d.max(1), h.dv.max(1));
    debug_assert_eq!(h.nq, h.nk);
    let mut qnorm = vec![0.0f64; n];
    let (finite, ksq, vfinite, vmax) = qnorm
        .par_chunks_mut(PIECE_ROWS)
        .zip(h.q.par_chunks(PIECE_ROWS * d))
        .zip(h.k.par_chunks(PIECE_ROWS * d))
        .zip(h.v.par_chunks(PIECE_ROWS * dv))
        .map(|(((qn, q), k), v)| piece(q, k, v, d, qn))
        .reduce(
            || (true, 0.0, true, 0.0),
            |(f1, k1, g1, v1), (f2, k2, g2, v2)| (f1 & f2, if k2 > k1 { k2 } else { k1 }, g1 & g2, v1.max(v2)),
        );
    let qmax = qnorm.par_iter().cloned().reduce(|| 0.0, f64::max);
    let kmax = norm_up(ksq.sqrt(), d);
    let vmax = vmax as f64;
    let big = f32::MAX as f64;
    let checked = finite && vfinite && (d as f64) * qmax * kmax < big / 4.0 && n as f64 * vmax < big / 4.0;
    HeadScan { qnorm, qmax, kmax, vmax, checked }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::Mask;
    use crate::solver::{SolverOptions, planner::Force, solve};

    /// The separate passes the one-pass scan replaced: ‖q_i‖ row by row, max_j ‖k_j‖, max|v|.
    fn separate(h: &Head<'_, f32>) -> (Vec<f64>, f64, f64) {
        let d = h.d;
        let qn: Vec<f64> = h.q.chunks_exact(d).map(|r| norm_up(sum_sq_f64(r).sqrt(), d)).collect();
        let ksq = h.k.chunks_exact(d).map(sum_sq_f64).fold(0.0f64, f64::max);
        (qn, norm_up(ksq.sqrt(), d), crate::theory::fp::max_abs_f64(h.v))
    }

    #[test]
    fn one_pass_statistics_are_the_bits_of_the_separate_passes() {
        let mut rng = crate::rng::seeded(23);
        for (n, d, dv) in [(1, 1, 1), (5, 3, 2), (1023, 64, 64), (1025, 64, 32), (3000, 7, 5), (2 * PIECE_ROWS, 32, 3)] {
            let s = crate::data::synthetic::gaussian(&mut rng, n, d, dv, 3.0);
            let h = Head { q: &s.q, k: &s.k, v: &s.v, nq: n, nk: n, d, dv };
            let hs = scan_head(&h);
            let (qn, kmax, vmax) = separate(&h);
            let bits = |x: &[f64]| x.iter().map(|y| y.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&hs.qnorm), bits(&qn), "n = {n}, d = {d}");
            assert_eq!(hs.qmax.to_bits(), qn.iter().cloned().fold(0.0, f64::max).to_bits());
            assert_eq!((hs.kmax.to_bits(), hs.vmax.to_bits()), (kmax.to_bits(), vmax.to_bits()), "n = {n}");
            assert!(hs.checked && h.check_values().is_ok());
        }
    }

    /// `checked` is never true for a head the check refuses, is false for every non-finite value
    /// (NaN, ±∞ in Q, K or V, in any piece), and the tree-planned solve then reports the check's
    /// own error; heads near the overflow limits are accepted or refused exactly as by the check.
    #[test]
    fn the_scan_accepts_only_what_the_check_accepts_and_the_solve_reports_the_checks_error() {
        let (n, d, dv) = (2 * PIECE_ROWS + 17, 4, 3);
        let mut rng = crate::rng::seeded(29);
        let s = crate::data::synthetic::gaussian(&mut rng, n, d, dv, 1.0);
        let opts = SolverOptions { force: Some(Force::Tree), ..SolverOptions::default() };
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for which in 0..3 {
                for at in [0, 5, PIECE_ROWS * d + 1, n * dv - 1] {
                    let (mut q, mut k, mut v) = (s.q.clone(), s.k.clone(), s.v.clone());
                    match which {
                        0 => q[at.min(n * d - 1)] = bad,
                        1 => k[at.min(n * d - 1)] = bad,
                        _ => v[at] = bad,
                    }
                    let h = Head { q: &q, k: &k, v: &v, nq: n, nk: n, d, dv };
                    assert!(!scan_head(&h).checked, "{bad} in input {which} at {at}");
                    let want = h.check_values().unwrap_err().to_string();
                    assert!(want.contains("non-finite"), "{want}");
                    let got = solve(&h, Mask::Causal, 1e-2, &opts).unwrap_err().to_string();
                    assert_eq!(got, want);
                }
            }
        }
        // Entries around the overflow limits: d·max|q|·max|k| against F/4, n·max|v| against F/4.
        let big = f32::MAX as f64 / 4.0;
        let mut outcomes = Vec::new();
        for (qs, ks, vs) in [
            ((big / d as f64).sqrt() * 0.3, (big / d as f64).sqrt() * 0.3, 1.0),
            ((big / d as f64).sqrt() * 0.7, (big / d as f64).sqrt() * 0.7, 1.0),
            ((big / d as f64).sqrt() * 0.999, (big / d as f64).sqrt() * 0.999, 1.0),
            ((big / d as f64).sqrt() * 1.001, (big / d as f64).sqrt() * 1.001, 1.0),
            (1.0, 1.0, big / n as f64 * 0.999),
            (1.0, 1.0, big / n as f64 * 1.001),
        ] {
            let scale = |x: &[f32], c: f64| x.iter().map(|&y| (y.signum() as f64 * c) as f32).collect::<Vec<_>>();
            let (q, k, v) = (scale(&s.q, qs), scale(&s.k, ks), scale(&s.v, vs));
            let h = Head { q: &q, k: &k, v: &v, nq: n, nk: n, d, dv };
            let hs = scan_head(&h);
            let check = h.check_values();
            assert!(!hs.checked || check.is_ok(), "scan accepted what the check refuses: {check:?}");
            outcomes.push((hs.checked, check.is_ok()));
            match check {
                Err(e) => assert_eq!(solve(&h, Mask::Causal, 1e-2, &opts).unwrap_err().to_string(), e.to_string()),
                // Accepted: the solve gets past its input check (at scores of 10³⁷ the tolerance may
                // still be below the rounding floor, which is a different error).
                Ok(()) => {
                    if let Err(e) = solve(&h, Mask::Causal, 1e-2 * vs, &opts) {
                        assert!(e.to_string().contains("rounding floor"), "{e}");
                    }
                }
            }
        }
        // The second and third are undecided by the norms (here d·‖q‖·‖k‖ = d²·max|q|·max|k|) yet
        // accepted by the check.
        let want = [(true, true), (false, true), (false, true), (false, false), (true, true), (false, false)];
        assert_eq!(outcomes, want);
    }
}
