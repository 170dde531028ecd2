//! A bundle as one tar stream (the API's answer), and unpacking it safely: plain files
//! with plain names only, nothing overwritten.

use std::io::Read;
use std::path::Path;

/// Writes the named files of `dir` into a tar file at `out`.
pub fn write(dir: &Path, names: &[String], out: &Path) -> std::io::Result<()> {
    let file = std::fs::File::create(out)?;
    let mut builder = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, file));
    builder.mode(tar::HeaderMode::Deterministic);
    for name in names {
        builder.append_path_with_name(dir.join(name), name)?;
    }
    builder
        .into_inner()?
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()
}

/// Whether `name` is a plain file name (no directories, not hidden).
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Unpacks a bundle into `out` (created if needed, and must not already hold the files).
/// Returns the names written.
pub fn unpack(reader: impl Read, out: &Path) -> Result<Vec<String>, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut archive = tar::Archive::new(reader);
    let mut names = Vec::new();
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| format!("reading the bundle: {e}"))?;
        let name = entry
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        if entry.header().entry_type() != tar::EntryType::Regular || !plain_name(&name) {
            return Err(format!(
                "the bundle holds an unexpected entry {name:?}; refusing it"
            ));
        }
        let path = out.join(&name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        std::io::copy(&mut entry, &mut file).map_err(|e| format!("{}: {e}", path.display()))?;
        names.push(name);
    }
    Ok(names)
}
