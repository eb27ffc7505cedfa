//! Tiled float32 exact attention with online softmax (FlashAttention-style), O(n·d) extra memory,
//! bit-identical for every thread count. Its error against exact arithmetic is bounded a priori by
//! [`crate::theory::rounding`] (theorem `reference.f32_rounding`).
//!
//! # Algorithm
//!
//! Output rows (as in [`Mask::rows`]) are cut into query blocks of [`Tiling::block_q`] rows. Row i
//! sees keys `0..lim(i)` (`lim` from [`Mask::keys`], nondecreasing in i). A block runs over the key
//! tiles `[t·B_k, min((t+1)·B_k, lim_max))`, t = 0, 1, …, B_k = [`Tiling::tile_k`] (the same
//! partition for every block, so a row's arithmetic does not depend on which block holds it):
//!
//! 1. `S = Q_blk K_tileᵀ` by `gemm` (`Parallelism::None`), stored column-major (query index
//!    contiguous) so every later step vectorises over rows without horizontal reductions;
//! 2. keys a row may not see (only in tiles that reach past `lim` of the block's first row) are set
//!    to −∞;
//! 3. per row: tile max m̃, new running max m' = max(m, m̃), rescale factor α = exp(fl(m − m'));
//! 4. `P = exp(fl(S − m'))` in place with [`exp_neg`], fused with the per-row tile sum Σ_t (summed in
//!    key order);
//! 5. `l ← fl(α·l + Σ_t)` (one fused multiply-add), `PV = P V_tile` by `gemm` into a scratch buffer,
//!    `acc ← fl(α·acc + PV)` (one fused multiply-add per entry);
//! 6. at the end `o = fl(acc / l)`.
//!
//! A tile in which a row sees no key leaves that row's state unchanged, exactly (α = 1, p = 0). The
//! key that first attains a row's running max gets p = exp(0) = 1 exactly, and α = exp(0) = 1
//! exactly while the max does not grow, so l ≥ 1 after the first tile: no overflow and no division
//! by a tiny number, whatever the score scale.
//!
//! Extra memory: per thread O(B_q·(d + B_k + d_v)) scratch (reused across calls), independent of n;
//! [`attention_f32_with_stats`] also keeps |K| (n·d).
//!
//! # Determinism
//!
//! Every query block is computed by one thread with a fixed sequence of operations (the `gemm`
//! calls run single-threaded on buffers of fixed shape and 64-byte alignment; the element-wise
//! steps use only IEEE operations and `mul_add`, which is exactly rounded on every path), and there
//! is no reduction across blocks. The result is therefore bit-identical for every rayon thread
//! count. The AVX-512, AVX2+FMA and portable paths of the element-wise steps give the same bits;
//! `gemm` picks its own micro-kernel per CPU, so results may differ between machines.
//!
//! # Work balance
//!
//! Under a causal or strict-prefix mask block b costs ∝ b + 1; blocks are scheduled in pairs
//! (b, n_b − 1 − b) of equal total cost, as separate rayon tasks.
use super::{Head, Mask};
use crate::theory::fp::U32;
use gemm::Parallelism;
use rayon::prelude::*;
use std::cell::RefCell;

/// Default number of query rows per block.
pub const BLOCK_Q: usize = 64;
/// Default number of keys per tile.
pub const TILE_K: usize = 256;

/// [`exp_neg`] returns exactly 0 for arguments below this (e^{−87} ≈ 1.65·10⁻³⁸, just above the
/// smallest normal f32 2⁻¹²⁶ ≈ 1.18·10⁻³⁸; every non-flushed result is a normal number).
pub const EXP_FLUSH: f32 = -87.0;

/// Maximum relative error of [`exp_neg`] against the exact exponential over every f32 x in
/// [[`EXP_FLUSH`], 0]: |exp_neg(x) − eˣ| ≤ EXP_REL_ERR · eˣ. Measured maximum 1.409·u (u = 2⁻²⁴,
/// at x ≈ −5.8779); stated as 1.5·u. Verified over all 1 118 699 521 such floats by the ignored
/// test `exp_exhaustive` (`cargo test --release --lib exp_exhaustive -- --ignored`, ~2 s) and on a
/// dense sample by `exp_accuracy_dense`.
pub const EXP_REL_ERR: f64 = 1.5 * U32;

/// Query block and key tile sizes of the kernel (both ≥ 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiling {
    pub block_q: usize,
    pub tile_k: usize,
}

impl Default for Tiling {
    fn default() -> Self {
        Tiling { block_q: BLOCK_Q, tile_k: TILE_K }
    }
}

/// How a row with keys `0..lim` is processed: the counts the rounding bound needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RowLayout {
    /// N_i: keys the row sees.
    pub n_keys: usize,
    /// T_i: key tiles containing at least one of them.
    pub tiles: usize,
    /// B_i: the most keys of the row in one tile, min(B_k, N_i).
    pub max_tile_keys: usize,
}

impl Tiling {
    /// The tiling [`attention_f32`] uses for `rows` output rows: [`Tiling::default`], with query
    /// blocks of 128 rows from 32 768 rows on (halves the K/V traffic, which then no longer fits
    /// in cache). Only `tile_k` enters the rounding bound, and it is the same.
    pub fn for_rows(rows: usize) -> Self {
        if rows >= 32_768 { Tiling { block_q: 2 * BLOCK_Q, tile_k: TILE_K } } else { Tiling::default() }
    }
    /// Tiling with both sizes clamped to ≥ 1.
    pub fn new(block_q: usize, tile_k: usize) -> Self {
        Tiling { block_q: block_q.max(1), tile_k: tile_k.max(1) }
    }
    /// The layout of a row that sees keys `0..lim`.
    pub fn row_layout(&self, lim: usize) -> RowLayout {
        let bk = self.tile_k.max(1);
        RowLayout { n_keys: lim, tiles: lim.div_ceil(bk), max_tile_keys: lim.min(bk) }
    }
}

