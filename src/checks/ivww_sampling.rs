//! Check of `ivww.sampling` (theorem file `theorems/ivww.sampling.yaml`).
//!
//! For point sets under ℓ1, ℓ2, ℓ∞ and squared ℓ2, the sampling weights p_i of IVWW Algorithm 1
//! step 2 ([`crate::theory::ivww`]) are computed for EVERY (i*, j*) and held against
//! ‖A_i‖² ≤ C·m·p_i (C = 4 for metrics, 64 for squared ℓ2; symmetric 2 and 8), and the exhaustive
//! average of Σ_i p_i against 3‖A‖_F²/m (symmetric 2‖A‖_F²/n) within the summation error bound.
use super::Ctx;
use crate::Result;
use crate::data::synthetic;
use crate::registry::Theorem;
use crate::theory::fp::{U64, gamma};
use crate::theory::ivww::Metric;
use crate::verdict::{Report, Worst};
use nalgebra::DMatrix;

/// The claimed constants.
pub struct Claims {
    pub row: f64,
    pub row_sq: f64,
    pub sym_row: f64,
    pub sym_row_sq: f64,
    pub expect: f64,
    pub sym_expect: f64,
}

impl Claims {
    pub fn read(thm: &Theorem) -> Result<Claims> {
        Ok(Claims {
            row: thm.claimed_f64("row_norm_factor")?,
            row_sq: thm.claimed_f64("row_norm_factor_sqeuclidean")?,
            sym_row: thm.claimed_f64("sym_row_norm_factor")?,
            sym_row_sq: thm.claimed_f64("sym_row_norm_factor_sqeuclidean")?,
            expect: thm.claimed_f64("expectation_factor")?,
            sym_expect: thm.claimed_f64("sym_expectation_factor")?,
        })
    }
}

/// Measured facts of one matrix: (max over i, i*, j* of ‖A_i‖²/(m p_i), |avg Σp − c‖A‖²/m|, its bound,
/// max_i* ... ) for the bipartite (or symmetric) weights.
pub struct Measured {
    /// max ‖A_i‖² / (m·p_i) (bipartite) or ‖A_i‖²/(n·p_i) (symmetric).
    pub max_row_ratio: f64,
    /// exhaustive average of Σ_i p_i.
    pub avg_sum: f64,
    /// ‖A‖_F² / m (bipartite) or / n (symmetric).
    pub frob_over: f64,
    /// rounding bound on |avg − factor·frob_over| relative to the true value (γ from the op count).
    pub gamma: f64,
    /// min over (i*, j*) of min_i (p_i/Σp)/(‖A_i‖²/‖A‖_F²): the β of β-approximate norm sampling.
    pub min_beta: f64,
}

/// All (i*, j*) of a bipartite matrix.
pub fn bipartite(a: &DMatrix<f64>) -> Measured {
    let (n, m) = a.shape();
    let rn: Vec<f64> = (0..n).map(|i| a.row(i).norm_squared()).collect();
    let fro: f64 = rn.iter().sum();
    let rmean: Vec<f64> = rn.iter().map(|x| x / m as f64).collect();
    let (mut worst, mut total, mut beta) = (0.0f64, 0.0f64, f64::INFINITY);
    for is in 0..n {
        for js in 0..m {
            let c = a[(is, js)].powi(2) + rmean[is];
            let mut sum = 0.0;
            let mut pmin_ratio = f64::INFINITY;
            for i in 0..n {
                let p = a[(i, js)].powi(2) + c;
                sum += p;
                if rn[i] > 0.0 {
                    worst = worst.max(rn[i] / (m as f64 * p));
                    pmin_ratio = pmin_ratio.min(p / rn[i]);
                }
            }
            total += sum;
            beta = beta.min(pmin_ratio * fro / sum);
        }
    }
    Measured {
        max_row_ratio: worst,
        avg_sum: total / (n * m) as f64,
        frob_over: fro / m as f64,
        gamma: gamma(n * m + n + m + 8, U64) + gamma(n * m + 2, U64),
        min_beta: beta,
    }
}

