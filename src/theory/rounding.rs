//! Rounding model of the fast float32 kernel ([`crate::reference::fast_f32`]); theorem
//! `reference.f32_rounding`: an a-priori bound on |ô_ic − o_ic| for every output element, where ô
//! is the kernel's f32 output and o the exact softmax attention of the same f32 inputs in exact
//! arithmetic.
//!
//! # Setting and notation
//!
//! One output row i with key set J = {0, …, N−1} (N = N_i, a prefix under every [`Mask`]), exact
//! scores s_j = q_i·k_j, m = max_j s_j, w_j = e^{s_j − m} (so max_j w_j = 1), π_j = w_j / Σ_J w,
//! o_c = Σ_j π_j v_jc. The kernel splits J into T = T_i tiles of n_t ≥ 1 keys (B = B_i = max_t n_t,
//! see [`RowLayout`]). Unit roundoff u = 2⁻²⁴, γ_k = ku/(1 − ku), E = [`EXP_REL_ERR`]
//! (= 1.5u), X_F = [`EXP_FLUSH`] (= −87). Quantities of the row:
//!
//! * A = A_i ≥ max_j Σ_l |q_il k_jl|;
//! * R̂ = R̂_i ≥ max_j ŝ_j − min_j ŝ_j, the range of the *computed* scores (a priori R̂ ≤ R + 2e_s
//!   with R the exact range and e_s below; the kernel reports it exactly, [`RowStats`]);
//! * per column c: D_c = Σ_j π_j |v_jc − o_c| (weighted mean deviation), Δ_c = max_j |v_jc − o_c|
//!   ≤ max_j v_jc − min_j v_jc, M_c = max_j |v_jc|.
//!
//! # Model
//!
//! (M1) Every f32 +, −, ×, ÷ and fused multiply-add returns the exact result rounded to nearest:
//! fl(x) = x(1+δ) + η, |δ| ≤ u, |η| ≤ 2⁻¹⁵⁰, δη = 0, and η = 0 for plain additions and
//! subtractions (gradual underflow — the default; neither Rust nor `gemm` sets FTZ/DAZ); no overflow (A ≤ 10³⁷ and
//! M_c ≤ f32::MAX/(4(N+T)) suffice: scores, their differences, l̂ and the accumulators stay finite;
//! [`row_bound`] returns +∞ otherwise).
//! (M2) `gemm` computes each entry Σ_l a_l b_l of a product by some binary tree of additions over
//! the products, each product rounded or fused into an addition (any order, any blocking, FMA or not:
//! no Strassen-type algorithm).
//! (M3) [`exp_neg`](crate::reference::fast_f32::exp_neg): |exp_neg(x) − eˣ| ≤ E eˣ for every f32
//! x ∈ [X_F, 0] (checked exhaustively), exp_neg(x) = 0 for x < X_F, exp_neg(0) = 1 exactly.
//!
//! # Derivation
//!
//! **1. Scores.** A dot product of length d in any order (M2) with underflow (M1) gives
//! ŝ_j = s_j + σ_j, |σ_j| ≤ e_s := γ_d A + d·2⁻¹⁴⁹ (Higham eq. 3.5; each product's η is carried
//! through ≤ d−1 additions with factor ≤ (1+u)^{d−1} ≤ 2).
//!
//! **2. Weights.** Let m_t be the running max after the row's t-th tile (a max: exact) and
//! M̂ = m_T = max_j ŝ_j. For key j in tile t the kernel forms p̂_j = exp_neg(x_j),
//! x_j = fl(ŝ_j − m_t) = (ŝ_j − m_t)(1+δ_j), and tile t' ≥ 2 rescales by α̂_{t'} = exp_neg(y_{t'}),
//! y_{t'} = fl(m_{t'−1} − m_{t'}) = (m_{t'−1} − m_{t'})(1+δ'_{t'}). (The row's first tile multiplies
//! l = acc = 0.) The weight with which v_j enters both sums is W_j = p̂_j Π_{t'>t} α̂_{t'}. If no
//! argument is below X_F, then by (M3)
//!
//!   W_j = exp(x_j + Σ_{t'>t} y_{t'}) · Π(1+ε),  at most T factors (1+ε), |ε| ≤ E,
//!
//! and the arguments *telescope*: x_j + Σ_{t'>t} y_{t'} = ŝ_j − M̂ + η_j with
//! |η_j| ≤ u[(m_t − ŝ_j) + Σ_{t'>t}(m_{t'} − m_{t'−1})] = u(M̂ − ŝ_j) ≤ uR̂. Hence
//!
//!   W_j = C · w_j · e^{θ_j} · (1+ζ_j),  C = e^{m − M̂} (one constant per row),
//!   |θ_j| ≤ θ := e_s + uR̂,  (1−E)^{T_e} ≤ 1+ζ_j ≤ (1+E)^{T_e},
//!
//! T_e = T a priori; since α̂ = exp_neg(0) = 1 exactly in a tile where the max does not increase,
//! T_e = 1 + (number of increases) is also valid ([`RowStats::rescales`]).
//! *Flushed keys* (some argument < X_F) get W_j = 0. For them ŝ_j − M̂ < X_F/(1+u) (the argument
//! x_j or y_{t'} bounds ŝ_j − M̂ from above after dividing by 1+δ), so with
//! m ≥ s_{j*} ≥ M̂ − e_s: w_j < φ_F := exp(X_F/(1+u) + 2e_s) ≈ 1.6·10⁻³⁸. The key j* that first
//! attains M̂ has W_{j*} = exp_neg(0)·1·…·1 = 1: it is never flushed, so |F| ≤ N − 1.
//!
//! **3. Sums.** Tile sums Σ_t of p̂ (key order; masked keys add exact zeros), then
//! l ← fl(α̂ l + Σ_t) (one FMA); P V_tile by `gemm` into a fresh buffer, then acc ← fl(α̂ acc + PV)
//! (one FMA). A sum tree whose leaves include exact zeros rounds at most (#nonzero leaves − 1) times
//! on any leaf's path, so, unrolling over tiles (the first tile's update adds to 0: exact),
//!
//!   l̂ = Σ_{j∉F} W_j (1+ψ_j),  N̂_c = Σ_{j∉F} W_j v_jc (1+φ_jc) + η_c,
//!   |ψ_j| ≤ γ_{K−1}, |φ_jc| ≤ γ_K,  K := B + T − 1
//!
//! (key j of tile t: product + (n_t − 1) additions + 1 rounding per update from tile t on). The
//! underflow terms: N products and T−1 FMAs, each |η| ≤ 2⁻¹⁵⁰, later multiplied by α̂ ≤ 1+E and
//! rounded: |η_c| ≤ (N+T)·2⁻¹⁵⁰·(1+γ_K)(1+E)^T ≤ (N+T)·2⁻¹⁴⁹ (condition (1+γ_K)(1+E)^T ≤ 2). The
//! denominator never underflows: after the row's first tile l̂ ≥ 1 (the tile holding the current
//! max contributes exp_neg(0) = 1; otherwise α̂ = 1; rounding is monotone).
//!
//! **4. Division.** ô_c = fl(N̂_c / l̂) = (N̂_c/l̂)(1+δ_c) + η'_c, |η'_c| ≤ 2⁻¹⁵⁰.
//!
//! **5. Assembly.** With W'_j = W_j(1+ψ_j), π'_j = W'_j / l̂, r_jc = (1+φ_jc)/(1+ψ_j):
//!
//!   ô_c − o_c = [Σ_{j∉F} π'_j v_jc − o_c] + Σ_{j∉F} π'_j v_jc((1+δ_c) r_jc − 1)
//!               + (1+δ_c) η_c / l̂ + η'_c.
//!
//! The second term is ≤ μ M_c, μ := (1+u)(1+γ_K)/(1−γ_K) − 1; the last two are
//! ≤ (N+T+1)·2⁻¹⁴⁹ since l̂ ≥ 1. For the first term, W'_j / w_j ∈ [C·L, C·U] for j ∉ F with
//! L = e^{−θ}(1−E)^{T_e}(1−γ_K), U = e^{θ}(1+E)^{T_e}(1+γ_K).
//!
//! *Perturbed-weight lemma (with flushing).* Let w_j > 0, W = Σ_J w ≥ 1, o = Σ w_j v_j / W, let
//! W'_j ∈ [CL·w_j, CU·w_j] for j ∉ F and W'_j = 0 for j ∈ F, with w_j ≤ φ for j ∈ F and
//! f := |F|·φ < 1. Then, with ρ := (U − L)/(2L) = (U/L − 1)/2,
//!
//!   |Σ_{j∉F} W'_j v_j / Σ_{j∉F} W'_j − o| ≤ (ρ D + (1+ρ) f Δ) / (1 − f),
//!
//! D = Σ_J π_j |v_j − o|, Δ = max_J |v_j − o|. *Proof.* Since Σ_J w_j (v_j − o) = 0, for
//! κ := C(L+U)/2 the numerator Σ_{j∉F} W'_j (v_j − o) equals
//! Σ_{j∉F} (W'_j − κ w_j)(v_j − o) − κ Σ_{j∈F} w_j (v_j − o); here |W'_j − κ w_j| ≤ C (U−L)/2 · w_j,
//! so |num| ≤ C(U−L)/2 · D W + C(U+L)/2 · fΔW. The denominator is ≥ CL(W − Σ_F w) ≥ CLW(1 − f).
//! Divide. ∎ (Without flushing: ρD. The brief's 2α/(1−α)·max|v_j − o| for |α_j| ≤ α is weaker: with
//! U/L = (1+α)/(1−α) this gives ρ = α/(1−α) and the *weighted* deviation D ≤ Δ ≤ 2 max|v|.)
//!
//! # Theorem (`reference.f32_rounding`)
//!
//! Under (M1)–(M3), for every output element, provided Ku < 1, (1+γ_K)(1+E)^T ≤ 2 and
//! f = (N−1)·φ_F < 1:
//!
//!   |ô_c − o_c| ≤ (ρ D_c + (1+ρ) f Δ_c) / (1 − f) + μ M_c + (N + T + 1)·2⁻¹⁴⁹,
//!
//!   ρ = ½ [e^{2θ} ((1+E)/(1−E))^{T_e} (1+γ_K)/(1−γ_K) − 1],  θ = γ_d A + d·2⁻¹⁴⁹ + uR̂,
//!   μ = (1+u)(1+γ_K)/(1−γ_K) − 1,  K = B + T − 1,  φ_F = exp(X_F/(1+u) + 2e_s).
//!
//! To first order ρ ≈ θ + T_e·E + K·u and μ ≈ (2K + 1)·u, i.e.
//!
//!   |ô_c − o_c| ≲ (d u A_i + u R̂_i + 1.5 u T_i + (B_i + T_i) u) · D_c + (2B_i + 2T_i − 1) u · M_c.
//!
//! [`row_bound`] evaluates the exact (not first-order) expression, rounded up by a factor
//! 1 + 64·2⁻⁵³ for its own f64 evaluation; it returns +∞ when a condition fails. For the small
//! arguments x of the rows (x ≤ ½) e^x − 1 is replaced by its upper bound
//! x(1 + x(½ + x/5)) ≥ x + x²/2 + (x³/6)/(1 − x/4) ≥ Σ_{k≥1} x^k/k! (term ratios ≤ x/4 from k = 3 on),
//! times 1 + 8·2⁻⁵³ for the polynomial's own rounding (five operations on positive numbers), and
//! φ_F = exp(X_F/(1+u)) · e^{2e_s} with the second factor bounded the same way ([`expm1_up`]). D_c ≤ Δ_c ≤
//! max_j v_jc − min_j v_jc, so the bound is computable from the inputs alone ([`Spread::Range`],
//! certified); [`Spread::OracleDeviation`] plugs in D_c from the float64 oracle (tighter, certified
//! only up to the oracle's own error, which [`head_bounds`] covers with a 10⁻⁶ relative slack).
use crate::reference::fast_f32::{EXP_FLUSH, EXP_REL_ERR, RowLayout, RowStats, Tiling};
use crate::reference::{Head, Mask};
use crate::theory::fp::{U32, U64, gamma, max_sum_sq_rows, sum_sq_f64};
use crate::theory::solver::norm_up;
use rayon::prelude::*;