/// Per-output-row statistics returned by [`attention_f32_with_stats`], all of computed values.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RowStats {
    /// M̂_i = max_j ŝ_ij, the computed scores' max (the final running max).
    pub max_score: f32,
    /// min_j ŝ_ij over the row's keys.
    pub min_score: f32,
    /// max_j fl(Σ_l |q_il|·|k_jl|) computed in f32 by the same kind of GEMM; the exact
    /// A_i = max_j Σ_l |q_il k_jl| satisfies A_i ≤ abs_dot / (1 − γ_d).
    pub abs_dot: f32,
    /// Tiles after the row's first in which its running max increased (the only tiles whose
    /// rescale factor α is not exactly 1); ≤ `layout.tiles − 1`.
    pub rescales: usize,
    pub layout: RowLayout,
}

// ---------------------------------------------------------------------------------------------
// Vectorisable exponential.

const LOG2E: f32 = std::f32::consts::LOG2_E;
const MAGIC: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer (ties to even)
#[allow(clippy::excessive_precision)] // exact: 355/512
const LN2_HI: f32 = 0.693_359_375; // 9 significant bits: k·LN2_HI exact for |k| < 2¹⁵
const LN2_LO: f32 = -2.121_944_4e-4; // ln 2 − LN2_HI (nearest f32)
// Minimax coefficients of (eʳ − 1 − r)/r² on |r| ≤ ln2/2 (Cephes `expf`: 1.987569150e-4,
// 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1), written
// as the shortest decimals of their nearest f32 values.
const P0: f32 = 1.987_569_1e-4;
const P1: f32 = 1.398_199_9e-3;
const P2: f32 = 8.333_452e-3;
const P3: f32 = 4.166_579_6e-2;
const P4: f32 = 1.666_666_6e-1;
const P5: f32 = 0.5;

/// e^x for x ≤ 0 in f32 (the only arguments the kernel produces); 0 for x < [`EXP_FLUSH`] and for
/// x = −∞; exactly 1 at x = 0. Relative error ≤ [`EXP_REL_ERR`] on [[`EXP_FLUSH`], 0].
///
/// Cody–Waite reduction x = k·ln2 + r, k = round(x·log₂e) (by the 1.5·2²³ trick), r = x − k·LN2_HI
/// − k·LN2_LO with FMAs, |r| ≲ ln2/2; eʳ ≈ 1 + r + r²·P(r) with a degree-5 minimax P; scaling by 2ᵏ
/// through the exponent bits (exact: k ≥ −126 and the result is normal). Branch-free and written
/// with `mul_add`, so it autovectorises and gives the same bits on every instruction set.
#[inline(always)]
pub fn exp_neg(x: f32) -> f32 {
    let t = x.mul_add(LOG2E, MAGIC);
    let kf = t - MAGIC;
    let r = kf.mul_add(-LN2_HI, x);
    let r = kf.mul_add(-LN2_LO, r);
    let r2 = r * r;
    let p = P0.mul_add(r, P1).mul_add(r, P2).mul_add(r, P3).mul_add(r, P4).mul_add(r, P5);
    let y = p.mul_add(r2, r) + 1.0;
    let k = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let scale = f32::from_bits((k.wrapping_add(127) << 23) as u32);
    let v = y * scale;
    if x < EXP_FLUSH { 0.0 } else { v }
}

// ---------------------------------------------------------------------------------------------
// Run-time dispatch of the element-wise steps.

/// Instruction set the element-wise steps run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    Avx512,
    Avx2Fma,
    Portable,
}

impl Isa {
    /// The best set this CPU supports.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512dq")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
            {
                return Isa::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Isa::Avx2Fma;
            }
        }
        Isa::Portable
    }
    /// `self` if this CPU supports it, else [`Isa::detect`].
    pub fn or_supported(self) -> Isa {
        let best = Isa::detect();
        match (self, best) {
            (Isa::Portable, _) => Isa::Portable,
            (Isa::Avx2Fma, Isa::Avx512 | Isa::Avx2Fma) => Isa::Avx2Fma,
            (Isa::Avx512, Isa::Avx512) => Isa::Avx512,
            _ => best,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2Fma => "avx2+fma",
            Isa::Portable => "portable",
        }
    }
}

/// The CPU features relevant here, e.g. `"avx2 fma avx512f"` (those detected at run time).
pub fn cpu_features() -> String {
    let mut f: Vec<&str> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") {
            f.push("avx2");
        }
        if is_x86_feature_detected!("fma") {
            f.push("fma");
        }
        if is_x86_feature_detected!("avx512f") {
            f.push("avx512f");
        }
    }
    if f.is_empty() { "none".into() } else { f.join(" ") }
}

/// Mutable state of one block's rows during the tile loop.
struct RowState<'a> {
    m: &'a mut [f32],
    l: &'a mut [f32],
    alpha: &'a mut [f32],
    msub: &'a mut [f32],
    tsum: &'a mut [f32],
}

/// Rows handled together in registers by [`softmax_chunk`] (one AVX-512 vector, two AVX2 vectors).
const W: usize = 16;

/// Steps 2–5 (without the GEMM) on a column-major score tile `s` (`ld` ≥ `rows`, `tlen` columns);
/// `vis[r]` = number of the tile's keys row r sees (nondecreasing in r).
#[inline(always)]
fn softmax_tile_body(s: &mut [f32], ld: usize, rows: usize, tlen: usize, vis: &[usize], st: &mut RowState<'_>) {
    if vis[0] < tlen {
        for j in 0..tlen {
            let first = vis[..rows].partition_point(|&v| v <= j);
            s[j * ld..j * ld + first].fill(f32::NEG_INFINITY);
        }
    }
    let full = rows / W * W;
    for c0 in (0..full).step_by(W) {
        softmax_chunk(s, ld, c0, tlen, st);
    }
    if full < rows {
        softmax_rows(s, ld, full, rows, tlen, st);
    }
}