/// All i* of a symmetric matrix.
pub fn symmetric(a: &DMatrix<f64>) -> Measured {
    let n = a.nrows();
    let rn: Vec<f64> = (0..n).map(|i| a.row(i).norm_squared()).collect();
    let fro: f64 = rn.iter().sum();
    let (mut worst, mut total, mut beta) = (0.0f64, 0.0f64, f64::INFINITY);
    for is in 0..n {
        let r = rn[is] / n as f64;
        let mut sum = 0.0;
        let mut pmin_ratio = f64::INFINITY;
        for i in 0..n {
            let p = a[(is, i)].powi(2) + r;
            sum += p;
            if rn[i] > 0.0 {
                worst = worst.max(rn[i] / (n as f64 * p));
                pmin_ratio = pmin_ratio.min(p / rn[i]);
            }
        }
        total += sum;
        beta = beta.min(pmin_ratio * fro / sum);
    }
    Measured {
        max_row_ratio: worst,
        avg_sum: total / n as f64,
        frob_over: fro / n as f64,
        gamma: gamma(n * n + 2 * n + 8, U64) + gamma(n * n + 2, U64),
        min_beta: beta,
    }
}

struct Acc {
    row: Worst,
    row_sq: Worst,
    sym: Worst,
    sym_sq: Worst,
    exp: Worst,
    sym_exp: Worst,
    best_row: [f64; 4],
    best_sym: [f64; 4],
    min_beta: f64,
}

impl Acc {
    fn new() -> Acc {
        Acc {
            row: Worst::new("max ‖A_i‖²/(m·p_i) vs row_norm_factor (ℓ1, ℓ2, ℓ∞; every i, i*, j*)"),
            row_sq: Worst::new("max ‖A_i‖²/(m·p_i) vs row_norm_factor_sqeuclidean (squared ℓ2)"),
            sym: Worst::new("symmetric: max ‖A_i‖²/(n·p_i) vs sym_row_norm_factor"),
            sym_sq: Worst::new("symmetric squared ℓ2: max ‖A_i‖²/(n·p_i) vs sym_row_norm_factor_sqeuclidean"),
            exp: Worst::new("|avg_{i*,j*} Σp − expectation_factor·‖A‖²/m| vs rounding bound"),
            sym_exp: Worst::new("symmetric: |avg_{i*} Σp − sym_expectation_factor·‖A‖²/n| vs rounding bound"),
            best_row: [0.0; 4],
            best_sym: [0.0; 4],
            min_beta: f64::INFINITY,
        }
    }
    fn push(&mut self, c: &Claims, x: &[f64], y: &[f64], d: usize, label: &str) {
        for (mi, metric) in Metric::ALL.into_iter().enumerate() {
            let o = crate::theory::ivww::DistOracle::bipartite(x, y, d, metric).expect("validated points");
            let a = o.full();
            let b = bipartite(&a);
            let lab = || format!("{label}, {} bipartite {}×{}", metric.name(), a.nrows(), a.ncols());
            let (w, bound) = if metric == Metric::SqL2 { (&mut self.row_sq, c.row_sq) } else { (&mut self.row, c.row) };
            w.push(b.max_row_ratio, bound, lab);
            self.best_row[mi] = self.best_row[mi].max(b.max_row_ratio);
            let truth = c.expect * b.frob_over;
            self.exp.push((b.avg_sum - truth).abs(), b.gamma * truth.abs().max(b.avg_sum), lab);
            self.min_beta = self.min_beta.min(b.min_beta);
            let os = crate::theory::ivww::DistOracle::symmetric(y, d, metric).expect("validated points");
            let s = symmetric(&os.full());
            let labs = || format!("{label}, {} symmetric {}×{}", metric.name(), os.n, os.n);
            let (w, bound) =
                if metric == Metric::SqL2 { (&mut self.sym_sq, c.sym_row_sq) } else { (&mut self.sym, c.sym_row) };
            w.push(s.max_row_ratio, bound, labs);
            self.best_sym[mi] = self.best_sym[mi].max(s.max_row_ratio);
            let truth = c.sym_expect * s.frob_over;
            self.sym_exp.push((s.avg_sum - truth).abs(), s.gamma * truth.abs().max(s.avg_sum), labs);
        }
    }
}

