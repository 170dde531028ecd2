//! The SSH user certificate authority's keys: Ed25519 by default, ECDSA P-256 where hosts
//! need it. Each key is an OpenSSH private key file (mode 0600) in the keys directory,
//! `ssh-ca-<hex>.key`; `ssh-ca.json` beside them says which one signs and until when each
//! rotated key stays trusted. A rotated key signs nothing new, but stays in the list hosts
//! trust (`TrustedUserCAKeys`) and in the revocation list until every certificate it
//! signed has expired: rotation never locks anyone out, and never lets a revoked
//! certificate back in.
//!
//! With a key-encryption key configured the database holds these keys instead
//! ([`crate::adapters::keys::stored`]), shared by every replica.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, LineEnding, PrivateKey};

use crate::adapters::keys::error::KeyError;
use crate::adapters::keys::files;
use crate::model::policy::permit::{Administer, Permit};

pub use crate::model::keys::SshCaAlg as CaAlg;
pub use crate::model::wire::CaPublic;

fn algorithm(alg: CaAlg) -> Algorithm {
    match alg {
        CaAlg::Ed25519 => Algorithm::Ed25519,
        CaAlg::EcdsaP256 => Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP256,
        },
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// `SHA256:…` of the public key.
    fingerprint: String,
    /// Its file, in the keys directory.
    file: String,
    alg: CaAlg,
    created_at: DateTime<Utc>,
    /// Set once rotated out: trusted until then.
    retire_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    keys: Vec<Entry>,
}

struct Loaded {
    entry: Entry,
    private: PrivateKey,
    /// `TYPE BASE64 COMMENT`, as `TrustedUserCAKeys` takes it.
    line: String,
    /// The public key in SSH wire form (what a KRL names the CA by).
    blob: Vec<u8>,
}

/// The CA key that signs now.
#[derive(Clone)]
pub struct Signer {
    /// `SHA256:…`.
    pub fingerprint: String,
    /// The key.
    pub private: PrivateKey,
}

/// The SSH CA's keys.
pub struct SshCa {
    /// Where the keys are kept on disk; `None` when the database holds them.
    dir: Option<PathBuf>,
    keys: Arc<RwLock<Vec<Loaded>>>,
}