/// New running max, subtrahend and rescale factor of one row from its old max `mo` and tile max
/// `mt`: (m', sub, α). A row that has seen no key yet keeps m = −∞: it subtracts 0 (so p =
/// exp(−∞) = 0) and gets α = 1.
#[inline(always)]
fn new_max(mo: f32, mt: f32) -> (f32, f32, f32) {
    let mn = if mt > mo { mt } else { mo };
    let (sub, xa) = if mn == f32::NEG_INFINITY { (0.0, 0.0) } else { (mn, mo - mn) };
    (mn, sub, exp_neg(xa))
}

/// Rows c0..c0+W of the tile, with the row state in registers: max pass (4 independent chains;
/// max is exact, so the order is immaterial), then exp fused with the row sums (keys in order).
#[inline(always)]
fn softmax_chunk(s: &mut [f32], ld: usize, c0: usize, tlen: usize, st: &mut RowState<'_>) {
    #[inline(always)]
    fn vmax(acc: &mut [f32; W], col: &[f32]) {
        let col: &[f32; W] = col.try_into().unwrap();
        for l in 0..W {
            acc[l] = if col[l] > acc[l] { col[l] } else { acc[l] };
        }
    }
    let (mut m0, mut m1, mut m2, mut m3) =
        ([f32::NEG_INFINITY; W], [f32::NEG_INFINITY; W], [f32::NEG_INFINITY; W], [f32::NEG_INFINITY; W]);
    let mut j = 0;
    while j + 4 <= tlen {
        let b = j * ld + c0;
        vmax(&mut m0, &s[b..b + W]);
        vmax(&mut m1, &s[b + ld..b + ld + W]);
        vmax(&mut m2, &s[b + 2 * ld..b + 2 * ld + W]);
        vmax(&mut m3, &s[b + 3 * ld..b + 3 * ld + W]);
        j += 4;
    }
    while j < tlen {
        vmax(&mut m0, &s[j * ld + c0..j * ld + c0 + W]);
        j += 1;
    }
    let mut sub = [0f32; W];
    let mut alpha = [0f32; W];
    for l in 0..W {
        let a = if m1[l] > m0[l] { m1[l] } else { m0[l] };
        let b = if m3[l] > m2[l] { m3[l] } else { m2[l] };
        let mt = if b > a { b } else { a };
        let (mn, sb, al) = new_max(st.m[c0 + l], mt);
        st.m[c0 + l] = mn;
        sub[l] = sb;
        alpha[l] = al;
    }
    let mut sum = [0f32; W];
    for j in 0..tlen {
        let col: &mut [f32; W] = (&mut s[j * ld + c0..j * ld + c0 + W]).try_into().unwrap();
        for l in 0..W {
            let p = exp_neg(col[l] - sub[l]);
            col[l] = p;
            sum[l] += p;
        }
    }
    for l in 0..W {
        st.alpha[c0 + l] = alpha[l];
        st.l[c0 + l] = alpha[l].mul_add(st.l[c0 + l], sum[l]);
    }
}

/// Rows r0..r1 of the tile (the remainder after whole chunks), same arithmetic as
/// [`softmax_chunk`].
#[inline(always)]
fn softmax_rows(s: &mut [f32], ld: usize, r0: usize, r1: usize, tlen: usize, st: &mut RowState<'_>) {
    let tmax = &mut st.msub[r0..r1];
    tmax.copy_from_slice(&s[r0..r1]);
    for j in 1..tlen {
        for (t, &x) in tmax.iter_mut().zip(&s[j * ld + r0..j * ld + r1]) {
            *t = if x > *t { x } else { *t };
        }
    }
    for r in r0..r1 {
        let (mn, sb, al) = new_max(st.m[r], st.msub[r]);
        st.m[r] = mn;
        st.msub[r] = sb;
        st.alpha[r] = al;
    }
    let msub = &st.msub[r0..r1];
    let tsum = &mut st.tsum[r0..r1];
    tsum.fill(0.0);
    for j in 0..tlen {
        for ((x, &ms), ts) in s[j * ld + r0..j * ld + r1].iter_mut().zip(msub).zip(tsum.iter_mut()) {
            let p = exp_neg(*x - ms);
            *x = p;
            *ts += p;
        }
    }
    for r in r0..r1 {
        st.l[r] = st.alpha[r].mul_add(st.l[r], st.tsum[r]);
    }
}

/// acc ← fl(α ⊙ acc + pv), row-major `rows × dv`.
#[inline(always)]
fn update_acc_body(acc: &mut [f32], pv: &[f32], alpha: &[f32], dv: usize) {
    for ((a_row, p_row), &al) in acc.chunks_exact_mut(dv).zip(pv.chunks_exact(dv)).zip(alpha) {
        for (a, &p) in a_row.iter_mut().zip(p_row) {
            *a = al.mul_add(*a, p);
        }
    }
}

/// out = fl(acc / l) row-wise (the float32 quotient, stored as an [`OutElem`]).
#[inline(always)]
fn finalize_body<O: OutElem>(out: &mut [O], acc: &[f32], l: &[f32], dv: usize) {
    for ((o_row, a_row), &lr) in out.chunks_exact_mut(dv).zip(acc.chunks_exact(dv)).zip(l) {
        for (o, &a) in o_row.iter_mut().zip(a_row) {
            *o = O::from_f32(a / lr);
        }
    }
}

/// The element type the kernel stores its float32 results as: f32 itself, or f64 (an exact
/// widening, done by each block on the rows it has just computed, so that a caller that wants f64
/// needs no second pass over the output — the solver's exact plan).
pub trait OutElem: Copy + Send + Sync + 'static {
    fn from_f32(x: f32) -> Self;
}

impl OutElem for f32 {
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        x
    }
}

impl OutElem for f64 {
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        x as f64
    }
}

#[inline(always)]
fn exp_slice_body(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = exp_neg(*v);
    }
}

