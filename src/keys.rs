//! The broker's Ed25519 signing keys.
//!
//! Each key is a PKCS#8 file (mode 0600) in the keys directory, named by its `kid` (the
//! RFC 7638 JWK thumbprint of its public key). `keyring.json` beside them says which key
//! signs and until when each retired key stays published: a rotated key signs nothing new
//! but verifies, and stays in the JWKS, until every token it signed has expired.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};

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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ManifestEntry {
    kid: String,
    created_at: DateTime<Utc>,
    /// Set once the key is rotated out: published and trusted until then.
    retire_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    keys: Vec<ManifestEntry>,
}

struct LoadedKey {
    entry: ManifestEntry,
    x: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// A key as the JWKS and `latchkey keys` show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyInfo {
    /// Key id.
    pub kid: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops being trusted, if it has been rotated out.
    pub retire_at: Option<DateTime<Utc>>,
    /// Whether it signs new tokens.
    pub active: bool,
}

/// The loaded keys; cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Keyring {
    dir: PathBuf,
    keys: Arc<RwLock<Vec<LoadedKey>>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Keyring {
    /// Loads the keys in `dir`, creating the directory and a first key if there is none,
    /// and dropping keys whose retirement time has passed.
    pub fn load_or_create(dir: &Path, now: DateTime<Utc>) -> Result<Self, KeyError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
        let manifest_path = dir.join("keyring.json");
        let manifest: Manifest = match fs::read(&manifest_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| KeyError::Corrupt {
                path: manifest_path.clone(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Manifest::default(),
            Err(e) => return Err(io(&manifest_path)(e)),
        };
        let mut keys = Vec::new();
        for entry in manifest.keys {
            if entry.retire_at.is_some_and(|t| t <= now) {
                let _ = fs::remove_file(dir.join(format!("{}.key", entry.kid)));
                continue;
            }
            keys.push(load_key(dir, entry)?);
        }
        let ring = Keyring {
            dir: dir.to_path_buf(),
            keys: Arc::new(RwLock::new(keys)),
        };
        if ring.read().iter().all(|k| k.entry.retire_at.is_some()) {
            ring.add_key(now)?;
        } else {
            ring.save()?;
        }
        Ok(ring)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<LoadedKey>> {
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<LoadedKey>> {
        self.keys.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The key that signs: its `kid` and encoding key.
    pub fn active(&self) -> (String, EncodingKey) {
        let keys = self.read();
        let key = keys
            .iter()
            .rev()
            .find(|k| k.entry.retire_at.is_none())
            .or_else(|| keys.last());
        match key {
            Some(k) => (k.entry.kid.clone(), k.encoding.clone()),
            // load_or_create always leaves an active key; an empty ring cannot sign.
            None => (String::new(), EncodingKey::from_secret(&[])),
        }
    }

    /// The verification key for `kid`, if it is still trusted at `now`.
    pub fn decoding_key(&self, kid: &str, now: DateTime<Utc>) -> Option<DecodingKey> {
        self.read()
            .iter()
            .find(|k| k.entry.kid == kid && k.entry.retire_at.is_none_or(|t| t > now))
            .map(|k| k.decoding.clone())
    }

    /// Number of keys loaded (for readiness).
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no key is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys, newest last.
    pub fn list(&self, now: DateTime<Utc>) -> Vec<KeyInfo> {
        let (active, _) = self.active();
        self.read()
            .iter()
            .filter(|k| k.entry.retire_at.is_none_or(|t| t > now))
            .map(|k| KeyInfo {
                kid: k.entry.kid.clone(),
                created_at: k.entry.created_at,
                retire_at: k.entry.retire_at,
                active: k.entry.kid == active,
            })
            .collect()
    }

    /// The public JWK set of every trusted key.
    pub fn jwks(&self, now: DateTime<Utc>) -> serde_json::Value {
        let keys: Vec<_> = self
            .read()
            .iter()
            .filter(|k| k.entry.retire_at.is_none_or(|t| t > now))
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "x": k.x,
                    "kid": k.entry.kid, "alg": "EdDSA", "use": "sig",
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// Makes a new signing key; the previous ones stay trusted for `keep_old` more.
    /// Returns the new `kid`.
    pub fn rotate(&self, now: DateTime<Utc>, keep_old: Duration) -> Result<String, KeyError> {
        {
            let mut keys = self.write();
            for k in keys.iter_mut().filter(|k| k.entry.retire_at.is_none()) {
                k.entry.retire_at = Some(now + keep_old);
            }
        }
        self.add_key(now)
    }

    fn add_key(&self, now: DateTime<Utc>) -> Result<String, KeyError> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Corrupt {
            path: self.dir.clone(),
            message: "the system random generator failed".into(),
        })?;
        let entry = ManifestEntry {
            kid: String::new(),
            created_at: now,
            retire_at: None,
        };
        let mut key = from_pkcs8(pkcs8.as_ref(), entry, &self.dir)?;
        key.entry.kid = thumbprint(&key.x);
        let path = self.dir.join(format!("{}.key", key.entry.kid));
        write_private(&path, pkcs8.as_ref())?;
        let kid = key.entry.kid.clone();
        self.write().push(key);
        self.save()?;
        Ok(kid)
    }

    fn save(&self) -> Result<(), KeyError> {
        let manifest = Manifest {
            keys: self.read().iter().map(|k| k.entry.clone()).collect(),
        };
        let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| KeyError::Corrupt {
            path: self.dir.clone(),
            message: e.to_string(),
        })?;
        let tmp = self.dir.join("keyring.json.tmp");
        write_private(&tmp, &bytes)?;
        let target = self.dir.join("keyring.json");
        fs::rename(&tmp, &target).map_err(io(&target))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

fn load_key(dir: &Path, entry: ManifestEntry) -> Result<LoadedKey, KeyError> {
    let path = dir.join(format!("{}.key", entry.kid));
    let meta = fs::metadata(&path).map_err(io(&path))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(KeyError::Permissions(path));
    }
    let bytes = fs::read(&path).map_err(io(&path))?;
    let key = from_pkcs8(&bytes, entry, &path)?;
    if thumbprint(&key.x) != key.entry.kid {
        return Err(KeyError::Corrupt {
            path,
            message: "the key does not match its kid".into(),
        });
    }
    Ok(key)
}

fn from_pkcs8(pkcs8: &[u8], entry: ManifestEntry, path: &Path) -> Result<LoadedKey, KeyError> {
    let pair =
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(|e| KeyError::Corrupt {
            path: path.to_path_buf(),
            message: format!("not an Ed25519 PKCS#8 key: {e}"),
        })?;
    let public = pair.public_key().as_ref();
    Ok(LoadedKey {
        entry,
        x: URL_SAFE_NO_PAD.encode(public),
        encoding: EncodingKey::from_ed_der(pkcs8),
        decoding: DecodingKey::from_ed_der(public),
    })
}

/// RFC 7638 thumbprint of an Ed25519 public key given as base64url `x`.
fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_creates_one_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let ring = Keyring::load_or_create(dir.path(), now).unwrap();
        let keys = ring.list(now);
        assert_eq!(keys.len(), 1);
        let mode = fs::metadata(dir.path().join(format!("{}.key", keys[0].kid)))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // A second start loads the same key.
        let again = Keyring::load_or_create(dir.path(), now).unwrap();
        assert_eq!(again.list(now), keys);
    }

    #[test]
    fn rotation_keeps_the_old_key_published_until_its_tokens_expire() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let ring = Keyring::load_or_create(dir.path(), now).unwrap();
        let (old, _) = ring.active();
        let new = ring.rotate(now, Duration::hours(8)).unwrap();
        assert_ne!(old, new);
        assert_eq!(ring.active().0, new);
        assert!(ring.decoding_key(&old, now + Duration::hours(7)).is_some());
        assert!(ring.decoding_key(&old, now + Duration::hours(9)).is_none());
        let jwks = ring.jwks(now).to_string();
        assert!(jwks.contains(&old) && jwks.contains(&new));
        assert!(!ring
            .jwks(now + Duration::hours(9))
            .to_string()
            .contains(&old));
        // After the retirement time a restart forgets the old key and deletes its file.
        let later = Keyring::load_or_create(dir.path(), now + Duration::hours(9)).unwrap();
        assert_eq!(later.list(now + Duration::hours(9)).len(), 1);
        assert!(!dir.path().join(format!("{old}.key")).exists());
    }

    #[test]
    fn a_key_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let ring = Keyring::load_or_create(dir.path(), now).unwrap();
        let (kid, _) = ring.active();
        let path = dir.path().join(format!("{kid}.key"));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            Keyring::load_or_create(dir.path(), now),
            Err(KeyError::Permissions(_))
        ));
    }
}