/// 2⁻¹⁴⁹, the smallest positive f32 (twice the largest underflow error of one operation).
pub const TINY: f64 = 1.401_298_464_324_817e-45;

/// Score error bound e_s = γ_d A + d·2⁻¹⁴⁹ of a length-d f32 dot product with Σ|q_l k_l| ≤ A.
pub fn score_error(d: usize, abs_dot: f64) -> f64 {
    gamma(d, U32) * abs_dot + d as f64 * TINY
}

/// Everything the bound of one output row needs besides the values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowInputs {
    /// Head dimension of q and k.
    pub d: usize,
    /// N_i, T_i, B_i.
    pub layout: RowLayout,
    /// A_i ≥ max_j Σ_l |q_il k_jl| (exact arithmetic).
    pub abs_dot: f64,
    /// R̂_i ≥ max_j ŝ_ij − min_j ŝ_ij, range of the scores as the kernel computes them.
    pub computed_range: f64,
    /// T_e ≥ number of `exp_neg` results other than exactly 1 in any key's weight: T_i a priori,
    /// 1 + [`RowStats::rescales`] from the kernel.
    pub exp_factors: usize,
}

impl RowInputs {
    /// From inputs alone: A_i and the exact score range R_i (R̂_i ≤ R_i + 2e_s).
    pub fn a_priori(d: usize, layout: RowLayout, abs_dot: f64, exact_range: f64) -> Self {
        let computed_range = exact_range + 2.0 * score_error(d, abs_dot);
        RowInputs { d, layout, abs_dot, computed_range, exp_factors: layout.tiles }
    }
    /// From the kernel's statistics ([`crate::reference::fast_f32::attention_f32_with_stats`]):
    /// R̂_i exactly, A_i ≤ (Â_i + d·2⁻¹⁴⁹)/(1 − γ_d), T_e = 1 + rescales.
    pub fn from_stats(d: usize, st: &RowStats) -> Self {
        let abs_dot = (st.abs_dot as f64 + d as f64 * TINY) / (1.0 - gamma(d, U32)) * (1.0 + 4.0 * U64);
        let computed_range =
            if st.layout.n_keys == 0 { 0.0 } else { (st.max_score as f64 - st.min_score as f64) * (1.0 + U64) };
        RowInputs {
            d,
            layout: st.layout,
            abs_dot,
            computed_range,
            exp_factors: (1 + st.rescales).min(st.layout.tiles.max(1)),
        }
    }
}