macro_rules! isa_module {
    ($name:ident, $feat:literal) => {
        #[cfg(target_arch = "x86_64")]
        mod $name {
            use super::*;
            #[target_feature(enable = $feat)]
            pub(super) fn softmax_tile(
                s: &mut [f32],
                ld: usize,
                rows: usize,
                tlen: usize,
                vis: &[usize],
                st: &mut RowState<'_>,
            ) {
                softmax_tile_body(s, ld, rows, tlen, vis, st)
            }
            #[target_feature(enable = $feat)]
            pub(super) fn update_acc(acc: &mut [f32], pv: &[f32], alpha: &[f32], dv: usize) {
                update_acc_body(acc, pv, alpha, dv)
            }
            #[target_feature(enable = $feat)]
            pub(super) fn finalize<O: OutElem>(out: &mut [O], acc: &[f32], l: &[f32], dv: usize) {
                finalize_body(out, acc, l, dv)
            }
            #[target_feature(enable = $feat)]
            pub(super) fn exp_slice(x: &mut [f32]) {
                exp_slice_body(x)
            }
        }
    };
}
isa_module!(avx512, "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,bmi1,bmi2");
isa_module!(avx2, "avx2,fma,bmi1,bmi2");

macro_rules! dispatch {
    ($isa:expr, $f:ident($($a:expr),*)) => {{
        match $isa {
            // SAFETY: the variant is only constructed by `Isa::detect` after checking the features.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { avx512::$f($($a),*) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe { avx2::$f($($a),*) },
            _ => paste_body!($f($($a),*)),
        }
    }};
}
macro_rules! paste_body {
    (softmax_tile($($a:expr),*)) => { softmax_tile_body($($a),*) };
    (update_acc($($a:expr),*)) => { update_acc_body($($a),*) };
    (finalize($($a:expr),*)) => { finalize_body($($a),*) };
    (exp_slice($($a:expr),*)) => { exp_slice_body($($a),*) };
}

/// [`exp_neg`] over a slice, with the best instruction set of this CPU (same bits on every path).
pub fn exp_slice(x: &mut [f32]) {
    dispatch!(Isa::detect(), exp_slice(x))
}

// ---------------------------------------------------------------------------------------------
// GEMM wrappers and scratch.

/// C (m×n) = A (m×k) · B (k×n); strides as (row stride, column stride) in elements.
///
/// SAFETY: the caller guarantees that every addressed element is in bounds of its buffer.
#[allow(clippy::too_many_arguments)]
unsafe fn mm(
    m: usize,
    n: usize,
    k: usize,
    c: *mut f32,
    (c_rs, c_cs): (usize, usize),
    a: *const f32,
    (a_rs, a_cs): (usize, usize),
    b: *const f32,
    (b_rs, b_cs): (usize, usize),
) {
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            c_cs as isize,
            c_rs as isize,
            false,
            a,
            a_cs as isize,
            a_rs as isize,
            b,
            b_cs as isize,
            b_rs as isize,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            Parallelism::None,
        )
    }
}

/// A growable f32 buffer handing out 64-byte-aligned slices (so every thread's scratch has the same
/// alignment and `gemm` sees identical inputs whatever thread runs a block).
#[derive(Default)]
struct Aligned(Vec<f32>);

impl Aligned {
    fn get(&mut self, len: usize) -> &mut [f32] {
        if self.0.len() < len + 16 {
            self.0.resize(len + 16, 0.0);
        }
        let off = self.0.as_ptr().align_offset(64).min(16);
        &mut self.0[off..off + len]
    }
}

