//! The broker's signing keys: Ed25519 (EdDSA) and, for verifiers without EdDSA, P-256 (ES256).
//!
//! Each key is a PKCS#8 file (mode 0600) in the keys directory, named by its `kid` (the
//! RFC 7638 JWK thumbprint of its public key). `keyring.json` beside them says which key
//! signs and until when each retired key stays published: a rotated key signs nothing new
//! but verifies, and stays in the JWKS, until every token it signed has expired.
//!
//! With a key-encryption key configured the database holds the keys instead
//! ([`stored`], sealed by [`kek`]): every replica loads the same set and reloads it when
//! another one rotates.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey};

pub mod audit;
mod error;
mod files;
pub mod jwt_crypto;
pub mod kek;
pub mod login;
pub mod ssh_ca;
pub mod stored;
pub use crate::adapters::keys::error::KeyError;
use crate::model::keys as material;
pub use crate::model::keys::{KeyAlg, KeyInfo};
use crate::model::policy::permit::{Administer, Permit};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ManifestEntry {
    kid: String,
    /// Older keyrings hold Ed25519 keys only.
    #[serde(default)]
    alg: KeyAlg,
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
    jwk: serde_json::Value,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// The loaded keys; cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Keyring {
    /// Where the keys are kept on disk; `None` when the database holds them.
    dir: Option<PathBuf>,
    keys: Arc<RwLock<Vec<LoadedKey>>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// Loads the keys in `dir`, creating the directory and a first key if there is none,
    /// and dropping keys whose retirement time has passed.
    pub fn load_or_create(dir: &Path, now: DateTime<Utc>) -> Result<Self, KeyError> {
        jwt_crypto::install();
        files::ensure_private_dir(dir)?;
        let manifest_path = dir.join("keyring.json");
        let manifest: Manifest = match files::read_private(&manifest_path)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| KeyError::Corrupt {
                path: manifest_path.clone(),
                message: e.to_string(),
            })?,
            None => Manifest::default(),
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
            dir: Some(dir.to_path_buf()),
            keys: Arc::new(RwLock::new(keys)),
        };
        for alg in KeyAlg::ALL {
            if !ring
                .read()
                .iter()
                .any(|k| k.entry.alg == alg && k.entry.retire_at.is_none())
            {
                ring.add_key(alg, now)?;
            }
        }
        ring.save()?;
        Ok(ring)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<LoadedKey>> {
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<LoadedKey>> {
        self.keys.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The Ed25519 key that signs sessions: its `kid` and encoding key.
    pub fn active(&self) -> (String, EncodingKey) {
        self.active_for(KeyAlg::Ed25519)
    }

    /// The key of `alg` that signs: its `kid` and encoding key.
    pub fn active_for(&self, alg: KeyAlg) -> (String, EncodingKey) {
        let keys = self.read();
        let key = keys
            .iter()
            .rev()
            .find(|k| k.entry.alg == alg && k.entry.retire_at.is_none());
        match key {
            Some(k) => (k.entry.kid.clone(), k.encoding.clone()),
            // load_or_create always leaves an active key; an empty ring cannot sign.
            None => (String::new(), EncodingKey::from_secret(&[])),
        }
    }

    /// The verification key for `kid` and its kind, if it is still trusted at `now`.
    pub fn decoding_key(&self, kid: &str, now: DateTime<Utc>) -> Option<(DecodingKey, KeyAlg)> {
        self.read()
            .iter()
            .find(|k| k.entry.kid == kid && k.entry.retire_at.is_none_or(|t| t > now))
            .map(|k| (k.decoding.clone(), k.entry.alg))
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
        self.read()
            .iter()
            .filter(|k| k.entry.retire_at.is_none_or(|t| t > now))
            .map(|k| KeyInfo {
                kid: k.entry.kid.clone(),
                created_at: k.entry.created_at,
                retire_at: k.entry.retire_at,
                active: k.entry.retire_at.is_none(),
                alg: k.entry.alg,
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
                let mut jwk = k.jwk.clone();
                jwk["kid"] = serde_json::json!(k.entry.kid);
                jwk
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// Makes new signing keys of every kind; the previous ones stay trusted for
    /// `keep_old` more. Returns the new Ed25519 `kid`. The new keys are made and stored
    /// first, then swapped in under one lock, so signing always finds an active key.
    /// Takes the administrator's permit: only a decided administrator rotates keys.
    pub fn rotate(
        &self,
        _administrator: &Permit<Administer>,
        now: DateTime<Utc>,
        keep_old: Duration,
    ) -> Result<String, KeyError> {
        let fresh = KeyAlg::ALL
            .into_iter()
            .map(|alg| self.new_key(alg, now))
            .collect::<Result<Vec<_>, _>>()?;
        let ed = fresh
            .iter()
            .find(|k| k.entry.alg == KeyAlg::Ed25519)
            .map(|k| k.entry.kid.clone())
            .unwrap_or_default();
        {
            let mut keys = self.write();
            for k in keys.iter_mut().filter(|k| k.entry.retire_at.is_none()) {
                k.entry.retire_at = Some(now + keep_old);
            }
            keys.extend(fresh);
        }
        self.save()?;
        Ok(ed)
    }

    fn add_key(&self, alg: KeyAlg, now: DateTime<Utc>) -> Result<String, KeyError> {
        let key = self.new_key(alg, now)?;
        let kid = key.entry.kid.clone();
        self.write().push(key);
        self.save()?;
        Ok(kid)
    }

    /// A new key of `alg`, written to its file but not yet in the ring.
    fn new_key(&self, alg: KeyAlg, now: DateTime<Utc>) -> Result<LoadedKey, KeyError> {
        let corrupt = |message: String| KeyError::Corrupt {
            path: self.dir.clone().unwrap_or_default(),
            message,
        };
        let pkcs8 = material::generate(alg).map_err(corrupt)?;
        let m = material::load(alg, &pkcs8).map_err(corrupt)?;
        if let Some(dir) = &self.dir {
            files::write_new_private(&dir.join(format!("{}.key", m.kid)), &pkcs8)?;
        }
        Ok(LoadedKey {
            entry: ManifestEntry {
                kid: m.kid,
                alg,
                created_at: now,
                retire_at: None,
            },
            jwk: m.jwk,
            encoding: m.encoding,
            decoding: m.decoding,
        })
    }

    fn save(&self) -> Result<(), KeyError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let manifest = Manifest {
            keys: self.read().iter().map(|k| k.entry.clone()).collect(),
        };
        files::replace_manifest(dir, "keyring.json", &manifest)
    }
}

fn load_key(dir: &Path, entry: ManifestEntry) -> Result<LoadedKey, KeyError> {
    let path = dir.join(format!("{}.key", entry.kid));
    let bytes = files::read_private(&path)?.ok_or_else(|| KeyError::Corrupt {
        path: path.clone(),
        message: "listed in keyring.json but missing".into(),
    })?;
    let m = material::load(entry.alg, &bytes).map_err(|message| KeyError::Corrupt {
        path: path.clone(),
        message,
    })?;
    if m.kid != entry.kid {
        return Err(KeyError::Corrupt {
            path,
            message: "the key does not match its kid".into(),
        });
    }
    Ok(LoadedKey {
        entry,
        jwk: m.jwk,
        encoding: m.encoding,
        decoding: m.decoding,
    })
}

#[cfg(test)]
mod tests;