pub fn check(thm: &Theorem, ctx: &Ctx) -> Result<Report> {
    let c = Claims::read(thm)?;
    let mut rep = Report::new(&thm.id, ctx.seed, ctx.quick);
    let mut acc = Acc::new();
    let mut rng = crate::rng::stream(ctx.seed, 40);
    let (n, m) = if ctx.quick { (40, 30) } else { (100, 80) };
    for (t, &d) in [1usize, 2, 8, 32].iter().enumerate() {
        let s = synthetic::gaussian(&mut rng, n.max(m), d, 1, 1.0);
        let x = crate::reference::widen(&s.q[..n * d]);
        let y = crate::reference::widen(&s.k[..m * d]);
        acc.push(&c, &x, &y, d, &format!("gaussian d={d} (set {t})"));
    }
    // Clustered keys with a far outlier row: the adversarial shape of the IVWW lower bound.
    for &d in &[2usize, 16] {
        let mut x: Vec<f64> = Vec::new();
        for i in 0..n {
            let centre = (i % 3) as f64 * 5.0;
            x.extend(synthetic::vector(&mut rng, d, 0.1).iter().map(|v| *v as f64 + centre));
        }
        x[0] += 1e3;
        let y: Vec<f64> = x[..m * d].iter().map(|v| v + 0.01).collect();
        acc.push(&c, &x, &y, d, &format!("3 clusters + outlier d={d}"));
    }
    let heads = ctx.real_heads()?;
    let toks = if ctx.quick { 64 } else { 200 };
    let take = if ctx.quick { 2 } else { heads.len() };
    for h in heads.iter().take(take) {
        let (q, k, _) = h.widen();
        let t = toks.min(h.n);
        acc.push(&c, &q[..t * h.d], &k[..t * h.d], h.d, &format!("{} q×k first {t} tokens", h.label));
    }
    let names = Metric::ALL.map(|m| m.name());
    rep.notes.push(format!(
        "largest measured ‖A_i‖²/(m·p_i) per metric {:?}: {:.3} / {:.3} / {:.3} / {:.3}; published 4 (64 for squared ℓ2 [D]); Cauchy–Schwarz gives the sharper 3 (27 for squared ℓ2)",
        names, acc.best_row[0], acc.best_row[1], acc.best_row[2], acc.best_row[3]
    ));
    rep.notes.push(format!(
        "symmetric ‖A_i‖²/(n·p_i) per metric: {:.3} / {:.3} / {:.3} / {:.3}; claimed 2 (8 for squared ℓ2)",
        acc.best_sym[0], acc.best_sym[1], acc.best_sym[2], acc.best_sym[3]
    ));
    rep.notes.push(format!(
        "smallest β = min_i (p_i/Σp)/(‖A_i‖²/‖A‖_F²) over all (i*, j*): {:.3e} (the Markov argument guarantees ≥ δ/12 w.p. ≥ 1−δ); real data: {}",
        acc.min_beta,
        ctx.data_label()
    ));
    rep.findings = vec![
        acc.row.finish(),
        acc.row_sq.finish(),
        acc.sym.finish(),
        acc.sym_sq.finish(),
        acc.exp.finish(),
        acc.sym_exp.finish(),
    ];
    Ok(rep.conclude_all())
}

/// Sweep measure: one n×m point set from the dataset (queries × keys), metric index `metric`
/// (0 l1, 1 l2, 2 linf, 3 sql2); ratios to the claimed constants and to the rounding bound.
pub fn measure(p: &crate::sweep::Point, thm: &Theorem) -> Result<crate::sweep::run::Metrics> {
    let c = Claims::read(thm)?;
    let metric = Metric::from_index(p.usize("metric")?)?;
    let h = p.dataset.generate(p.usize_at_least("n", 1)?, p.usize_or_at_least("d", 8, 1)?, 1, p.seed)?;
    let (x, y) = (crate::reference::widen(&h.q), crate::reference::widen(&h.k));
    let a = crate::theory::ivww::DistOracle::bipartite(&x, &y, h.d, metric)?.full();
    let b = bipartite(&a);
    let s = symmetric(&crate::theory::ivww::DistOracle::symmetric(&y, h.d, metric)?.full());
    let sq = metric == Metric::SqL2;
    let row_ratio = b.max_row_ratio / if sq { c.row_sq } else { c.row };
    let sym_ratio = s.max_row_ratio / if sq { c.sym_row_sq } else { c.sym_row };
    let t = c.expect * b.frob_over;
    let exp_ratio = (b.avg_sum - t).abs() / (b.gamma * t.max(b.avg_sum));
    let ts = c.sym_expect * s.frob_over;
    let sexp_ratio = (s.avg_sum - ts).abs() / (s.gamma * ts.max(s.avg_sum));
    Ok(crate::sweep::run::metrics([
        ("max_ratio", row_ratio.max(sym_ratio).max(exp_ratio).max(sexp_ratio)),
        ("row_ratio", row_ratio),
        ("sym_row_ratio", sym_ratio),
        ("max_row_norm_over_mp", b.max_row_ratio),
        ("expectation_ratio", exp_ratio.max(sexp_ratio)),
        ("min_beta", b.min_beta),
        ("n", h.n as f64),
    ]))
}