/// The coefficients of the bound of one row: |ô_c − o_c| ≤ (ρ D_c + (1+ρ) f Δ_c)/(1 − f) + μ M_c + abs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowCoeffs {
    /// ρ: weight perturbation (score error, exponent rounding, exp error, sums).
    pub rho: f64,
    /// f = (N−1)·φ_F: total relative weight that underflow may drop.
    pub flush: f64,
    /// μ: summation mismatch between numerator and denominator, and the final division.
    pub mu: f64,
    /// Absolute underflow term (N + T + 1)·2⁻¹⁴⁹.
    pub abs: f64,
    /// Largest M_c for which no f32 sum can overflow, f32::MAX / (4(N + T)); +∞ bound beyond.
    pub max_value: f64,
}

impl RowCoeffs {
    /// The bound for one column: `dev` ≥ D_c, `spread` ≥ Δ_c (both may be max_j v_jc − min_j v_jc),
    /// `vmax` ≥ M_c. +∞ where the theorem's conditions fail.
    pub fn bound(&self, dev: f64, spread: f64, vmax: f64) -> f64 {
        let ok = self.flush < 1.0 && self.rho.is_finite() && self.mu.is_finite() && vmax <= self.max_value;
        if !ok {
            return f64::INFINITY;
        }
        let b =
            (self.rho * dev + (1.0 + self.rho) * self.flush * spread) / (1.0 - self.flush) + self.mu * vmax + self.abs;
        b * (1.0 + 64.0 * U64)
    }
}

/// An upper bound of e^x − 1 for x ≥ 0: x(1 + x(½ + x/5))·(1 + 8·2⁻⁵³) for x ≤ ½ (module
/// documentation; no call into libm on the rows' path), libm's `exp_m1` above (a few ulp, covered by
/// the final 1 + 64·2⁻⁵³ of [`RowCoeffs::bound`]) and for NaN.
pub fn expm1_up(x: f64) -> f64 {
    if (0.0..=0.5).contains(&x) { x * (1.0 + x * (0.5 + x * 0.2)) * (1.0 + 8.0 * U64) } else { x.exp_m1() }
}

/// exp(X_F/(1+u)): the part of φ_F that does not depend on the row.
static PHI_FLUSH_BASE: std::sync::LazyLock<f64> = std::sync::LazyLock::new(|| (EXP_FLUSH as f64 / (1.0 + U32)).exp());

/// ρ, f, μ and the absolute term of one row (see the module documentation).
pub fn row_coeffs(p: &RowInputs) -> RowCoeffs {
    let inf =
        RowCoeffs { rho: f64::INFINITY, flush: f64::INFINITY, mu: f64::INFINITY, abs: f64::INFINITY, max_value: 0.0 };
    let RowLayout { n_keys: n, tiles: t, max_tile_keys: b } = p.layout;
    if n == 0 {
        return inf;
    }
    if !(p.abs_dot.is_finite() && p.abs_dot <= 1e37 && p.computed_range.is_finite()) {
        return inf;
    }
    let u = U32;
    let e = EXP_REL_ERR;
    let k = (b + t).saturating_sub(1).max(1);
    let gk = gamma(k, u);
    let te = p.exp_factors.max(1).min(t.max(1)) as i32;
    if !gk.is_finite() || (1.0 + gk) * (1.0 + e).powi(t as i32) > 2.0 {
        return inf;
    }
    let es = score_error(p.d, p.abs_dot);
    let theta = es + u * p.computed_range;
    // U/L − 1 and μ through expm1/ln1p: no cancellation, a few ulp of f64 (covered by the final
    // 1 + 64·2⁻⁵³ in `bound`).
    let log_g = gk.ln_1p() - (-gk).ln_1p(); // ln((1+γ_K)/(1−γ_K))
    let log_ratio = 2.0 * theta + te as f64 * (e.ln_1p() - (-e).ln_1p()) + log_g;
    let rho = 0.5 * expm1_up(log_ratio);
    let phi = *PHI_FLUSH_BASE * (1.0 + expm1_up(2.0 * es));
    let flush = (n - 1) as f64 * phi;
    let abs = (n + t + 1) as f64 * TINY;
    let max_value = f32::MAX as f64 / (4.0 * (n + t) as f64);
    let mu = (u.ln_1p() + log_g).exp_m1();
    RowCoeffs { rho, flush, mu, abs, max_value }
}

/// The bound on |ô_ic − o_ic| for one element: `dev` ≥ D_c, `spread` ≥ Δ_c, `vmax` ≥ M_c.
pub fn row_bound(p: &RowInputs, dev: f64, spread: f64, vmax: f64) -> f64 {
    row_coeffs(p).bound(dev, spread, vmax)
}

/// Which bound on the weighted deviation D_c [`head_bounds`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spread {
    /// D_c ≤ Δ_c ≤ max_j v_jc − min_j v_jc over the row's keys: computed from the inputs, certified.
    Range,
    /// D_c from the float64 oracle's softmax weights, times (1 + 10⁻⁶), plus 10⁻⁶·Δ_c: tighter;
    /// certified only up to the float64 evaluation (relative error ≲ 10⁻¹⁰ for A, R ≤ 10⁴).
    OracleDeviation,
}

/// Per output row (rows as in [`Mask::rows`]) and column: M_c = max_j |v_jc| and
/// max_j v_jc − min_j v_jc over the row's keys; both `rows × dv`, row-major.
pub fn value_stats(h: &Head<'_, f32>, mask: Mask) -> (Vec<f64>, Vec<f64>) {
    let dv = h.dv;
    let rows = mask.rows(h.nq);
    let mut vmax = Vec::with_capacity(rows.len() * dv);
    let mut range = Vec::with_capacity(rows.len() * dv);
    let (mut hi, mut lo) = (vec![f32::NEG_INFINITY; dv], vec![f32::INFINITY; dv]);
    let mut seen = 0;
    for i in rows {
        let end = mask.keys(i, h.nk).end;
        for j in seen..end {
            for (c, &x) in h.v_row(j).iter().enumerate() {
                hi[c] = hi[c].max(x);
                lo[c] = lo[c].min(x);
            }
        }
        seen = seen.max(end);
        for c in 0..dv {
            if seen == 0 {
                vmax.push(0.0);
                range.push(0.0);
            } else {
                vmax.push((hi[c] as f64).abs().max((lo[c] as f64).abs()));
                range.push((hi[c] as f64 - lo[c] as f64) * (1.0 + U64));
            }
        }
    }
    (vmax, range)
}

/// A-priori [`RowInputs`] of every output row, from the inputs (A_i and R_i evaluated in f64 and
/// rounded up), for the kernel's `tiling`.
pub fn head_row_inputs(h: &Head<'_, f32>, mask: Mask, tiling: Tiling) -> Vec<RowInputs> {
    let rows: Vec<usize> = mask.rows(h.nq).collect();
    rows.par_iter().map(|&i| row_scan(h, mask, tiling, i, None)).collect()
}

