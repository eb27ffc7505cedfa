//! Verdicts: what a check concludes about a claim, with the numbers behind it.
use serde::{Deserialize, Serialize};
use std::fmt;

/// The four outcomes a check can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every measured case is within the bound.
    Holds,
    /// A measured case violates the claim (the counterexample is the worst case).
    Fails,
    /// Holds in the stated regime and fails (or is not claimed) outside it.
    HoldsInRegime,
    /// A question with no yes/no answer yet; the measurement is reported.
    Open,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Holds => "holds",
            Verdict::Fails => "fails",
            Verdict::HoldsInRegime => "holds-in-regime",
            Verdict::Open => "open",
        })
    }
}

/// One measured quantity held against its bound: `value ≤ bound` is the claim (or `value ≥ bound`
/// when `lower` is set).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    /// Short name of what was measured (`max |expanded − exact| / bound`, `numerical rank`, …).
    pub name: String,
    /// Where: data set, head, parameters of the worst case.
    pub case: String,
    pub value: f64,
    pub bound: f64,
    /// True when the claim is `value ≥ bound`.
    #[serde(default)]
    pub lower: bool,
    /// Number of cases this finding is the worst of.
    pub trials: u64,
}

impl Finding {
    pub fn upper(name: impl Into<String>, case: impl Into<String>, value: f64, bound: f64, trials: u64) -> Self {
        Finding { name: name.into(), case: case.into(), value, bound, lower: false, trials }
    }
    pub fn lower(name: impl Into<String>, case: impl Into<String>, value: f64, bound: f64, trials: u64) -> Self {
        Finding { name: name.into(), case: case.into(), value, bound, lower: true, trials }
    }
    /// Does the measurement satisfy the bound? NaN never does.
    pub fn ok(&self) -> bool {
        if self.lower { self.value >= self.bound } else { self.value <= self.bound }
    }
    /// Margin in the bound's favour: `bound − value` (or `value − bound` for lower bounds).
    pub fn margin(&self) -> f64 {
        if self.lower { self.value - self.bound } else { self.bound - self.value }
    }
    /// `value / bound` for upper bounds, `bound / value` for lower ones: ≤ 1 means satisfied.
    /// 0 ≤ 0 (an exact claim met exactly) has ratio 0, not 0/0 = NaN: otherwise a later satisfied
    /// case would displace an earlier violation (ratio ∞) as the "worst" in [`Worst::push`].
    pub fn ratio(&self) -> f64 {
        let (num, den) = if self.lower { (self.bound, self.value) } else { (self.value, self.bound) };
        if den == 0.0 && num == 0.0 {
            // 0 against a bound of 0: an exact identity met exactly — no error at all.
            return 0.0;
        }
        num / den
    }
}

/// Worst-case tracker: keeps the case with the largest `value / bound` ratio.
#[derive(Debug, Clone)]
pub struct Worst {
    pub name: String,
    pub best: Option<Finding>,
    pub trials: u64,
    pub violations: u64,
}

impl Worst {
    pub fn new(name: impl Into<String>) -> Self {
        Worst { name: name.into(), best: None, trials: 0, violations: 0 }
    }
    /// Record `value ≤ bound` for `case`; the case is formatted only when it becomes the worst.
    pub fn push(&mut self, value: f64, bound: f64, case: impl FnOnce() -> String) {
        self.trials += 1;
        let f = Finding::upper(self.name.clone(), String::new(), value, bound, 0);
        if !f.ok() {
            self.violations += 1;
        }
        let r = f.ratio();
        let worse = match &self.best {
            None => true,
            Some(b) => r > b.ratio() || r.is_nan(),
        };
        if worse {
            self.best = Some(Finding { case: case(), ..f });
        }
    }
    /// The worst finding, with the trial count.
    pub fn finish(self) -> Finding {
        let mut f = self.best.unwrap_or_else(|| Finding::upper(self.name.clone(), "no cases", f64::NAN, f64::NAN, 0));
        f.trials = self.trials;
        f
    }
}

/// What a check returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub id: String,
    pub verdict: Verdict,
    /// For `holds_in_regime`: the regime; for `fails`: where it fails.
    pub regime: Option<String>,
    /// Every measured quantity against its bound; the first is the headline.
    pub findings: Vec<Finding>,
    /// Observations that are measured but not held against a bound (ranges, fractions, counts).
    pub notes: Vec<String>,
    pub seed: u64,
    pub quick: bool,
    /// The command that reproduces this report.
    pub command: String,
}

impl Report {
    pub fn new(id: &str, seed: u64, quick: bool) -> Self {
        Report {
            id: id.to_string(),
            verdict: Verdict::Open,
            regime: None,
            findings: Vec::new(),
            notes: Vec::new(),
            seed,
            quick,
            command: format!(
                "cargo run --release -- verify {}{} --seed {seed}",
                if quick { "--quick " } else { "" },
                id
            ),
        }
    }
    /// The worst finding: the one with the largest value/bound ratio.
    pub fn worst(&self) -> Option<&Finding> {
        self.findings.iter().max_by(|a, b| a.ratio().partial_cmp(&b.ratio()).unwrap_or(std::cmp::Ordering::Greater))
    }
    /// Total number of cases measured.
    pub fn trials(&self) -> u64 {
        self.findings.iter().map(|f| f.trials).sum()
    }
    /// Verdict from the findings alone: holds when every finding is within its bound.
    pub fn conclude_all(mut self) -> Self {
        self.verdict = if self.findings.iter().all(Finding::ok) { Verdict::Holds } else { Verdict::Fails };
        self
    }
}

#[cfg(test)]
mod zero_bound_tests {
    use super::*;

    #[test]
    fn a_violation_of_an_exact_zero_claim_stays_the_worst() {
        let mut w = Worst::new("count (= 0)");
        w.push(0.0, 0.0, || "first".into());
        w.push(3.0, 0.0, || "violation".into());
        w.push(0.0, 0.0, || "later".into());
        let f = w.finish();
        assert!(!f.ok() && f.case == "violation", "{f:?}");
    }
}
