//! Private files of the keys directory. The directory must be the broker's alone: one
//! that group or others may write to is refused, one they may only read is closed to
//! 0700 (with a warning); key files are created with `O_CREAT | O_EXCL |
//! O_NOFOLLOW` (never through a link planted where a key goes, never over an existing
//! file) and mode 0600, and read with `O_NOFOLLOW`, refused unless they are regular files
//! with mode 0600 or stricter.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::adapters::keys::error::{io, KeyError};

/// Creates `dir` (0700) if missing. An existing one that group or others may write to is
/// refused; one they may only list or enter is set to 0700, with a warning.
pub(super) fn ensure_private_dir(dir: &Path) -> Result<(), KeyError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))?;
    let meta = fs::metadata(dir).map_err(io(dir))?;
    if !meta.is_dir() {
        return Err(KeyError::Corrupt {
            path: dir.to_path_buf(),
            message: "not a directory".into(),
        });
    }
    let mode = meta.permissions().mode();
    // Writable by others: anything in it may have been planted or swapped. Refuse.
    if mode & 0o022 != 0 {
        return Err(KeyError::DirPermissions(dir.to_path_buf()));
    }
    // Only listable by others (the key files themselves are checked one by one): close it.
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
        tracing::warn!(dir = %dir.display(), was = format!("{:o}", mode & 0o777), "the keys directory was open to group or others; set it to 0700");
    }
    Ok(())
}

/// Writes a new private file at `path`; fails if anything, a link included, is there.
pub(super) fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Replaces `target` with `bytes` atomically, through a fresh temporary file beside it.
/// Replaces the manifest `name` in `dir` with `manifest` as pretty JSON, through
/// [`replace_private`].
pub(super) fn replace_manifest<T: serde::Serialize>(
    dir: &Path,
    name: &str,
    manifest: &T,
) -> Result<(), KeyError> {
    let bytes = serde_json::to_vec_pretty(manifest).map_err(|e| KeyError::Corrupt {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    replace_private(&dir.join(name), &bytes)
}

pub(super) fn replace_private(target: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let tmp = target.with_extension("tmp");
    // A leftover from a crash, or a link planted there: removing it never follows it.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&tmp)(e)),
    }
    write_new_private(&tmp, bytes)?;
    fs::rename(&tmp, target).map_err(io(target))
}

/// Reads a private file; `None` when there is none. A link, a non-regular file or one
/// that group or others may read is refused.
pub(super) fn read_private(path: &Path) -> Result<Option<Vec<u8>>, KeyError> {
    let opened = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path);
    let mut f = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(KeyError::Corrupt {
                path: path.to_path_buf(),
                message: "is a symbolic link; key files must be regular files".into(),
            })
        }
        Err(e) => return Err(io(path)(e)),
    };
    let meta = f.metadata().map_err(io(path))?;
    if !meta.is_file() {
        return Err(KeyError::Corrupt {
            path: path.to_path_buf(),
            message: "not a regular file".into(),
        });
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(KeyError::Permissions(path.to_path_buf()));
    }
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(io(path))?;
    Ok(Some(bytes))
}

/// A temporary directory that passes [`ensure_private_dir`] (tempfile makes them 0755).
#[cfg(test)]
pub(super) fn private_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_planted_where_a_key_goes_is_neither_followed_nor_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let planted = dir.path().join("k.key");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        assert!(write_new_private(&planted, b"secret key").is_err());
        // A dangling link is no better: O_EXCL refuses it rather than create its target.
        let dangling = dir.path().join("d.key");
        let target = dir.path().join("created-through-the-link");
        std::os::unix::fs::symlink(&target, &dangling).unwrap();
        assert!(write_new_private(&dangling, b"secret key").is_err());
        assert!(!target.exists());
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        // Reading through a link is refused too.
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).unwrap();
        let err = read_private(&planted).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
    }

    #[test]
    fn a_link_planted_at_the_manifests_temporary_file_is_removed_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("keyring.tmp")).unwrap();
        replace_private(&dir.path().join("keyring.json"), b"{}").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert_eq!(fs::read(dir.path().join("keyring.json")).unwrap(), b"{}");
    }

    #[test]
    fn a_keys_directory_writable_by_others_is_refused_and_one_readable_by_them_is_closed() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("keys");
        ensure_private_dir(&dir).unwrap();
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        for mode in [0o770, 0o702, 0o777, 0o720] {
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
            let err = ensure_private_dir(&dir).unwrap_err();
            assert!(matches!(err, KeyError::DirPermissions(_)), "{mode:o}");
            assert!(err.to_string().contains("chmod 700"), "{err}");
        }
        // Readable but not writable by others: closed, and start goes on.
        for mode in [0o755, 0o750, 0o705] {
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
            ensure_private_dir(&dir).unwrap();
            assert_eq!(
                fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
                0o700,
                "{mode:o}"
            );
        }
    }
}
