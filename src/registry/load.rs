//! Loading and validating theorem files.
use super::schema::Theorem;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// `theorems/` of this repository (the crate root at build time).
pub fn theorems_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("theorems")
}

/// Parse one theorem from text; `file` names it in errors.
pub fn parse_str(text: &str, file: &Path) -> Result<Theorem> {
    // A UTF-8 byte-order mark is not part of the first key.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let thm: Theorem = serde_yaml::from_str(text).map_err(|e| yaml_error(file, &e))?;
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    // `dist.rank.yaml` has stem `dist.rank`.
    if !stem.is_empty() && stem != thm.id && file.extension().is_some() {
        return Err(Error::Yaml {
            file: file.to_path_buf(),
            line: line_of(text, "id:"),
            column: 1,
            msg: format!("id `{}` does not match the file name `{stem}.yaml`", thm.id),
        });
    }
    if thm.expected.verdict == crate::verdict::Verdict::HoldsInRegime && thm.expected.regime.is_none() {
        return Err(Error::Yaml {
            file: file.to_path_buf(),
            line: line_of(text, "expected:"),
            column: 1,
            msg: "expected.verdict is holds_in_regime but expected.regime is missing".into(),
        });
    }
    Ok(thm)
}

/// Load one theorem file.
pub fn load_file(path: &Path) -> Result<Theorem> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_str(&text, path)
}

/// Load every `*.yaml` of a directory, sorted by id; duplicate ids are an error.
pub fn load_all(dir: &Path) -> Result<Vec<Theorem>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut paths: Vec<PathBuf> =
        rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "yaml")).collect();
    paths.sort();
    let mut out: Vec<Theorem> = Vec::with_capacity(paths.len());
    for p in &paths {
        out.push(load_file(p)?);
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    for w in out.windows(2) {
        if w[0].id == w[1].id {
            return Err(Error::Registry(format!("{}: duplicate theorem id `{}`", dir.display(), w[0].id)));
        }
    }
    Ok(out)
}

fn yaml_error(file: &Path, e: &serde_yaml::Error) -> Error {
    let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
    // serde_yaml appends " at line L column C"; the prefix already carries them.
    let msg = e.to_string();
    let msg = match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    };
    Error::Yaml { file: file.to_path_buf(), line, column, msg }
}

fn line_of(text: &str, key: &str) -> usize {
    text.lines().position(|l| l.starts_with(key)).map(|i| i + 1).unwrap_or(1)
}