/// One row in f64: the row inputs and, if asked, the oracle's deviation D_c (length dv).
fn row_scan(h: &Head<'_, f32>, mask: Mask, tiling: Tiling, i: usize, dev: Option<&mut [f64]>) -> RowInputs {
    let d = h.d;
    let keys = mask.keys(i, h.nk);
    let layout = tiling.row_layout(keys.end);
    let q: Vec<f64> = h.q_row(i).iter().map(|&x| x as f64).collect();
    let mut s = Vec::with_capacity(keys.len());
    let mut amax = 0f64;
    for j in keys.clone() {
        let (mut dot, mut abs) = (0f64, 0f64);
        for (a, &b) in q.iter().zip(h.k_row(j)) {
            let p = a * b as f64; // exact: f32 × f32 fits in f64
            dot += p;
            abs += p.abs();
        }
        s.push(dot);
        amax = amax.max(abs);
    }
    // Plain f64 sums of d terms: |dot − s| ≤ γ_d(u64)·Σ|p|, and Σ|p| ≤ abs/(1 − γ_d(u64)).
    let g64 = gamma(d, U64);
    let a_up = amax / (1.0 - g64) * (1.0 + 2.0 * U64);
    let (smax, smin) = s.iter().fold((f64::NEG_INFINITY, f64::INFINITY), |(a, b), &x| (a.max(x), b.min(x)));
    let range = if s.is_empty() { 0.0 } else { (smax - smin) * (1.0 + 2.0 * U64) + 2.0 * g64 * a_up };
    let inputs = RowInputs::a_priori(d, layout, a_up, range);
    if let Some(dev) = dev {
        let dv = h.dv;
        let w: Vec<f64> = s.iter().map(|&x| (x - smax).exp()).collect();
        let z: f64 = w.iter().sum();
        let mut o = vec![0f64; dv];
        for (t, j) in keys.clone().enumerate() {
            for (oc, &vc) in o.iter_mut().zip(h.v_row(j)) {
                *oc += w[t] * vc as f64;
            }
        }
        o.iter_mut().for_each(|x| *x /= z);
        dev.iter_mut().for_each(|x| *x = 0.0);
        for (t, j) in keys.enumerate() {
            for ((dc, &vc), oc) in dev.iter_mut().zip(h.v_row(j)).zip(&o) {
                *dc += w[t] * (vc as f64 - oc).abs();
            }
        }
        dev.iter_mut().for_each(|x| *x /= z);
    }
    inputs
}

/// The bound of every output element (`rows × dv`, rows as in [`Mask::rows`]) of
/// [`attention_f32_tiled`](crate::reference::fast_f32::attention_f32_tiled)`(h, mask, tiling)`
/// against exact attention of the same f32 inputs, from the inputs alone. Costs O(rows·N·d) in f64.
pub fn head_bounds(h: &Head<'_, f32>, mask: Mask, tiling: Tiling, spread: Spread) -> Vec<f64> {
    let dv = h.dv;
    let rows: Vec<usize> = mask.rows(h.nq).collect();
    let (vmax, range) = value_stats(h, mask);
    let mut out = vec![0f64; rows.len() * dv];
    out.par_chunks_mut(dv.max(1)).enumerate().for_each(|(r, b)| {
        let mut dev = vec![0f64; dv];
        let want_dev = spread == Spread::OracleDeviation;
        let inp = row_scan(h, mask, tiling, rows[r], if want_dev { Some(&mut dev) } else { None });
        let co = row_coeffs(&inp);
        for c in 0..dv {
            let (m, rg) = (vmax[r * dv + c], range[r * dv + c]);
            let dc = if want_dev { (dev[c] * (1.0 + 1e-6) + 1e-6 * rg).min(rg) } else { rg };
            b[c] = co.bound(dc, rg, m);
        }
    });
    out
}

/// Per output row, the bound on ‖ô_i − o_i‖_∞ (max over columns of [`head_bounds`]).
pub fn head_row_bounds(h: &Head<'_, f32>, mask: Mask, tiling: Tiling, spread: Spread) -> Vec<f64> {
    let dv = h.dv.max(1);
    head_bounds(h, mask, tiling, spread).chunks(dv).map(|c| c.iter().cloned().fold(0.0, f64::max)).collect()
}

/// Element bounds from the kernel's own statistics ([`RowStats`], computed R̂_i, Â_i, rescales)
/// and the value ranges ([`Spread::Range`]): O(n·dv) beyond the kernel, certified.
pub fn bounds_from_stats(h: &Head<'_, f32>, mask: Mask, stats: &[RowStats]) -> Vec<f64> {
    let dv = h.dv;
    let (vmax, range) = value_stats(h, mask);
    let mut out = vec![0f64; stats.len() * dv];
    for (r, st) in stats.iter().enumerate() {
        let co = row_coeffs(&RowInputs::from_stats(h.d, st));
        for c in 0..dv {
            let (m, rg) = (vmax[r * dv + c], range[r * dv + c]);
            out[r * dv + c] = co.bound(rg, rg, m);
        }
    }
    out
}

/// Upper bounds over the visible keys J(i) of a row (or of every row of a block).
#[derive(Debug, Clone, Copy)]
struct PrefixStats {
    /// ≥ ‖q_i‖.
    qnorm: f64,
    /// ≥ max_{j∈J(i)} ‖k_j‖.
    kmax: f64,
    /// ≥ max_c (max_j v_jc − min_j v_jc).
    range: f64,
    /// = max_{j,c} |v_jc|.
    vmax: f64,
}

/// The running statistics of the keys [0, seen): max ‖k_j‖² (the square root is taken when read,
/// it is monotone) and the per-column extremes of the values. Norms are computed in f64 from the
/// f32 inputs ([`sum_sq_f64`]) and rounded up by [`norm_up`]; in f32,
/// max_c (hi − lo) rounded to nearest is within a relative u₃₂ of the exact difference, so it is
/// widened by (1 + 2⁻²³); |x| and max are exact (plain comparisons, finite inputs).
#[derive(Debug, Clone)]
struct Running {
    seen: usize,
    k2max: f64,
    hi: Vec<f32>,
    lo: Vec<f32>,
}

