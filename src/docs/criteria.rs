//! `docs/criteria.md`: note 004's success criteria for every method of `src/methods` on every real
//! head (the matrix of `criteria.matrix`, quick mode, with every measured cell).
use super::{DOCS_SEED, Page};
use crate::Result;
use crate::checks::Ctx;
use crate::checks::criteria_matrix::{Cell, Criteria, matrix, passes, summary_table};
use crate::registry::Theorem;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One row of `lm-eval --json` (the fields the criteria page shows; see `src/lm/eval.rs`, `Row`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LmRow {
    pub method: String,
    pub layers: String,
    pub n: usize,
    pub kl_mean: f64,
    pub kl_max: f64,
    pub ppl_base: f64,
    pub ppl: f64,
    pub top1_agree: f64,
    #[serde(default)]
    pub prob_mse: Option<f64>,
    #[serde(default)]
    pub prob_mse_max: Option<f64>,
    #[serde(default)]
    pub prob_mse_na: Option<String>,
    #[serde(default)]
    pub peak_bytes: Option<u64>,
    #[serde(default)]
    pub peak_exact_bytes: Option<u64>,
    #[serde(default)]
    pub peak_head: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// The committed LM results the page includes: `docs/data/lm-criteria.jsonl`.
pub fn lm_results_path() -> PathBuf {
    super::docs_dir().join("data/lm-criteria.jsonl")
}

/// Rows of an `lm-eval --json` file; an absent file gives none, a bad line a one-line error naming
/// the file and line.
pub fn lm_rows(path: &Path) -> Result<Vec<LmRow>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(crate::Error::io(path, e)),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| crate::Error::invalid(format!("{}:{}", path.display(), i + 1), e.to_string()))
        })
        .collect()
}

/// Bytes of a materialising f32 implementation of one causal head: the n × n score matrix and the
/// n × dv output (dv = 64 on SmolLM2).
pub fn standard_bytes(n: usize) -> f64 {
    4.0 * (n as f64 * n as f64 + 64.0 * n as f64)
}

fn lm_section(rows: &[LmRow], k: &Criteria) -> String {
    let mut s = String::new();
    s += "\n## On a real causal language model (SmolLM2-135M-Instruct, `lm-eval`)\n\n";
    let rel = "docs/data/lm-criteria.jsonl";
    if rows.is_empty() {
        let _ = writeln!(s, "No committed results (`{rel}` is absent).");
        return s;
    }
    let _ = writeln!(
        s,
        "Not computed by `docs` (it needs the `lm` feature and the model file of `scripts/fetch-lm.sh`): rendered from \
         the committed results file `{rel}`, the JSON lines that `lm-eval --json` wrote (each carries its command, \
         text and seed; the commands are listed below). Model, validation and discussion: [lm.md](lm.md). \
         Attention replaced in all 30 layers (layers `all`) or in one layer. KL = next-token KL(P_base ‖ P_method) \
         per position (mean, max over the n positions); ppl = perplexity of the actual next tokens (base → method); \
         prob. MSE = mean over replaced heads (worst head) of the mean over 256 sampled rows × n keys of \
         (P − W)², W the method's weights (Performer: implied normalised weights); peak = bytes allocated during \
         one head's attention call (head 0 of the first replaced layer), counted by `alloc_count::Counting`, for the method and for the exact \
         tiled f32 kernel on the same head; standard = 4·(n² + 64n) bytes, the n × n f32 scores and output of a \
         materialising implementation. Marks: KL mean ≤ {}, MSE ≤ {}, peak ≤ {:.0} % of standard (n ≥ {}).\n",
        k.kl_max,
        k.mse_max,
        100.0 * (1.0 - k.mem_reduction),
        k.n_min
    );
    s += "| method | layers | n | text | KL mean | KL max | ppl base → method | top-1 kept | prob. MSE (worst head) | peak MiB (exact f32) | peak / standard |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
    let mark = |b: bool| if b { " ✓" } else { " ✗" };
    for r in rows {
        let text = r.source.rsplit('/').next().unwrap_or(&r.source);
        let mse = match (r.prob_mse, r.prob_mse_max) {
            (Some(m), Some(x)) => format!("{m:.2e} ({x:.2e}){}", mark(m <= k.mse_max)),
            _ => "n/a".into(),
        };
        let mib = |b: Option<u64>| b.map_or("n/a".to_string(), |b| format!("{:.2}", b as f64 / 1048576.0));
        let ratio = match r.peak_bytes {
            Some(b) => {
                let q = b as f64 / standard_bytes(r.n);
                format!("{q:.3}{}", if (r.n as f64) >= k.n_min { mark(q <= 1.0 - k.mem_reduction) } else { "" })
            }
            None => "n/a".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.3e}{} | {:.3e} | {:.4} → {:.4} | {:.3} | {} | {} ({}) | {} |",
            r.method,
            r.layers,
            r.n,
            text,
            r.kl_mean,
            mark(r.kl_mean <= k.kl_max),
            r.kl_max,
            r.ppl_base,
            r.ppl,
            r.top1_agree,
            mse,
            mib(r.peak_bytes),
            mib(r.peak_exact_bytes),
            ratio
        );
    }
    let mut na: Vec<String> =
        rows.iter().filter_map(|r| r.prob_mse_na.as_ref().map(|w| format!("{}: {w}", r.method))).collect();
    na.dedup();
    if !na.is_empty() {
        s += "\nprob. MSE n/a: ";
        s += &na.join("; ");
        s += ".\n";
    }
    let mut notes: Vec<String> = rows
        .iter()
        .filter(|r| r.method.starts_with("learned"))
        .filter_map(|r| r.note.as_ref().map(|x| format!("{} (n = {}): {x}", r.method, r.n)))
        .collect();
    notes.dedup();
    for x in notes {
        let _ = writeln!(s, "\n{x}");
    }
    let mut cmds: Vec<&str> = Vec::new();
    for r in rows {
        if !r.command.is_empty() && !cmds.contains(&r.command.as_str()) {
            cmds.push(&r.command);
        }
    }
    s += "\nCommands (`attnproof` = `cargo run --release --features lm --`):\n\n```sh\n";
    for c in cmds {
        s += c;
        s += "\n";
    }
    s += "```\n";
    s
}

