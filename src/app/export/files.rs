//! Writing a bundle's files: each hashed as it is written, and why writing failed.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::app::export::manifest::FileEntry;
use crate::store::StoreError;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The period starts at or after the time of export: nothing in it has happened.
    #[error("the period starts in the future; nothing in it has happened yet")]
    NotStarted,
    /// Writing the bundle failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A file being written and hashed at once.
pub(super) struct HashedFile {
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    digest: ring::digest::Context,
    bytes: u64,
}

impl HashedFile {
    /// Creates `name` in `dir`.
    pub(super) fn create(dir: &Path, name: &str) -> Result<Self, ExportError> {
        let path = dir.join(name);
        let file = std::fs::File::create(&path).map_err(|source| ExportError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(HashedFile {
            path,
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            digest: ring::digest::Context::new(&ring::digest::SHA256),
            bytes: 0,
        })
    }

    /// Appends `data`.
    pub(super) fn write(&mut self, data: &[u8]) -> Result<(), ExportError> {
        self.digest.update(data);
        self.bytes += data.len() as u64;
        self.out.write_all(data).map_err(|source| ExportError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// Flushes and syncs the file; its entry for the manifest.
    pub(super) fn finish(mut self) -> Result<FileEntry, ExportError> {
        let path = self.path.clone();
        let io = |source| ExportError::Io {
            path: path.clone(),
            source,
        };
        self.out.flush().map_err(io)?;
        self.out.get_ref().sync_all().map_err(io)?;
        Ok(FileEntry {
            name: self
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: hex::encode(self.digest.finish()),
            bytes: self.bytes,
        })
    }
}

/// Writes `name` in `dir` with `content` at once.
pub(super) fn write_file(dir: &Path, name: &str, content: &[u8]) -> Result<FileEntry, ExportError> {
    let mut f = HashedFile::create(dir, name)?;
    f.write(content)?;
    f.finish()
}
