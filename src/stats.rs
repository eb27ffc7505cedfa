//! Statistics for verdicts (statrs): Clopper–Pearson limits of failure rates, log-log slope fits
//! with their confidence intervals, and the median every report quotes.
use statrs::distribution::{Beta, ContinuousCDF, StudentsT};

/// One-sided Clopper–Pearson upper limit at confidence `conf` for `failures` out of `trials`:
/// the p with P[Bin(trials, p) ≤ failures] = 1 − conf, i.e. the `conf` quantile of
/// Beta(failures + 1, trials − failures). A probabilistic bound "holds" when this is below its δ.
pub fn clopper_pearson_upper(failures: u64, trials: u64, conf: f64) -> f64 {
    if trials == 0 {
        return 1.0;
    }
    if failures >= trials {
        return 1.0;
    }
    let b = Beta::new(failures as f64 + 1.0, (trials - failures) as f64).expect("positive shape parameters");
    b.inverse_cdf(conf)
}

/// One-sided Clopper–Pearson lower limit at confidence `conf` (0 when there are no failures).
pub fn clopper_pearson_lower(failures: u64, trials: u64, conf: f64) -> f64 {
    if failures == 0 || trials == 0 {
        return 0.0;
    }
    let b = Beta::new(failures as f64, (trials - failures) as f64 + 1.0).expect("positive shape parameters");
    b.inverse_cdf(1.0 - conf)
}

/// Two-sided Clopper–Pearson interval at level `conf` (each tail (1 − conf)/2).
pub fn clopper_pearson_interval(failures: u64, trials: u64, conf: f64) -> (f64, f64) {
    let tail = (1.0 - conf) / 2.0;
    (clopper_pearson_lower(failures, trials, 1.0 - tail), clopper_pearson_upper(failures, trials, 1.0 - tail))
}

/// Least-squares fit of log y = a + b·log x: slope b with a two-sided `conf` interval (Student t,
/// n − 2 degrees of freedom). Points with non-positive x or y are ignored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlopeFit {
    pub slope: f64,
    pub intercept: f64,
    pub lo: f64,
    pub hi: f64,
    pub points: usize,
}

pub fn loglog_slope(xs: &[f64], ys: &[f64], conf: f64) -> Option<SlopeFit> {
    let pts: Vec<(f64, f64)> =
        xs.iter().zip(ys).filter(|(x, y)| **x > 0.0 && **y > 0.0).map(|(x, y)| (x.ln(), y.ln())).collect();
    let n = pts.len();
    if n < 2 {
        return None;
    }
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n as f64;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n as f64;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let (lo, hi) = if n > 2 {
        let rss: f64 = pts.iter().map(|p| (p.1 - intercept - slope * p.0).powi(2)).sum();
        let se = (rss / (n - 2) as f64 / sxx).sqrt();
        let t = StudentsT::new(0.0, 1.0, (n - 2) as f64).expect("dof > 0").inverse_cdf(0.5 + conf / 2.0);
        (slope - t * se, slope + t * se)
    } else {
        (f64::NEG_INFINITY, f64::INFINITY)
    };
    Some(SlopeFit { slope, intercept, lo, hi, points: n })
}

/// The sample median of `v` (sorted in place by `f64::total_cmp`): the middle value, or the mean of
/// the two middle values for an even count; NaN for an empty sample. The one definition behind
/// every median a report or a benchmark prints.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 { v[m] } else { 0.5 * (v[m - 1] + v[m]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clopper_pearson_zero_failures_is_the_rule_of_three() {
        // With 0 failures in n trials the 95 % one-sided upper limit is 1 − 0.05^{1/n} ≈ 3/n.
        let u = clopper_pearson_upper(0, 1000, 0.95);
        assert!((u - (1.0 - 0.05f64.powf(1.0 / 1000.0))).abs() < 1e-12, "{u}");
        let (lo, hi) = clopper_pearson_interval(5, 100, 0.95);
        // Reference values (R: binom.test(5, 100)$conf.int): 0.01643 0.11284
        assert!((lo - 0.016431).abs() < 1e-5 && (hi - 0.112837).abs() < 1e-5, "{lo} {hi}");
    }

    #[test]
    fn slope_of_a_power_law() {
        let xs: Vec<f64> = (1..=8).map(|i| (1 << i) as f64).collect();
        let ys: Vec<f64> =
            xs.iter().enumerate().map(|(i, x)| 3.0 * x.powf(1.5) * (1.0 + 0.01 * (i % 2) as f64)).collect();
        let f = loglog_slope(&xs, &ys, 0.95).unwrap();
        assert!((f.slope - 1.5).abs() < 0.01 && f.lo < 1.5 && f.hi > 1.5, "{f:?}");
    }

    #[test]
    fn median_is_the_middle_or_the_mean_of_the_two_middle_values() {
        assert!(median(&mut []).is_nan());
        assert_eq!(median(&mut [3.0]), 3.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut [f64::NAN, 1.0, 2.0]), 2.0, "NaN sorts last (total_cmp)");
    }
}