impl std::fmt::Debug for SshCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshCa")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl SshCa {
    /// Loads the CA keys in `dir`, making one of `alg` on first start, and dropping keys
    /// whose retirement has passed.
    pub fn load_or_create(dir: &Path, alg: CaAlg, now: DateTime<Utc>) -> Result<Self, KeyError> {
        files::ensure_private_dir(dir)?;
        let manifest_path = dir.join("ssh-ca.json");
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
                let _ = std::fs::remove_file(dir.join(&entry.file));
                continue;
            }
            keys.push(load(dir, entry)?);
        }
        let ca = SshCa {
            dir: Some(dir.to_path_buf()),
            keys: Arc::new(RwLock::new(keys)),
        };
        if !ca.read().iter().any(|k| k.entry.retire_at.is_none()) {
            let key = ca.new_key(alg, now)?;
            ca.write().push(key);
        }
        ca.save()?;
        Ok(ca)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Loaded>> {
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Loaded>> {
        self.keys.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The key that signs.
    pub fn signer(&self) -> Option<Signer> {
        self.read()
            .iter()
            .rev()
            .find(|k| k.entry.retire_at.is_none())
            .map(|k| Signer {
                fingerprint: k.entry.fingerprint.clone(),
                private: k.private.clone(),
            })
    }

    /// Every key hosts should trust at `now`, the signing one first.
    pub fn trusted(&self, now: DateTime<Utc>) -> Vec<CaPublic> {
        let mut out: Vec<CaPublic> = self
            .read()
            .iter()
            .filter(|k| k.entry.retire_at.is_none_or(|t| t > now))
            .map(|k| CaPublic {
                fingerprint: k.entry.fingerprint.clone(),
                public_key: k.line.clone(),
                active: k.entry.retire_at.is_none(),
                created_at: k.entry.created_at,
                retire_at: k.entry.retire_at,
                blob: k.blob.clone(),
            })
            .collect();
        out.sort_by_key(|k| (!k.active, std::cmp::Reverse(k.created_at)));
        out
    }

    /// Makes a new signing key of `alg`; the previous one stays trusted for `keep_old`
    /// more (at least the longest a certificate lives). Returns the new fingerprint.
    /// Takes the administrator's permit: only a decided administrator rotates keys.
    pub fn rotate(
        &self,
        _administrator: &Permit<Administer>,
        alg: CaAlg,
        now: DateTime<Utc>,
        keep_old: Duration,
    ) -> Result<String, KeyError> {
        let fresh = self.new_key(alg, now)?;
        let fingerprint = fresh.entry.fingerprint.clone();
        {
            let mut keys = self.write();
            for k in keys.iter_mut().filter(|k| k.entry.retire_at.is_none()) {
                k.entry.retire_at = Some(now + keep_old);
            }
            keys.push(fresh);
        }
        self.save()?;
        Ok(fingerprint)
    }

    /// A new key, written to its file but not yet in the ring.
    fn new_key(&self, alg: CaAlg, now: DateTime<Utc>) -> Result<Loaded, KeyError> {
        let corrupt = |message: String| KeyError::Corrupt {
            path: self.dir.clone().unwrap_or_default(),
            message,
        };
        let private = PrivateKey::random(&mut OsRng, algorithm(alg))
            .map_err(|e| corrupt(format!("making an SSH CA key: {e}")))?;
        let pem = private
            .to_openssh(LineEnding::LF)
            .map_err(|e| corrupt(e.to_string()))?;
        let fingerprint = private
            .public_key()
            .fingerprint(HashAlg::Sha256)
            .to_string();
        let file = format!(
            "ssh-ca-{}.key",
            &crate::model::digest::sha256_hex(fingerprint.as_bytes())[..16]
        );
        if let Some(dir) = &self.dir {
            files::write_new_private(&dir.join(&file), pem.as_bytes())?;
        }
        let entry = Entry {
            fingerprint,
            file,
            alg,
            created_at: now,
            retire_at: None,
        };
        loaded(entry, private).map_err(corrupt)
    }

    fn save(&self) -> Result<(), KeyError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let manifest = Manifest {
            keys: self.read().iter().map(|k| k.entry.clone()).collect(),
        };
        files::replace_manifest(dir, "ssh-ca.json", &manifest)
    }
}

fn load(dir: &Path, entry: Entry) -> Result<Loaded, KeyError> {
    let path = dir.join(&entry.file);
    let corrupt = |message: String| KeyError::Corrupt {
        path: path.clone(),
        message,
    };
    let bytes = files::read_private(&path)?
        .ok_or_else(|| corrupt("listed in ssh-ca.json but missing".into()))?;
    let private = PrivateKey::from_openssh(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let fingerprint = private
        .public_key()
        .fingerprint(HashAlg::Sha256)
        .to_string();
    if fingerprint != entry.fingerprint {
        return Err(corrupt(format!(
            "holds {fingerprint}, not {} as ssh-ca.json says",
            entry.fingerprint
        )));
    }
    loaded(entry, private).map_err(corrupt)
}

fn loaded(entry: Entry, private: PrivateKey) -> Result<Loaded, String> {
    let public = private.public_key().clone();
    let blob = public.to_bytes().map_err(|e| e.to_string())?;
    let mut public = public;
    public.set_comment(format!(
        "latchkey user CA {}",
        entry.created_at.format("%Y-%m-%d")
    ));
    let line = public.to_openssh().map_err(|e| e.to_string())?;
    Ok(Loaded {
        entry,
        private,
        line,
        blob,
    })
}

mod stored;
#[cfg(test)]
mod tests;