impl Running {
    fn new(dv: usize) -> Self {
        Running { seen: 0, k2max: 0.0, hi: vec![f32::NEG_INFINITY; dv], lo: vec![f32::INFINITY; dv] }
    }
    #[inline(always)]
    fn advance(&mut self, h: &Head<'_, f32>, end: usize) {
        if end <= self.seen {
            return;
        }
        let (d, dv, seen) = (h.d, h.dv, self.seen);
        let (hi, lo) = (&mut self.hi[..dv], &mut self.lo[..dv]);
        let s = max_sum_sq_rows(&h.k[seen * d..end * d], d);
        let k2max = if s > self.k2max { s } else { self.k2max };
        // Per group of COLS columns, the keys' values with the extremes held in registers, even and
        // odd keys apart (two independent chains), merged after. Row by row, the extremes went
        // through memory: a store-to-load chain per key (with the row norms of
        // fp::max_sum_sq_rows and one root per block, cheap_block_bounds of a MiniLM head went
        // 8.3 → 7.35 µs, session 14). Plain comparisons: the same values as f32::max/min on finite
        // inputs, and max and min are exact in any order. (Held in memory, a select of the loaded
        // value compiled to masked stores, vmaskmovps, microcoded and ~10× slower on AMD Zen 1.)
        const COLS: usize = 16;
        let vals = &h.v[seen * dv..end * dv];
        let up = |a: f32, b: f32| if b > a { b } else { a };
        let down = |a: f32, b: f32| if b < a { b } else { a };
        let mut c0 = 0;
        while c0 + COLS <= dv {
            let (mut h0, mut l0) = ([0f32; COLS], [0f32; COLS]);
            h0.copy_from_slice(&hi[c0..c0 + COLS]);
            l0.copy_from_slice(&lo[c0..c0 + COLS]);
            let (mut h1, mut l1) = (h0, l0);
            let mut pairs = vals.chunks_exact(2 * dv);
            for pr in &mut pairs {
                let (x, y) = (&pr[c0..c0 + COLS], &pr[dv + c0..dv + c0 + COLS]);
                for j in 0..COLS {
                    h0[j] = up(h0[j], x[j]);
                    l0[j] = down(l0[j], x[j]);
                    h1[j] = up(h1[j], y[j]);
                    l1[j] = down(l1[j], y[j]);
                }
            }
            if let Some(x) = pairs.remainder().get(c0..c0 + COLS) {
                for j in 0..COLS {
                    h0[j] = up(h0[j], x[j]);
                    l0[j] = down(l0[j], x[j]);
                }
            }
            for j in 0..COLS {
                hi[c0 + j] = up(h0[j], h1[j]);
                lo[c0 + j] = down(l0[j], l1[j]);
            }
            c0 += COLS;
        }
        if c0 < dv {
            for vr in vals.chunks_exact(dv) {
                for ((h, l), &x) in hi[c0..].iter_mut().zip(lo[c0..].iter_mut()).zip(&vr[c0..]) {
                    (*h, *l) = (up(*h, x), down(*l, x));
                }
            }
        }
        self.k2max = k2max;
        self.seen = end;
    }
    /// (kmax, range, vmax) of the keys seen, rounded up as in the type's documentation.
    #[inline(always)]
    fn read(&self, d: usize) -> (f64, f64, f64) {
        const L: usize = 8;
        if self.seen == 0 {
            return (0.0, 0.0, 0.0);
        }
        let (mut rg, mut m) = ([0f32; L], [0f32; L]);
        let mut step = |j: usize, a: f32, b: f32| {
            let r = a - b;
            rg[j] = if r > rg[j] { r } else { rg[j] };
            let x = if a.abs() > b.abs() { a.abs() } else { b.abs() };
            m[j] = if x > m[j] { x } else { m[j] };
        };
        let (mut ch, mut cl) = (self.hi.chunks_exact(L), self.lo.chunks_exact(L));
        for (a, b) in (&mut ch).zip(&mut cl) {
            for j in 0..L {
                step(j, a[j], b[j]);
            }
        }
        for (j, (&a, &b)) in ch.remainder().iter().zip(cl.remainder()).enumerate() {
            step(j, a, b);
        }
        let max = |v: [f32; L]| v.iter().fold(0f32, |m, &x| if x > m { x } else { m });
        (norm_up(self.k2max.sqrt(), d), max(rg) as f64 * (1.0 + 2.0 * U32), max(m) as f64)
    }
}

/// ‖q_i‖ rounded up (see [`Running`]).
#[inline(always)]
fn qnorm_up(h: &Head<'_, f32>, i: usize) -> f64 {
    norm_up(sum_sq_f64(h.q_row(i)).sqrt(), h.d)
}

/// Body of [`block_stats`]: one serial pass over the keys in position order; per block of rows, the
/// running state at its start and the block's [`PrefixStats`] (max ‖q_i‖ over its rows, the key and
/// value statistics of its last row's prefix, which contains every other row's).
#[inline(always)]
fn block_stats_body(h: &Head<'_, f32>, mask: Mask, rows: &[usize]) -> Vec<(Running, PrefixStats)> {
    let mut run = Running::new(h.dv);
    let mut out = Vec::with_capacity(rows.len().div_ceil(CHEAP_BLOCK));
    for blk in rows.chunks(CHEAP_BLOCK) {
        let start = run.clone();
        let last = *blk.last().expect("chunks are non-empty");
        run.advance(h, mask.keys(last, h.nk).end);
        // max_i of ‖q_i‖ rounded up is the rounded-up root of max_i Σ q²: √ and norm_up are
        // monotone in IEEE arithmetic, so the same bits with one root per block instead of per row.
        // The block's rows are consecutive (mask.rows is a range).
        let q2 = max_sum_sq_rows(&h.q[blk[0] * h.d..(last + 1) * h.d], h.d);
        let qnorm = norm_up(q2.sqrt(), h.d);
        let (kmax, range, vmax) = run.read(h.d);
        out.push((start, PrefixStats { qnorm, kmax, range, vmax }));
    }
    out
}

/// Body of [`row_stats`]: the [`PrefixStats`] of each row of `rows`, from the running state at its
/// first row.
#[inline(always)]
fn row_stats_body(h: &Head<'_, f32>, mask: Mask, rows: &[usize], mut run: Running) -> Vec<PrefixStats> {
    rows.iter()
        .map(|&i| {
            run.advance(h, mask.keys(i, h.nk).end);
            let (kmax, range, vmax) = run.read(h.d);
            PrefixStats { qnorm: qnorm_up(h, i), kmax, range, vmax }
        })
        .collect()
}

