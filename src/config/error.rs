//! A configuration that cannot be used, and the helper that says which setting is wrong.

use std::path::PathBuf;

/// A configuration that cannot be used, with what to set.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("config file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A setting has a wrong value or is missing.
    #[error("{setting}: {problem}")]
    Invalid {
        /// The setting as written in the file, with its environment variable.
        setting: &'static str,
        /// What is wrong and what to set.
        problem: String,
    },
}

pub(crate) fn invalid(setting: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        problem: problem.into(),
    }
}
