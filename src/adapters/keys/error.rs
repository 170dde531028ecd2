//! Why the keyring or the audit key could not be loaded or changed.

use std::path::{Path, PathBuf};

/// Why the keyring could not be loaded or changed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// File system trouble.
    #[error("keys directory {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key file or the manifest is damaged.
    #[error("keys directory {path}: {message}")]
    Corrupt {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A key file is readable by others.
    #[error("key file {0} must not be readable by group or others (chmod 600)")]
    Permissions(PathBuf),
    /// The keys directory is writable by group or others.
    #[error("keys directory {0} is writable by group or others, so its keys cannot be trusted: check its files, then chmod 700")]
    DirPermissions(PathBuf),
}

/// Maps an I/O failure on `path` to a [`KeyError`].
pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}
