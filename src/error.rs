//! One error type for every fallible path. Messages are single lines that name the file, field or
//! argument and say what was expected.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A YAML file that does not match its schema (file, line, column when the parser knows them).
    #[error("{}:{line}:{column}: {}", path_line(file), one_line(msg))]
    Yaml { file: PathBuf, line: usize, column: usize, msg: String },
    /// A tensor file with a missing tensor, wrong dtype or shape, or non-finite values.
    #[error("{}: {}", path_line(file), one_line(msg))]
    Tensor { file: PathBuf, msg: String },
    /// A bad argument or configuration value.
    #[error("{}: {}", one_line(field), one_line(msg))]
    Invalid { field: String, msg: String },
    /// A registry inconsistency (missing check, duplicate id, claimed quantity absent).
    #[error("{}", one_line(.0))]
    Registry(String),
    #[error("{}: {}", path_line(path), one_line(&source.to_string()))]
    Io { path: PathBuf, source: std::io::Error },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn invalid(field: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Invalid { field: field.into(), msg: msg.into() }
    }
    pub fn tensor(file: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Tensor { file: file.into(), msg: msg.into() }
    }
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    /// The error with the head it happened on (`gpl3:layer0.head3`) named first, for errors raised
    /// where only the head's arrays were known (overflow, tolerance floors).
    pub fn on_head(self, label: &str) -> Self {
        match self {
            Error::Invalid { field, msg } => Error::Invalid { field: format!("{label}: {field}"), msg },
            Error::Tensor { file, msg } => Error::Tensor { file, msg: format!("{label}: {msg}") },
            e => e,
        }
    }
}

/// `s` on one line: line breaks and other control characters are written as escapes (`\n`), so
/// that every error message stays a single line whatever the input it quotes (a YAML key, a file
/// name, a JSON fragment).
pub fn one_line(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

fn path_line(p: &std::path::Path) -> String {
    one_line(&p.display().to_string())
}