#[derive(Default)]
struct Scratch {
    qt: Aligned,
    s: Aligned,
    pv: Aligned,
    acc: Aligned,
    rows: Aligned,
    qabs: Aligned,
    sabs: Aligned,
    vis: Vec<usize>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

// ---------------------------------------------------------------------------------------------
// The kernel.

/// Exact attention in float32 under `mask`; rows as in [`Mask::rows`], `rows × dv` row-major.
/// Tiling [`Tiling::for_rows`] (tile_k = [`TILE_K`], so the bounds computed for
/// [`Tiling::default`] apply); runs on the current rayon pool. Rows with no key (only when `nk = 0`) are
/// NaN, as in [`super::attention_f64`].
pub fn attention_f32(h: &Head<'_, f32>, mask: Mask) -> Vec<f32> {
    attention_f32_tiled(h, mask, Tiling::for_rows(mask.rows(h.nq).len()))
}

/// [`attention_f32`] with an explicit tiling.
pub fn attention_f32_tiled(h: &Head<'_, f32>, mask: Mask, tiling: Tiling) -> Vec<f32> {
    let mut out = vec![0f32; mask.rows(h.nq).len() * h.dv];
    attention_f32_into(h, mask, tiling, &mut out);
    out
}

/// [`attention_f32`] on a fresh rayon pool of `threads` threads (same bits for every count).
pub fn attention_f32_with_threads(h: &Head<'_, f32>, mask: Mask, threads: usize) -> Vec<f32> {
    match rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build() {
        Ok(pool) => pool.install(|| attention_f32(h, mask)),
        Err(_) => attention_f32(h, mask),
    }
}

/// Writes the output into `out` (length `rows × dv`, rows as in [`Mask::rows`]).
///
/// # Panics
/// If `out` has the wrong length or the head's buffers do not match its shape.
pub fn attention_f32_into(h: &Head<'_, f32>, mask: Mask, tiling: Tiling, out: &mut [f32]) {
    run(h, mask, tiling, out, None, Isa::detect());
}

/// [`attention_f32_tiled`] with every float32 result widened to f64 (exactly) as its block
/// finishes: the same values as `attention_f32_tiled(..).iter().map(|&x| x as f64)`, without an
/// f32 output or a second pass. `out`: `rows × dv` (rows as in [`Mask::rows`]).
///
/// # Panics
/// As [`attention_f32_into`].
pub fn attention_f32_wide_into(h: &Head<'_, f32>, mask: Mask, tiling: Tiling, out: &mut [f64]) {
    run(h, mask, tiling, out, None, Isa::detect());
}

/// [`attention_f32_tiled`] with the element-wise steps forced onto `isa` (if this CPU supports it;
/// see [`Isa::or_supported`]): for tests and benchmarks of the other dispatch paths. Every path
/// gives the same bits.
pub fn attention_f32_with_isa(h: &Head<'_, f32>, mask: Mask, tiling: Tiling, isa: Isa) -> Vec<f32> {
    let mut out = vec![0f32; mask.rows(h.nq).len() * h.dv];
    run(h, mask, tiling, &mut out, None, isa.or_supported());
    out
}

/// The output and, for every output row, the statistics the rounding bound needs (costs one extra
/// GEMM of |Q|·|K|ᵀ per tile; the output is bit-identical to [`attention_f32_tiled`]).
pub fn attention_f32_with_stats(h: &Head<'_, f32>, mask: Mask, tiling: Tiling) -> (Vec<f32>, Vec<RowStats>) {
    let nrows = mask.rows(h.nq).len();
    let mut out = vec![0f32; nrows * h.dv];
    let mut stats = vec![RowStats::default(); nrows];
    run(h, mask, tiling, &mut out, Some(&mut stats), Isa::detect());
    (out, stats)
}

struct Ctx<'a, 'h> {
    h: &'a Head<'h, f32>,
    mask: Mask,
    tiling: Tiling,
    isa: Isa,
    row0: usize,
    kabs: Option<&'a [f32]>,
}

fn run<O: OutElem>(
    h: &Head<'_, f32>,
    mask: Mask,
    tiling: Tiling,
    out: &mut [O],
    stats: Option<&mut [RowStats]>,
    isa: Isa,
) {
    let tiling = Tiling::new(tiling.block_q, tiling.tile_k);
    let rows = mask.rows(h.nq);
    let (nrows, dv, d) = (rows.len(), h.dv, h.d);
    assert_eq!(out.len(), nrows * dv, "output buffer length");
    assert!(h.q.len() == h.nq * d && h.k.len() == h.nk * d && h.v.len() == h.nk * dv, "head shape");
    if nrows == 0 || dv == 0 {
        return;
    }
    if h.nk == 0 {
        // No key: 0/0, as the oracle.
        out.fill(O::from_f32(f32::NAN));
        return;
    }
    if d == 0 {
        // Empty dot products (not a valid head, see `Head::check`): all scores 0, o_i = mean of v.
        let mut o = vec![0.0f32; dv];
        for (r, out_row) in rows.zip(out.chunks_mut(dv)) {
            let keys = mask.keys(r, h.nk);
            let cnt = keys.len() as f32;
            o.fill(0.0);
            for j in keys {
                for (oc, &vc) in o.iter_mut().zip(h.v_row(j)) {
                    *oc += vc;
                }
            }
            for (x, &y) in out_row.iter_mut().zip(&o) {
                *x = O::from_f32(y / cnt);
            }
        }
        if let Some(st) = stats {
            for (r, x) in mask.rows(h.nq).zip(st.iter_mut()) {
                let layout = tiling.row_layout(mask.keys(r, h.nk).end);
                *x = RowStats { max_score: 0.0, min_score: 0.0, abs_dot: 0.0, rescales: 0, layout };
            }
        }
        return;
    }
    let kabs: Option<Vec<f32>> = stats.as_ref().map(|_| h.k.iter().map(|x| x.abs()).collect());
    let ctx = Ctx { h, mask, tiling, isa, row0: rows.start, kabs: kabs.as_deref() };
    let bq = tiling.block_q;
    let nb = nrows.div_ceil(bq);
    // Blocks as (index, output chunk, stats chunk); paired (b, nb−1−b) for equal causal cost.
    type Job<'o, O> = (usize, &'o mut [O], Option<&'o mut [RowStats]>);
    let mut jobs: Vec<Job<'_, O>> = match stats {
        Some(st) => {
            out.chunks_mut(bq * dv).zip(st.chunks_mut(bq)).enumerate().map(|(b, (o, s))| (b, o, Some(s))).collect()
        }
        None => out.chunks_mut(bq * dv).enumerate().map(|(b, o)| (b, o, None)).collect(),
    };
    debug_assert_eq!(jobs.len(), nb);
    let hi = jobs.split_off(nb.div_ceil(2));
    let mut pairs: Vec<(Job<'_, O>, Option<Job<'_, O>>)> = Vec::with_capacity(jobs.len());
    let mut hi = hi.into_iter().rev();
    for j in jobs {
        pairs.push((j, hi.next()));
    }
    if SEQUENTIAL.with(|c| c.get()) {
        // On the calling thread, with scratch allocated for this call (see `attention_f32_sequential`).
        let mut sc = Scratch::default();
        for (a, b) in pairs {
            for (blk, o, s) in std::iter::once(a).chain(b) {
                block(&ctx, blk, o, s, &mut sc);
            }
        }
        return;
    }
    pairs.into_par_iter().with_max_len(1).for_each(|(a, b)| {
        for (blk, o, s) in std::iter::once(a).chain(b) {
            SCRATCH.with(|cell| match cell.try_borrow_mut() {
                Ok(mut sc) => block(&ctx, blk, o, s, &mut sc),
                Err(_) => block(&ctx, blk, o, s, &mut Scratch::default()),
            });
        }
    });
}

