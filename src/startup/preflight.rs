//! Every file and directory the configuration names, checked before the socket is bound:
//! a missing certificate, policy directory or sink directory stops start-up with a
//! message naming the setting and its environment variable, before anything listens.

use std::path::{Path, PathBuf};

use axum_server::tls_rustls::RustlsConfig;

use crate::config::{invalid, CheckpointSink, Config, ConfigError, EventSink};

const TLS_CERT: &str = "tls.cert (LATCHKEY_TLS_CERT)";
const TLS_KEY: &str = "tls.key (LATCHKEY_TLS_KEY)";
const POLICY_DIR: &str = "policy_dir (LATCHKEY_POLICY_DIR)";
const KEYS_DIR: &str = "keys_dir (LATCHKEY_KEYS_DIR)";
const CHECKPOINT_SINK: &str = "audit.checkpoint_sink (LATCHKEY_AUDIT_CHECKPOINT_SINK)";
const EVENT_SINK: &str = "audit.event_sink (LATCHKEY_AUDIT_EVENT_SINK)";

/// Checks every path of `config` and loads the TLS certificate and key (when the broker
/// terminates TLS), so that nothing fails on a file once the broker is listening.
pub(super) async fn check(config: &Config) -> Result<Option<RustlsConfig>, ConfigError> {
    directory(POLICY_DIR, &config.policy_dir)?;
    creatable_dir(KEYS_DIR, &config.keys_dir)?;
    if let Some(CheckpointSink::Dir(dir)) = &config.audit.checkpoint_sink {
        writable_dir(CHECKPOINT_SINK, dir)?;
    }
    if let Some(EventSink::File(path)) = &config.audit.event_sink {
        appendable_file(EVENT_SINK, path)?;
    }
    match &config.tls {
        None => Ok(None),
        Some(tls) => {
            let cert = readable(TLS_CERT, &tls.cert)?;
            let key = readable(TLS_KEY, &tls.key)?;
            RustlsConfig::from_pem(cert, key)
                .await
                .map(Some)
                .map_err(|e| {
                    invalid(
                        "tls.cert / tls.key (LATCHKEY_TLS_CERT, LATCHKEY_TLS_KEY)",
                        format!(
                            "{} and {} are not a PEM certificate chain and its private key: {e}",
                            tls.cert.display(),
                            tls.key.display()
                        ),
                    )
                })
        }
    }
}

/// The bytes of a file that must exist and be readable.
fn readable(setting: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path)
        .map_err(|e| invalid(setting, format!("cannot read {}: {e}", path.display())))
}

/// A directory that must exist.
fn directory(setting: &'static str, dir: &Path) -> Result<(), ConfigError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(invalid(
            setting,
            format!("{} is not a directory", dir.display()),
        )),
        Err(e) => Err(invalid(setting, format!("{}: {e}", dir.display()))),
    }
}

/// A directory that exists, or can be made under its nearest existing ancestor.
fn creatable_dir(setting: &'static str, dir: &Path) -> Result<(), ConfigError> {
    let mut at: PathBuf = dir.to_path_buf();
    loop {
        match std::fs::metadata(&at) {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => {
                return Err(invalid(
                    setting,
                    format!("{} is not a directory", at.display()),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(invalid(setting, format!("{}: {e}", at.display()))),
        }
        if !at.pop() || at.as_os_str().is_empty() {
            return Ok(());
        }
    }
}

/// A directory the broker can write files in (made, private, if missing: the sink makes
/// it on its first write anyway).
fn writable_dir(setting: &'static str, dir: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| invalid(setting, format!("cannot create {}: {e}", dir.display())))?;
    directory(setting, dir)?;
    tempfile::Builder::new()
        .prefix(".latchkey-probe.")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| invalid(setting, format!("cannot write in {}: {e}", dir.display())))
}

/// A file the event feed can append to, in a directory that exists (it is not made: a
/// missing directory is more likely a mistyped path or an unmounted volume).
fn appendable_file(setting: &'static str, path: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::OpenOptionsExt;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    directory(setting, parent)?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .map(drop)
        .map_err(|e| invalid(setting, format!("cannot append to {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keys_dir_under_a_file_is_refused_and_one_under_a_directory_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert!(creatable_dir(KEYS_DIR, &file.join("keys")).is_err());
        assert!(creatable_dir(KEYS_DIR, &dir.path().join("a/b/keys")).is_ok());
    }

    #[test]
    fn an_event_sink_in_a_missing_directory_names_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let e = appendable_file(EVENT_SINK, &dir.path().join("nope/events.jsonl")).unwrap_err();
        assert!(e.to_string().starts_with(EVENT_SINK), "{e}");
        assert!(appendable_file(EVENT_SINK, &dir.path().join("events.jsonl")).is_ok());
    }
}
