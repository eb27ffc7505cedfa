//! One error type for every fallible path. Messages are single lines that name the file, field or
//! argument and say what was expected.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A YAML file that does not match its schema (file, line, column when the parser knows them).
    #[error("{file}:{line}:{column}: {msg}")]
    Yaml {
        file: PathBuf,
        line: usize,
        column: usize,
        msg: String,
    },
    /// A tensor file with a missing tensor, wrong dtype or shape, or non-finite values.
    #[error("{file}: {msg}")]
    Tensor { file: PathBuf, msg: String },
    /// A bad argument or configuration value.
    #[error("{field}: {msg}")]
    Invalid { field: String, msg: String },
    /// A registry inconsistency (missing check, duplicate id, claimed quantity absent).
    #[error("{0}")]
    Registry(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn invalid(field: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            msg: msg.into(),
        }
    }
    pub fn tensor(file: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Tensor {
            file: file.into(),
            msg: msg.into(),
        }
    }
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