fn num(x: Option<f64>) -> String {
    match x {
        None => "n/a".into(),
        Some(v) if v.is_finite() => format!("{v:.3e}"),
        Some(v) => format!("{v}"),
    }
}

fn row(c: &Cell, k: &Criteria) -> String {
    let p = passes(c, k);
    let m = |b: Option<bool>| match b {
        None => "",
        Some(true) => " ✓",
        Some(false) => " ✗",
    };
    format!(
        "| {} | {} | {} | {}{} | {}{} | {}{} | {:.3}{} | {} |",
        c.method,
        c.data,
        c.mask,
        num(c.mse),
        m(p[0]),
        num(c.grad_cos),
        m(p[1]),
        num(c.kl),
        m(p[2]),
        c.mem_ratio,
        m(p[3]),
        num(c.rel_err)
    )
}

/// The page, from the theorem's claimed thresholds and a quick-mode run of the matrix.
pub fn page(thm: &Theorem) -> Result<Page> {
    let k = Criteria::from(thm)?;
    let ctx = Ctx::new(true, DOCS_SEED, Vec::new());
    let (real, big) = matrix(&ctx)?;
    let mut s = String::new();
    s += "# Note 004's success criteria, method by method\n\n";
    let _ = writeln!(
        s,
        "Generated by `cargo run --release -- docs` (quick mode, seed {DOCS_SEED}, shipped MiniLM slice); do not edit. \
         Reproduce with `cargo run --release -- verify --quick criteria.matrix --seed {DOCS_SEED}`; full mode with the \
         full files: `cargo run --release -- verify criteria.matrix --data /work/shared/data/minilm/<file>.safetensors`. \
         Definitions and caveats: [theorems/criteria.matrix.md](theorems/criteria.matrix.md).\n"
    );
    s += "## Summary (worst cell per method)\n\n";
    for l in summary_table(&real, &big, &k) {
        s += &l;
        s += "\n";
    }
    s += "\n## Real heads (causal mask; Linformer under the full mask)\n\n";
    s += "| method | head | mask | prob. MSE | grad cosine | KL(P‖W) | memory / standard | rel. output error |\n|---|---|---|---|---|---|---|---|\n";
    for c in &real {
        s += &row(c, &k);
        s += "\n";
    }
    s += "\n## Real-statistics generator at n ≥ 1024 (memory criterion)\n\n";
    s += "| method | data | mask | prob. MSE | grad cosine | KL(P‖W) | memory / standard | rel. output error |\n|---|---|---|---|---|---|---|---|\n";
    for c in &big {
        s += &row(c, &k);
        s += "\n";
    }
    s += &lm_section(&lm_rows(&lm_results_path())?, &k);
    Ok(Page { rel: PathBuf::from("criteria.md"), content: s })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lm_rows_absent_file_is_empty_and_a_bad_line_names_file_and_line() {
        let dir = std::env::temp_dir().join(format!("attnproof-lmrows-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(lm_rows(&dir.join("absent.jsonl")).unwrap().is_empty());
        let p = dir.join("bad.jsonl");
        let good = r#"{"method":"m","layers":"all","n":1024,"kl_mean":0.1,"kl_max":1.0,"ppl_base":2.0,"ppl":2.5,"top1_agree":0.9,"peak_bytes":4194304}"#;
        std::fs::write(&p, format!("{good}\n{{\"method\": 3}}\n")).unwrap();
        let e = lm_rows(&p).unwrap_err().to_string();
        assert!(e.contains("bad.jsonl:2") && e.lines().count() == 1, "{e}");
        std::fs::write(&p, format!("{good}\n")).unwrap();
        let rows = lm_rows(&p).unwrap();
        let k = Criteria { mse_max: 1e-4, cos_min: 0.95, kl_max: 1e-3, mem_reduction: 0.3, n_min: 1024.0 };
        let sec = lm_section(&rows, &k);
        // 4 MiB against 4·(1024² + 64·1024) B: ratio 0.941, above 0.7: the memory mark fails.
        assert!(sec.contains("| 0.941 ✗ |"), "{sec}");
        assert!(sec.contains("1.000e-1 ✗"), "{sec}");
    }
}
