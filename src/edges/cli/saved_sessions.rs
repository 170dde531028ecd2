//! Saved sessions: `$XDG_CONFIG_HOME/latchkey/sessions.json` (or `~/.config/latchkey/`),
//! directory 0700, file 0600, one session per server and the last server used.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// One saved session: what the login endpoint answered.
pub type SavedSession = crate::model::wire::SessionResponse;

/// The file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Saved {
    /// The server of the last login.
    pub current: Option<String>,
    /// Sessions by server URL.
    #[serde(default)]
    pub sessions: BTreeMap<String, SavedSession>,
}

/// Where the CLI keeps its files.
pub fn config_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("latchkey"));
    }
    let home = std::env::var_os("HOME").context("neither XDG_CONFIG_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".config").join("latchkey"))
}

impl Saved {
    fn path(dir: &Path) -> PathBuf {
        dir.join("sessions.json")
    }

    /// Reads the saved sessions in `dir` (none if the file does not exist).
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        match fs::read(Self::path(dir)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("reading {}", Self::path(dir).display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Saved::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", Self::path(dir).display())),
        }
    }

    /// Writes atomically with mode 0600.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        let tmp = dir.join("sessions.json.tmp");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(&serde_json::to_vec_pretty(self)?)?;
        f.sync_all()?;
        fs::rename(&tmp, Self::path(dir))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn sessions_are_saved_private() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("latchkey");
        let saved = Saved {
            current: Some("http://127.0.0.1:8080".into()),
            ..Saved::default()
        };
        saved.save(&sub).unwrap();
        let mode = fs::metadata(sub.join("sessions.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dmode = fs::metadata(&sub).unwrap().permissions().mode();
        assert_eq!(dmode & 0o777, 0o700);
        assert_eq!(Saved::load(&sub).unwrap().current, saved.current);
    }
}
