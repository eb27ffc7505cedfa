//! `attnproof verify`: run the checks of selected theorems and format the verdict table.
use crate::checks::{self, Ctx, Outcome};
use crate::registry::Theorem;
use crate::{Error, Result};
use std::path::Path;
use std::time::Instant;

/// The theorems named by `ids` (all when empty); an unknown id is an error.
pub fn select<'a>(all: &'a [Theorem], ids: &[String]) -> Result<Vec<&'a Theorem>> {
    if ids.is_empty() {
        return Ok(all.iter().collect());
    }
    ids.iter()
        .map(|id| {
            all.iter()
                .find(|t| &t.id == id)
                .ok_or_else(|| Error::invalid("ID", format!("no theorem `{id}` (see `attnproof list`)")))
        })
        .collect()
}

/// Header of the verdict table.
pub fn header() -> String {
    format!(
        "{:<24} {:<16} {:<9} {:>11} {:>11} {:>10} {:>8} {:>6}  {}",
        "id", "verdict", "expected", "worst", "bound", "margin", "trials", "secs", "worst case"
    )
}

/// One table row.
pub fn row(id: &str, o: &Outcome, secs: f64) -> String {
    match &o.report {
        Err(e) => format!("{id:<24} {:<16} {:<9} error: {e}", "ERROR", o.expected.to_string()),
        Ok(r) => {
            let mark = if o.agrees() { "" } else { "  <-- DIFFERS FROM REGISTRY" };
            match r.worst() {
                Some(w) => format!(
                    "{id:<24} {:<16} {:<9} {:>11.3e} {:>11.3e} {:>10.2e} {:>8} {:>6.1}  {}: {}{mark}",
                    r.verdict.to_string(),
                    o.expected.to_string(),
                    w.value,
                    w.bound,
                    w.margin(),
                    r.trials(),
                    secs,
                    w.name,
                    w.case
                ),
                None => {
                    format!("{id:<24} {:<16} {:<9} (no findings){mark}", r.verdict.to_string(), o.expected.to_string())
                }
            }
        }
    }
}

/// Run every selected theorem in order, calling `print` with the header and each row as it finishes.
pub fn run_all<'a>(thms: &[&'a Theorem], ctx: &Ctx, mut print: impl FnMut(String)) -> Vec<(&'a Theorem, Outcome)> {
    print(header());
    let mut out = Vec::with_capacity(thms.len());
    for t in thms {
        let start = Instant::now();
        let o = checks::run(t, ctx);
        print(row(&t.id, &o, start.elapsed().as_secs_f64()));
        out.push((*t, o));
    }
    out
}

/// Final line: how many agree with the registry.
pub fn summary(outcomes: &[(&Theorem, Outcome)]) -> String {
    let bad: Vec<&str> = outcomes.iter().filter(|(_, o)| !o.agrees()).map(|(t, _)| t.id.as_str()).collect();
    if bad.is_empty() {
        format!("{} theorems checked; every verdict agrees with the registry", outcomes.len())
    } else {
        format!("{} theorems checked; {} differ from the registry: {}", outcomes.len(), bad.len(), bad.join(", "))
    }
}

/// Write every report as one JSON line (written to a temporary file, then renamed).
pub fn write_json(path: &Path, outcomes: &[(&Theorem, Outcome)]) -> Result<()> {
    let mut s = String::new();
    for (t, o) in outcomes {
        let v = match &o.report {
            Ok(r) => serde_json::json!({"id": t.id, "expected": o.expected, "report": r}),
            Err(e) => serde_json::json!({"id": t.id, "expected": o.expected, "error": e}),
        };
        s.push_str(&v.to_string());
        s.push('\n');
    }
    crate::out_file::write_atomic(path, s.as_bytes())
}