thread_local! {
    static SEQUENTIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// [`attention_f32`] computed entirely on the calling thread, with scratch allocated for this call
/// only: the same arithmetic (bit-identical results), used where every allocation must be visible to
/// a per-thread measurement (`memory.linear`).
pub fn attention_f32_sequential(h: &Head<'_, f32>, mask: Mask) -> Vec<f32> {
    SEQUENTIAL.with(|c| c.set(true));
    let out = attention_f32(h, mask);
    SEQUENTIAL.with(|c| c.set(false));
    out
}

/// One query block, entirely on this thread.
fn block<O: OutElem>(
    ctx: &Ctx<'_, '_>,
    blk: usize,
    out: &mut [O],
    mut stats: Option<&mut [RowStats]>,
    sc: &mut Scratch,
) {
    let h = ctx.h;
    let (d, dv, bq, bk) = (h.d, h.dv, ctx.tiling.block_q, ctx.tiling.tile_k);
    let i0 = ctx.row0 + blk * bq;
    let rows = out.len() / dv;
    let lim = |r: usize| ctx.mask.keys(i0 + r, h.nk).end;
    let kend = lim(rows - 1);

    let qt = sc.qt.get(d * bq);
    for r in 0..rows {
        for (l, &x) in h.q_row(i0 + r).iter().enumerate() {
            qt[l * bq + r] = x;
        }
    }
    if stats.is_some() {
        let qa = sc.qabs.get(d * bq);
        for (a, b) in qa.iter_mut().zip(qt.iter()) {
            *a = b.abs();
        }
    }
    let s = sc.s.get(bk * bq);
    let pv = sc.pv.get(bq * dv);
    let acc = &mut sc.acc.get(bq * dv)[..rows * dv];
    acc.fill(0.0);
    let rs = sc.rows.get(5 * bq);
    let (m, rest) = rs.split_at_mut(bq);
    let (l, rest) = rest.split_at_mut(bq);
    let (alpha, rest) = rest.split_at_mut(bq);
    let (msub, tsum) = rest.split_at_mut(bq);
    m.fill(f32::NEG_INFINITY);
    l.fill(0.0);
    let mut st = RowState { m, l, alpha, msub, tsum };
    sc.vis.resize(bq, 0);
    if let Some(stt) = stats.as_deref_mut() {
        for (r, x) in stt.iter_mut().enumerate() {
            *x = RowStats {
                max_score: f32::NEG_INFINITY,
                min_score: f32::INFINITY,
                abs_dot: 0.0,
                rescales: 0,
                layout: ctx.tiling.row_layout(lim(r)),
            };
        }
    }

    let mut k0 = 0;
    while k0 < kend {
        let tlen = bk.min(kend - k0);
        for r in 0..rows {
            sc.vis[r] = lim(r).saturating_sub(k0).min(tlen);
        }
        // SAFETY: qt is d×bq (rows ≤ bq), s is bk×bq (tlen ≤ bk), keys k0..k0+tlen < nk.
        unsafe {
            mm(rows, tlen, d, s.as_mut_ptr(), (1, bq), qt.as_ptr(), (1, bq), h.k[k0 * d..].as_ptr(), (1, d));
        }
        if let (Some(stt), Some(kabs)) = (stats.as_deref_mut(), ctx.kabs) {
            let sa = sc.sabs.get(bk * bq);
            let qa = sc.qabs.get(d * bq);
            // SAFETY: as above.
            unsafe {
                mm(rows, tlen, d, sa.as_mut_ptr(), (1, bq), qa.as_ptr(), (1, bq), kabs[k0 * d..].as_ptr(), (1, d));
            }
            for (r, x) in stt.iter_mut().enumerate() {
                for j in 0..sc.vis[r] {
                    let v = s[j * bq + r];
                    x.max_score = x.max_score.max(v);
                    x.min_score = x.min_score.min(v);
                    x.abs_dot = x.abs_dot.max(sa[j * bq + r]);
                }
            }
        }
        let m_before: Option<Vec<f32>> = stats.as_ref().map(|_| st.m[..rows].to_vec());
        dispatch!(ctx.isa, softmax_tile(s, bq, rows, tlen, &sc.vis, &mut st));
        if let (Some(stt), Some(mb)) = (stats.as_deref_mut(), m_before) {
            for (r, x) in stt.iter_mut().enumerate() {
                if mb[r] > f32::NEG_INFINITY && st.m[r] > mb[r] {
                    x.rescales += 1;
                }
            }
        }
        // SAFETY: s holds P (tlen×rows, column-major, ld bq), v rows k0..k0+tlen exist, pv is bq×dv.
        unsafe {
            mm(rows, dv, tlen, pv.as_mut_ptr(), (dv, 1), s.as_ptr(), (1, bq), h.v[k0 * dv..].as_ptr(), (dv, 1));
        }
        dispatch!(ctx.isa, update_acc(acc, &pv[..rows * dv], &st.alpha[..rows], dv));
        k0 += tlen;
    }
    dispatch!(ctx.isa, finalize(out, acc, &st.l[..rows], dv));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::{attention_f64, widen};
    use rand::RngExt;

    fn rand_head(seed: u64, nq: usize, nk: usize, d: usize, dv: usize, scale: f32) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let mut rng = crate::rng::seeded(seed);
        let s = scale / (d as f32).sqrt();
        let mut g =
            |len: usize, sc: f32| -> Vec<f32> { (0..len).map(|_| rng.random_range(-1.0f32..1.0) * sc * 1.7).collect() };
        (g(nq * d, s), g(nk * d, s), g(nk * dv, 1.0))
    }

    /// Max |ô − o| against the f64 oracle on the same (widened) inputs.
    fn err_vs_f64(h: &Head<'_, f32>, mask: Mask, tiling: Tiling) -> f64 {
        let (q, k, v) = (widen(h.q), widen(h.k), widen(h.v));
        let h64 = Head { q: &q, k: &k, v: &v, nq: h.nq, nk: h.nk, d: h.d, dv: h.dv };
        let want = attention_f64(&h64, mask).out;
        let got = attention_f32_tiled(h, mask, tiling);
        assert_eq!(want.len(), got.len());
        want.iter().zip(&got).map(|(a, &b)| (a - b as f64).abs()).fold(0.0, f64::max)
    }

    #[test]
    fn exp_exact_points() {
        assert_eq!(exp_neg(0.0).to_bits(), 1f32.to_bits());
        assert_eq!(exp_neg(-0.0).to_bits(), 1f32.to_bits());
        assert_eq!(exp_neg(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_neg(-87.000_01), 0.0);
        assert_eq!(exp_neg(-1e30), 0.0);
        let x = EXP_FLUSH;
        let y = exp_neg(x);
        assert!(y.is_normal() && ((y as f64) - (x as f64).exp()).abs() <= EXP_REL_ERR * (x as f64).exp());
    }

    fn exp_err(x: f32) -> f64 {
        let t = (x as f64).exp();
        ((exp_neg(x) as f64) - t).abs() / t
    }

    #[test]
    fn exp_accuracy_dense() {
        // 2²⁰ evenly spaced points, 2²⁰ points dense near 0, every f32 within 4096 ulp of the
        // boundaries and of the k-switch points (k + ½)·ln2, and the vectorised path agrees bitwise.
        let mut xs: Vec<f32> = Vec::new();
        let n = 1 << 20;
        for i in 0..=n {
            xs.push(EXP_FLUSH * (i as f32 / n as f32));
            xs.push(-((i as f32) * 1e-6));
        }
        let mut around = |c: f32| {
            let b = c.to_bits();
            for o in 0..4096u32 {
                for bb in [b.wrapping_add(o), b.wrapping_sub(o)] {
                    let x = f32::from_bits(bb);
                    if x.is_finite() && (EXP_FLUSH..=0.0).contains(&x) {
                        xs.push(x);
                    }
                }
            }
        };
        around(EXP_FLUSH);
        around(-0.0);
        around(-f32::MIN_POSITIVE);
        for k in 0..126 {
            around(-((k as f32) + 0.5) * std::f32::consts::LN_2);
        }
        let worst = xs.iter().map(|&x| exp_err(x)).fold(0.0, f64::max);
        println!(
            "exp_neg: max rel err on {} points = {:.3} u (stated {:.3} u)",
            xs.len(),
            worst / U32,
            EXP_REL_ERR / U32
        );
        assert!(worst <= EXP_REL_ERR, "exp error {worst:e} > {EXP_REL_ERR:e}");
        let mut ys = xs.clone();
        exp_slice(&mut ys);
        assert!(xs.iter().zip(&ys).all(|(&x, &y)| exp_neg(x).to_bits() == y.to_bits()));
        // Flushed region is exactly zero.
        let mut zs: Vec<f32> = (0..10_000).map(|i| EXP_FLUSH - 1e-4 - i as f32 * 0.01).collect();
        exp_slice(&mut zs);
        assert!(zs.iter().all(|&z| z == 0.0));
    }

    #[test]
    #[ignore = "exhaustive over 1.1e9 floats; run in release: cargo test --release --lib exp_exhaustive -- --ignored"]
    fn exp_exhaustive() {
        let lo = 0x8000_0000u32; // −0.0
        let hi = EXP_FLUSH.to_bits() + 1;
        let chunk = 1u32 << 16;
        let starts: Vec<u32> = (lo..hi).step_by(chunk as usize).collect();
        let worst = starts
            .par_iter()
            .map(|&a| {
                let b = a.saturating_add(chunk).min(hi);
                let mut buf: Vec<f32> = (a..b).map(f32::from_bits).collect();
                exp_slice(&mut buf);
                (a..b)
                    .zip(&buf)
                    .map(|(bits, &y)| {
                        let t = (f32::from_bits(bits) as f64).exp();
                        ((y as f64) - t).abs() / t
                    })
                    .fold(0.0, f64::max)
            })
            .reduce(|| 0.0, f64::max);
        println!("exp_neg exhaustive: {} floats, max rel err {:.4} u", hi - lo, worst / U32);
        assert!(worst <= EXP_REL_ERR);
    }

    #[test]
    fn matches_f64_small_tiles_and_default() {
        for (seed, (nq, d, dv)) in
            [(1usize, 1usize, 1usize), (2, 1, 1), (17, 8, 8), (64, 32, 16), (129, 8, 3), (300, 64, 64)]
                .into_iter()
                .enumerate()
        {
            let (q, k, v) = rand_head(seed as u64, nq, nq, d, dv, 3.0);
            let h = Head { q: &q, k: &k, v: &v, nq, nk: nq, d, dv };
            for mask in [Mask::Full, Mask::Causal, Mask::StrictPrefix] {
                for tiling in [Tiling::default(), Tiling::new(8, 16), Tiling::new(7, 5), Tiling::new(1, 1)] {
                    let e = err_vs_f64(&h, mask, tiling);
                    assert!(e < 1e-5, "n={nq} d={d} {mask:?} {tiling:?}: err {e}");
                }
            }
        }
    }

    #[test]
    fn full_mask_rectangular() {
        for (nq, nk) in [(5usize, 300usize), (300, 5), (1, 1), (70, 1)] {
            let (q, k, v) = rand_head(9, nq, nk, 16, 24, 5.0);
            let h = Head { q: &q, k: &k, v: &v, nq, nk, d: 16, dv: 24 };
            for mask in [Mask::Full, Mask::Causal, Mask::StrictPrefix] {
                for tiling in [Tiling::default(), Tiling::new(4, 32)] {
                    let e = err_vs_f64(&h, mask, tiling);
                    assert!(e < 1e-5, "{nq}×{nk} {mask:?}: err {e}");
                }
            }
        }
    }

    #[test]
    fn thread_count_bit_identity() {
        let (n, d, dv) = (700, 64, 48);
        let (q, k, v) = rand_head(42, n, n, d, dv, 8.0);
        let h = Head { q: &q, k: &k, v: &v, nq: n, nk: n, d, dv };
        for mask in [Mask::Causal, Mask::Full, Mask::StrictPrefix] {
            for tiling in [Tiling::default(), Tiling::new(16, 48)] {
                let runs: Vec<Vec<u32>> = [1usize, 2, 3]
                    .iter()
                    .map(|&t| {
                        let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap();
                        pool.install(|| attention_f32_tiled(&h, mask, tiling)).iter().map(|x| x.to_bits()).collect()
                    })
                    .collect();
                assert_eq!(runs[0], runs[1], "{mask:?} 1 vs 2 threads");
                assert_eq!(runs[0], runs[2], "{mask:?} 1 vs 3 threads");
            }
        }
        // The stats variant gives the same bits.
        let (o, _) = attention_f32_with_stats(&h, Mask::Causal, Tiling::default());
        assert_eq!(o, attention_f32(&h, Mask::Causal));
    }

    #[test]
    fn isa_paths_bit_identical() {
        let (n, d, dv) = (203, 32, 20);
        let (q, k, v) = rand_head(43, n, n, d, dv, 6.0);
        let h = Head { q: &q, k: &k, v: &v, nq: n, nk: n, d, dv };
        for mask in [Mask::Causal, Mask::Full] {
            for tiling in [Tiling::default(), Tiling::new(40, 24), Tiling::new(16, 7)] {
                let want = attention_f32_tiled(&h, mask, tiling);
                for isa in [Isa::Avx512, Isa::Avx2Fma, Isa::Portable] {
                    let got = attention_f32_with_isa(&h, mask, tiling, isa);
                    assert!(
                        want.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{isa:?} {mask:?} {tiling:?}"
                    );
                }
            }
        }
    }

    /// The f64-output kernel stores exactly the f32 kernel's values, widened: every mask and tiling,
    /// a row count that is not a multiple of the query block, the empty-keys (NaN) and d = 0 heads.
    #[test]
    fn wide_output_is_the_widened_f32_output() {
        let (n, d, dv) = (203, 32, 20);
        let (q, k, v) = rand_head(44, n, n, d, dv, 6.0);
        let h = Head { q: &q, k: &k, v: &v, nq: n, nk: n, d, dv };
        let bits = |x: &[f64]| x.iter().map(|y| y.to_bits()).collect::<Vec<_>>();
        for mask in [Mask::Causal, Mask::StrictPrefix, Mask::Full] {
            for tiling in [Tiling::default(), Tiling::new(40, 24), Tiling::new(16, 7)] {
                let want: Vec<f64> = attention_f32_tiled(&h, mask, tiling).iter().map(|&x| x as f64).collect();
                let mut got = vec![f64::NAN; want.len()];
                attention_f32_wide_into(&h, mask, tiling, &mut got);
                assert_eq!(bits(&got), bits(&want), "{mask:?} {tiling:?}");
            }
        }
        let (q1, v1) = ([1.0f32, 2.0], [3.0f32, -1.0, 0.5]);
        for (h, what) in [
            (Head { q: &q1, k: &[], v: &[], nq: 2, nk: 0, d: 1, dv: 3 }, "no keys"),
            (Head { q: &[], k: &[], v: &v1, nq: 1, nk: 1, d: 0, dv: 3 }, "d = 0"),
        ] {
            let want: Vec<f64> = attention_f32(&h, Mask::Full).iter().map(|&x| x as f64).collect();
            let mut got = vec![0.0; want.len()];
            attention_f32_wide_into(&h, Mask::Full, Tiling::default(), &mut got);
            assert_eq!(bits(&got), bits(&want), "{what}");
        }
    }

    #[test]
    fn edge_cases() {
        // n = 1, d = 1.
        let h = Head { q: &[2.0f32], k: &[3.0], v: &[-7.5], nq: 1, nk: 1, d: 1, dv: 1 };
        assert_eq!(attention_f32(&h, Mask::Full), vec![-7.5]);
        assert_eq!(attention_f32(&h, Mask::Causal), vec![-7.5]);
        assert!(attention_f32(&h, Mask::StrictPrefix).is_empty());
        // Huge scores (|q·k| up to 1e4 and beyond): everything finite, weights concentrate.
        let q = [100.0f32, -100.0, 100.0];
        let k = [100.0f32, 99.0, -100.0];
        let v = [1.0f32, 2.0, 3.0];
        let h = Head { q: &q, k: &k, v: &v, nq: 3, nk: 3, d: 1, dv: 1 };
        let o = attention_f32_tiled(&h, Mask::Full, Tiling::new(1, 1));
        assert_eq!(o, vec![1.0, 3.0, 1.0]);
        let (q, k, v) = rand_head(5, 50, 50, 4, 4, 400.0);
        let h = Head { q: &q, k: &k, v: &v, nq: 50, nk: 50, d: 4, dv: 4 };
        for mask in [Mask::Full, Mask::Causal] {
            for t in [Tiling::default(), Tiling::new(3, 4)] {
                assert!(attention_f32_tiled(&h, mask, t).iter().all(|x| x.is_finite()));
                assert!(err_vs_f64(&h, mask, t) < 1e-3);
            }
        }
        // All-equal scores (q = 0): the plain mean of v.
        let q = vec![0f32; 8 * 3];
        let (_, k, v) = rand_head(6, 8, 8, 3, 2, 1.0);
        let h = Head { q: &q, k: &k, v: &v, nq: 8, nk: 8, d: 3, dv: 2 };
        assert!(err_vs_f64(&h, Mask::Causal, Tiling::new(2, 3)) < 1e-6);
        // Constant v: output is that constant to within rounding; zero v: exactly zero.
        let (q, k, _) = rand_head(7, 40, 40, 8, 8, 4.0);
        let vc = vec![0.3f32; 40 * 5];
        let h = Head { q: &q, k: &k, v: &vc, nq: 40, nk: 40, d: 8, dv: 5 };
        assert!(attention_f32_tiled(&h, Mask::Causal, Tiling::new(4, 8)).iter().all(|&x| (x - 0.3).abs() <= 1e-6));
        let vz = vec![0f32; 40 * 5];
        let h = Head { q: &q, k: &k, v: &vz, nq: 40, nk: 40, d: 8, dv: 5 };
        assert!(attention_f32(&h, Mask::Full).iter().all(|&x| x == 0.0));
        // No keys at all: NaN rows like the oracle, no panic.
        let h = Head { q: &[1.0f32, 2.0], k: &[], v: &[], nq: 2, nk: 0, d: 1, dv: 1 };
        assert!(attention_f32(&h, Mask::Full).iter().all(|x| x.is_nan()));
    }
}
