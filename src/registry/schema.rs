//! Schema of a theorem file. See `theorems/dist.decomposition.yaml` for a complete example.
use crate::verdict::Verdict;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What kind of statement a claim is; decides how its check turns measurements into a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An algebraic identity; checked to within a derived rounding bound.
    Identity,
    /// A deterministic inequality; checked on every generated and real case.
    DeterministicBound,
    /// An inequality that holds with a stated probability; Clopper–Pearson verdict.
    ProbabilisticBound,
    /// A measured statement about data or methods.
    EmpiricalClaim,
    /// A table or figure of a note, re-derived.
    Table,
    /// A question asked by a note; the theorem is the answer we can prove or measure.
    OpenQuestion,
}

/// Where the claim comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// File name in `../shared/notes/`.
    pub note: String,
    /// Section heading of the note.
    pub section: String,
    /// The claim as the note words it.
    pub quote: String,
}

/// One claimed quantity: a number (constant, probability, threshold) or a list (a table row).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claimed {
    pub value: ClaimValue,
    /// What the number means, in words.
    pub meaning: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClaimValue {
    Number(f64),
    List(Vec<f64>),
}

/// The verdict the registry expects; `verify` exits non-zero when the measurement disagrees.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    pub verdict: Verdict,
    /// For `holds_in_regime`: the regime in words.
    #[serde(default)]
    pub regime: Option<String>,
}

/// A theorem file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Theorem {
    pub id: String,
    pub title: String,
    pub source: Source,
    /// The formula in plain text.
    pub statement: String,
    pub assumptions: Vec<String>,
    pub kind: Kind,
    pub claimed: BTreeMap<String, Claimed>,
    pub expected: Expected,
    /// The proof or derivation of the bound that the check holds the measurement against.
    pub derivation: String,
    #[serde(default)]
    pub references: Vec<String>,
}

impl Theorem {
    /// The module name of the theorem's check: `.` replaced by `_`.
    pub fn snake(&self) -> String {
        self.id.replace('.', "_")
    }

    /// A claimed number, or a registry error naming the theorem and the field.
    pub fn claimed_f64(&self, name: &str) -> Result<f64> {
        match self.claimed.get(name).map(|c| &c.value) {
            Some(ClaimValue::Number(x)) => Ok(*x),
            Some(ClaimValue::List(_)) => Err(Error::Registry(format!(
                "theorems/{}.yaml: claimed.{name}: expected a number, found a list",
                self.id
            ))),
            None => Err(Error::Registry(format!(
                "theorems/{}.yaml: claimed.{name} is missing (the check needs it)",
                self.id
            ))),
        }
    }

    /// A claimed list of numbers.
    pub fn claimed_list(&self, name: &str) -> Result<Vec<f64>> {
        match self.claimed.get(name).map(|c| &c.value) {
            Some(ClaimValue::List(v)) => Ok(v.clone()),
            Some(ClaimValue::Number(_)) => Err(Error::Registry(format!(
                "theorems/{}.yaml: claimed.{name}: expected a list, found a number",
                self.id
            ))),
            None => Err(Error::Registry(format!(
                "theorems/{}.yaml: claimed.{name} is missing (the check needs it)",
                self.id
            ))),
        }
    }
}