per_isa! {
    fn block_stats(h: &Head<'_, f32>, mask: Mask, rows: &[usize]) -> Vec<(Running, PrefixStats)> = block_stats_body;
}

per_isa! {
    fn row_stats(h: &Head<'_, f32>, mask: Mask, rows: &[usize], run: Running) -> Vec<PrefixStats> = row_stats_body;
}

/// Rows per block of [`cheap_block_bounds`].
pub const CHEAP_BLOCK: usize = 64;

/// [`cheap_block_bounds`] refines blocks in parallel from this many rows on.
pub const PAR_ROWS_MIN: usize = 2048;

/// The a-priori bound of a row (or block) that sees `end` keys, from its statistics.
fn cheap_bound(d: usize, tiling: Tiling, end: usize, st: &PrefixStats) -> f64 {
    let a = st.qnorm * st.kmax;
    let inp = RowInputs::a_priori(d, tiling.row_layout(end), a, 2.0 * a);
    row_coeffs(&inp).bound(st.range, st.range, st.vmax)
}

/// Per output row, a bound of max_c |ô_ic − o_ic| for [`crate::reference::fast_f32::attention_f32`]
/// from O(n·(d + dv)) input statistics only — no pass over the scores: by Cauchy–Schwarz
/// A_i ≤ ‖q_i‖·max_{j∈J(i)}‖k_j‖ =: Ā_i, and every exact score lies in [−Ā_i, Ā_i], so R_i ≤ 2Ā_i.
/// Looser than [`bounds_from_stats`] (by the ratio of ‖q‖‖k‖ to Σ|q_l k_l|) but as certified, and
/// nearly free. Since [`RowCoeffs::bound`] increases in each argument, bound(max_c range_c,
/// max_c range_c, max_c M_c) bounds every column ([`Running`] for the rounding of the statistics).
pub fn cheap_row_bounds(h: &Head<'_, f32>, mask: Mask, tiling: Tiling) -> Vec<f64> {
    cheap_block_bounds(h, mask, tiling, f64::NEG_INFINITY)
}

/// [`cheap_row_bounds`] at block granularity, the solver's exact plan: the rows of a block of
/// [`CHEAP_BLOCK`] rows share one bound, the bound of a row with the block's largest ‖q_i‖ and the
/// prefix, tile layout and value statistics of its last row. It bounds every row of the block:
/// ρ grows with A (through θ = e_s + uR̂, R̂ ≤ 2A + 2e_s), with T (T_e and γ_K, K = B + T − 1) and B;
/// f = (N − 1)φ_F and the absolute term grow with N, the largest admissible value
/// f32::MAX/(4(N + T)) falls; and [`RowCoeffs::bound`] increases in D, Δ and M. A block whose shared
/// bound exceeds `refine_above` (or whose first row sees no key) gets per-row bounds instead — the
/// values [`cheap_row_bounds`] gives. One serial pass over the keys, and the refinement in parallel
/// over blocks from [`PAR_ROWS_MIN`] rows on.
pub fn cheap_block_bounds(h: &Head<'_, f32>, mask: Mask, tiling: Tiling, refine_above: f64) -> Vec<f64> {
    let d = h.d;
    let rows: Vec<usize> = mask.rows(h.nq).collect();
    let blocks = block_stats(h, mask, &rows);
    let refine = |(blk, (start, st)): (&[usize], &(Running, PrefixStats))| -> Vec<f64> {
        let last = *blk.last().expect("chunks are non-empty");
        let shared = cheap_bound(d, tiling, mask.keys(last, h.nk).end, st);
        if shared <= refine_above && !mask.keys(blk[0], h.nk).is_empty() {
            return vec![shared; blk.len()];
        }
        let per_row = row_stats(h, mask, blk, start.clone());
        blk.iter().zip(&per_row).map(|(&i, st)| cheap_bound(d, tiling, mask.keys(i, h.nk).end, st)).collect()
    };
    // Few rows: waking the pool costs more than the work (MiniLM, n = 512).
    if rows.len() < PAR_ROWS_MIN {
        let mut out = Vec::with_capacity(rows.len());
        for x in rows.chunks(CHEAP_BLOCK).zip(&blocks) {
            out.extend_from_slice(&refine(x));
        }
        out
    } else {
        rows.par_chunks(CHEAP_BLOCK).zip(blocks.par_iter()).flat_map_iter(refine).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::fast_f32::{attention_f32_tiled, attention_f32_with_stats};
    use crate::reference::{attention_f64, widen};
    use rand::RngExt;
    use rand_distr::{Distribution, StandardNormal};

    /// q, k with entries N(0, (scale/√d)²) (norms ≈ scale), v with entries N(0, 1)·vscale.
    fn head(seed: u64, nq: usize, nk: usize, d: usize, dv: usize, scale: f64, vscale: f64) -> [Vec<f32>; 3] {
        let mut rng = crate::rng::seeded(seed);
        let mut g = |len: usize, s: f64| -> Vec<f32> {
            (0..len)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    (s * z) as f32
                })
                .collect()
        };
        let s = scale / (d as f64).sqrt();
        [g(nq * d, s), g(nk * d, s), g(nk * dv, vscale)]
    }

    /// Oracle allowance: the f64 reference's own error (~1e-15 relative), far below every bound.
    const ORACLE_SLACK: f64 = 1e-12;

    struct Outcome {
        worst_ratio: f64,
        worst_ratio_dev: f64,
        max_bound: f64,
        max_err: f64,
    }

    /// Runs the kernel, checks every element against the certified (range) bound, the oracle
    /// deviation bound and the bound from the kernel's own statistics.
    fn check(h: &Head<'_, f32>, mask: Mask, tiling: Tiling) -> Outcome {
        let (q, k, v) = (widen(h.q), widen(h.k), widen(h.v));
        let h64 = Head { q: &q, k: &k, v: &v, nq: h.nq, nk: h.nk, d: h.d, dv: h.dv };
        let want = attention_f64(&h64, mask).out;
        let got = attention_f32_tiled(h, mask, tiling);
        let (got2, stats) = attention_f32_with_stats(h, mask, tiling);
        assert_eq!(got, got2);
        let b_range = head_bounds(h, mask, tiling, Spread::Range);
        let b_dev = head_bounds(h, mask, tiling, Spread::OracleDeviation);
        let b_stats = bounds_from_stats(h, mask, &stats);
        let (vmax, _) = value_stats(h, mask);
        let mut out = Outcome { worst_ratio: 0.0, worst_ratio_dev: 0.0, max_bound: 0.0, max_err: 0.0 };
        for e in 0..want.len() {
            let err = (want[e] - got[e] as f64).abs();
            let slack = ORACLE_SLACK * vmax[e];
            for (name, b) in [("range", b_range[e]), ("deviation", b_dev[e]), ("stats", b_stats[e])] {
                assert!(
                    err <= b + slack,
                    "{mask:?} n={} d={} dv={} {tiling:?} element {e}: error {err:e} > {name} bound {b:e}",
                    h.nq,
                    h.d,
                    h.dv
                );
            }
            if err > 0.0 {
                out.worst_ratio = out.worst_ratio.max(err / b_range[e]);
                out.worst_ratio_dev = out.worst_ratio_dev.max(err / b_dev[e]);
            }
            out.max_bound = out.max_bound.max(b_range[e]);
            out.max_err = out.max_err.max(err);
        }
        out
    }

    #[test]
    fn kernel_within_bound_random_heads() {
        let mut seed = 100;
        let (mut wr, mut wd) = (0f64, 0f64);
        let mut worst_case = String::new();
        for &n in &[1usize, 2, 17, 64, 129, 300] {
            for &d in &[1usize, 8, 32, 64] {
                if n == 300 && d < 32 {
                    continue;
                }
                for &scale in &[0.5, 3.0, 30.0] {
                    seed += 1;
                    let dv = if d == 8 { 5 } else { d }; // dv ≠ d case
                    let [q, k, v] = head(seed, n, n, d, dv, scale, 1.0);
                    let h = Head { q: &q, k: &k, v: &v, nq: n, nk: n, d, dv };
                    for mask in [Mask::Full, Mask::Causal, Mask::StrictPrefix] {
                        for tiling in [Tiling::default(), Tiling::new(16, 24)] {
                            let o = check(&h, mask, tiling);
                            if o.worst_ratio > wr {
                                worst_case = format!("n={n} d={d} dv={dv} scale={scale} {mask:?} {tiling:?}");
                            }
                            wr = wr.max(o.worst_ratio);
                            wd = wd.max(o.worst_ratio_dev);
                        }
                    }
                }
            }
        }
        println!("max measured error / bound: range bound {wr:.3e} (at {worst_case}), deviation bound {wd:.3e}");
    }

    #[test]
    fn rectangular_full_and_large_key_norms() {
        for (nq, nk, ks) in [(7usize, 300usize, 30.0f32), (300, 9, 30.0), (40, 200, 0.1)] {
            let [q, mut k, v] = head(7 + nq as u64, nq, nk, 32, 16, 2.0, 3.0);
            k.iter_mut().for_each(|x| *x *= ks);
            let h = Head { q: &q, k: &k, v: &v, nq, nk, d: 32, dv: 16 };
            for mask in [Mask::Full, Mask::Causal] {
                check(&h, mask, Tiling::new(8, 32));
            }
        }
    }

    #[test]
    fn bound_not_vacuous() {
        // Well-scaled: ‖q‖ ≈ ‖k‖ ≈ 3 (scores of order 1), v ~ N(0,1), n = 300, d = 64.
        let (n, d) = (300, 64);
        let [q, k, v] = head(2024, n, n, d, d, 3.0, 1.0);
        let h = Head { q: &q, k: &k, v: &v, nq: n, nk: n, d, dv: d };
        let vmax = v.iter().fold(0f32, |m, x| m.max(x.abs())) as f64;
        for tiling in [Tiling::default(), Tiling::new(16, 32)] {
            let o = check(&h, Mask::Causal, tiling);
            println!(
                "not vacuous ({tiling:?}): max bound {:.3e} = {:.2e}·max|v|, max error {:.3e}, error/bound ≤ {:.3e} (range), {:.3e} (deviation)",
                o.max_bound,
                o.max_bound / vmax,
                o.max_err,
                o.worst_ratio,
                o.worst_ratio_dev
            );
            assert!(o.max_bound < 1e-3 * vmax, "bound {} vs max|v| {vmax}", o.max_bound);
            assert!(o.worst_ratio > 1e-4, "bound suspiciously loose");
        }
    }

    #[test]
    fn bound_edge_cases() {
        // n = 1, d = 1.
        let h = Head { q: &[1.5f32], k: &[-2.0], v: &[0.25], nq: 1, nk: 1, d: 1, dv: 1 };
        for mask in [Mask::Full, Mask::Causal, Mask::StrictPrefix] {
            check(&h, mask, Tiling::default());
        }
        // Huge scores (|q·k| ≈ 1e4), many tiles.
        let [q, k, v] = head(77, 64, 64, 4, 3, 100.0, 1.0);
        let h = Head { q: &q, k: &k, v: &v, nq: 64, nk: 64, d: 4, dv: 3 };
        let qk_max = (0..64)
            .flat_map(|i| (0..64).map(move |j| (i, j)))
            .map(|(i, j)| h.q_row(i).iter().zip(h.k_row(j)).map(|(a, b)| (a * b) as f64).sum::<f64>().abs());
        assert!(qk_max.fold(0.0, f64::max) > 1e3);
        for mask in [Mask::Full, Mask::Causal] {
            check(&h, mask, Tiling::new(4, 4));
        }
        // Constant v and zero v.
        let [q, k, _] = head(78, 50, 50, 16, 4, 5.0, 1.0);
        let vc = vec![-1.75f32; 50 * 4];
        let h = Head { q: &q, k: &k, v: &vc, nq: 50, nk: 50, d: 16, dv: 4 };
        check(&h, Mask::Causal, Tiling::new(8, 8));
        let vz = vec![0f32; 50 * 4];
        let h = Head { q: &q, k: &k, v: &vz, nq: 50, nk: 50, d: 16, dv: 4 };
        let o = check(&h, Mask::Causal, Tiling::new(8, 8));
        assert_eq!(o.max_err, 0.0);
        // All-equal scores.
        let qz = vec![0f32; 50 * 16];
        let [_, _, v] = head(79, 50, 50, 16, 4, 5.0, 1.0);
        let h = Head { q: &qz, k: &k, v: &v, nq: 50, nk: 50, d: 16, dv: 4 };
        check(&h, Mask::StrictPrefix, Tiling::new(8, 8));
    }

    /// The perturbed-weight lemma with flushing, on random instances in f64 (with an exact
    /// rational-free check: the inequality has slack ≫ the f64 evaluation error).
    #[test]
    fn perturbed_weight_lemma() {
        let mut rng = crate::rng::seeded(5);
        for _ in 0..2000 {
            let n = rng.random_range(1..40usize);
            let w: Vec<f64> = (0..n).map(|_| (-rng.random_range(0.0..20.0f64)).exp()).collect();
            let wmax = w.iter().cloned().fold(0.0, f64::max);
            let w: Vec<f64> = w.iter().map(|x| x / wmax).collect(); // max weight 1
            let v: Vec<f64> = (0..n).map(|_| rng.random_range(-3.0..3.0f64)).collect();
            let (lo, hi) = (1.0 - rng.random_range(0.0..0.3f64), 1.0 + rng.random_range(0.0..0.3f64));
            let c = rng.random_range(0.1..10.0f64);
            let phi = 1e-3;
            let wt: f64 = w.iter().sum();
            let o = w.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>() / wt;
            let mut f = 0usize;
            let wp: Vec<f64> = w
                .iter()
                .map(|&x| {
                    if x <= phi && rng.random_range(0.0..1.0f64) < 0.5 {
                        f += 1;
                        0.0
                    } else {
                        c * x * rng.random_range(lo..hi)
                    }
                })
                .collect();
            let sp: f64 = wp.iter().sum();
            if sp == 0.0 {
                continue;
            }
            let op = wp.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>() / sp;
            let dev = w.iter().zip(&v).map(|(a, b)| a * (b - o).abs()).sum::<f64>() / wt;
            let delta = v.iter().map(|b| (b - o).abs()).fold(0.0, f64::max);
            let rho = (hi - lo) / (2.0 * lo);
            let ff = f as f64 * phi;
            let bound = (rho * dev + (1.0 + rho) * ff * delta) / (1.0 - ff);
            assert!((op - o).abs() <= bound * (1.0 + 1e-12) + 1e-15, "{} > {bound}", (op - o).abs());
        }
    }

    #[test]
    fn expm1_up_bounds_expm1_from_above_and_stays_within_its_cubic_slack() {
        // expm1_up(x) ≥ e^x − 1 (libm to a few ulp, hence the 4u margin), and exceeds it by at most
        // the gap of the cubic coefficient, x³(1/5 − 1/6) plus the tail, relative ≤ x²/30 + 16u.
        for k in 0..=20_000 {
            let x = 0.5 * k as f64 / 20_000.0;
            let (up, e) = (expm1_up(x), x.exp_m1());
            assert!(up >= e * (1.0 + 4.0 * U64), "x = {x}: {up} < {e}");
            assert!(up <= e * (1.0 + x * x / 30.0 + 16.0 * U64), "x = {x}: {up} vs {e}");
        }
        assert_eq!(expm1_up(2.0), 2f64.exp_m1());
    }

    #[test]
    fn cheap_row_bounds_match_a_row_by_row_recomputation_bitwise() {
        // cheap_row_bounds keeps running statistics over blocks of rows; serial (n < PAR_ROWS_MIN) and
        // parallel paths must give exactly what row_coeffs gives from each row's own prefix.
        let mut rng = crate::rng::seeded(78);
        for &(n, d, dv, scale) in &[(300usize, 16usize, 8usize, 3.0f64), (PAR_ROWS_MIN + 300, 8, 4, 2.0)] {
            let s = crate::data::synthetic::gaussian(&mut rng, n, d, dv, scale);
            let h = Head::new(&s.q, &s.k, &s.v, n, d, dv).unwrap();
            let t = Tiling::new(16, 64);
            let got = cheap_row_bounds(&h, Mask::Causal, t);
            let (mut k2max, mut hi, mut lo) = (0f64, vec![f32::NEG_INFINITY; dv], vec![f32::INFINITY; dv]);
            for (i, g) in got.iter().enumerate() {
                k2max = k2max.max(sum_sq_f64(h.k_row(i)));
                for ((a, b), &x) in hi.iter_mut().zip(lo.iter_mut()).zip(h.v_row(i)) {
                    *a = a.max(x);
                    *b = b.min(x);
                }
                let rg = hi.iter().zip(&lo).map(|(a, b)| a - b).fold(0f32, f32::max) as f64 * (1.0 + 2.0 * U32);
                let m = hi.iter().zip(&lo).map(|(a, b)| a.abs().max(b.abs())).fold(0f32, f32::max) as f64;
                let qn = norm_up(sum_sq_f64(h.q_row(i)).sqrt(), d);
                let a = qn * norm_up(k2max.sqrt(), d);
                let want = row_coeffs(&RowInputs::a_priori(d, t.row_layout(i + 1), a, 2.0 * a)).bound(rg, rg, m);
                assert_eq!(g.to_bits(), want.to_bits(), "n = {n}, row {i}");
            }
        }
    }

    #[test]
    fn block_bounds_cover_the_row_bounds_and_refine_above_the_threshold() {
        // A shared block bound is ≥ every row bound of its block (the monotonicity argument of
        // cheap_block_bounds); blocks over the threshold carry the row bounds themselves.
        let mut rng = crate::rng::seeded(79);
        for &(n, d, dv, scale) in &[(300usize, 16usize, 8usize, 3.0f64), (PAR_ROWS_MIN + 300, 8, 4, 6.0)] {
            let s = crate::data::synthetic::gaussian(&mut rng, n, d, dv, scale);
            let h = Head::new(&s.q, &s.k, &s.v, n, d, dv).unwrap();
            for mask in [Mask::Causal, Mask::StrictPrefix] {
                let t = Tiling::default();
                let rows = cheap_row_bounds(&h, mask, t);
                // A threshold between the smallest and the largest block bound: some blocks of each kind.
                let shared = cheap_block_bounds(&h, mask, t, f64::INFINITY);
                let mut sorted = shared.clone();
                sorted.sort_by(f64::total_cmp);
                let cut = sorted[sorted.len() / 2];
                let mixed = cheap_block_bounds(&h, mask, t, cut);
                let (mut kept, mut refined) = (0, 0);
                for (r, ((&row, &sh), &mx)) in rows.iter().zip(&shared).zip(&mixed).enumerate() {
                    assert!(sh >= row, "{mask:?} n = {n} row {r}: block {sh:e} < row {row:e}");
                    let blk = r / CHEAP_BLOCK;
                    let own = &shared[blk * CHEAP_BLOCK..((blk + 1) * CHEAP_BLOCK).min(shared.len())];
                    assert!(own.iter().all(|x| x.to_bits() == own[0].to_bits()), "one value per block");
                    if sh <= cut {
                        assert_eq!(mx.to_bits(), sh.to_bits());
                        kept += 1;
                    } else {
                        assert_eq!(mx.to_bits(), row.to_bits());
                        refined += 1;
                    }
                }
                assert!(kept > 0 && refined > 0, "{mask:?} n = {n}: {kept} kept, {refined} refined");
            }
        }
    }

    #[test]
    fn cheap_row_bounds_dominate_the_true_error_and_the_statistics_bound() {
        use crate::reference::fast_f32::{attention_f32_tiled, attention_f32_with_stats};
        let mut rng = crate::rng::seeded(77);
        for &(n, d, dv, scale) in
            &[(1usize, 1usize, 1usize, 1.0f64), (70, 8, 3, 5.0), (300, 32, 16, 2.0), (257, 64, 64, 12.0)]
        {
            let s = crate::data::synthetic::gaussian(&mut rng, n, d, dv, scale);
            let h = Head::new(&s.q, &s.k, &s.v, n, d, dv).unwrap();
            for mask in [Mask::Causal, Mask::StrictPrefix, Mask::Full] {
                let t = Tiling::default();
                let got = attention_f32_tiled(&h, mask, t);
                let (q, k, v) =
                    (crate::reference::widen(h.q), crate::reference::widen(h.k), crate::reference::widen(h.v));
                let want = crate::reference::attention_f64(&Head::new(&q, &k, &v, n, d, dv).unwrap(), mask).out;
                let cheap = cheap_row_bounds(&h, mask, t);
                let (_, st) = attention_f32_with_stats(&h, mask, t);
                let tight = bounds_from_stats(&h, mask, &st);
                assert_eq!(cheap.len() * dv, got.len());
                for (r, b) in cheap.iter().enumerate() {
                    let cols = r * dv..(r + 1) * dv;
                    let err = got[cols.clone()].iter().zip(&want[cols.clone()]).map(|(g, w)| (*g as f64 - w).abs());
                    assert!(err.fold(0.0, f64::max) <= *b, "{mask:?} n={n} row {r}");
                    let tmax = tight[cols].iter().cloned().fold(0.0, f64::max);
                    assert!(*b >= tmax, "{mask:?} n={n} row {r}: cheap {b:e} < statistics bound {tmax:e}");
                    // Not vacuous: on these Gaussian heads it stays within 4× of the statistics bound
                    // (measured max ratio 2.16; the gap is Cauchy–Schwarz ‖q‖‖k‖ vs Σ|q_l k_l|).
                    assert!(*b <= 4.0 * tmax + 1e-30, "{mask:?} n={n} row {r}: {b:e} vs {tmax:e}");
                }
            }
        }
    }

    #[test]
    fn first_order_shape() {
        // ρ ≈ θ + T_e E + K u and μ ≈ (2K+1) u for small arguments.
        let layout = RowLayout { n_keys: 1000, tiles: 4, max_tile_keys: 256 };
        let p = RowInputs::a_priori(64, layout, 10.0, 5.0);
        let c = row_coeffs(&p);
        let k = 256 + 4 - 1;
        let theta = score_error(64, 10.0) + U32 * p.computed_range;
        let rho1 = theta + 4.0 * EXP_REL_ERR + k as f64 * U32;
        assert!((c.rho / rho1 - 1.0).abs() < 1e-3, "{} vs {}", c.rho, rho1);
        assert!((c.mu / ((2 * k + 1) as f64 * U32) - 1.0).abs() < 1e-3);
        assert!(c.flush < 1e-30 && c.abs < 1e-40);
        assert_eq!(TINY, f32::from_bits(1) as f64);
        // Monotone in every input.
        let wider = RowInputs { abs_dot: 20.0, ..p };
        assert!(row_coeffs(&wider).rho > c.rho);
        let no_keys = RowInputs { layout: RowLayout::default(), ..p };
        assert!(row_bound(&no_keys, 1.0, 1.0, 1.0).is_infinite());
    }
}
