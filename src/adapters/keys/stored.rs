//! Keys as the database holds them: [`PlainKey`] is one key's private material with what
//! names it (kind, id, algorithm, lifetime), opened from or about to be sealed into a row.
//! The keyring is built from these, new signing keys are made as these, and the keys a
//! broker kept on disk before the database held them are read back as these to be
//! imported.

use std::path::Path;

use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use crate::adapters::keys::error::KeyError;
use crate::adapters::keys::{files, KeyAlg, Keyring, LoadedKey, Manifest, ManifestEntry};
use crate::model::keys as material;

/// What a stored key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Signs sessions and broker tokens (the JWKS).
    Signing,
    /// The SSH user CA.
    SshCa,
    /// Signs audit checkpoints and evidence manifests.
    Audit,
    /// Database logins' passwords are derived from it.
    DbLogin,
}

impl KeyKind {
    /// Its name in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signing => "signing",
            Self::SshCa => "ssh_ca",
            Self::Audit => "audit",
            Self::DbLogin => "db_login",
        }
    }

    /// Reads [`KeyKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Signing, Self::SshCa, Self::Audit, Self::DbLogin]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One key's private material and what names it.
pub struct PlainKey {
    /// What it is for.
    pub kind: KeyKind,
    /// Its id: the JWK thumbprint, the SSH fingerprint, the audit key's kid.
    pub id: String,
    /// Its algorithm, as the kind names them (`ed25519`, `p256`, `ecdsa-p256`, `hmac`).
    pub alg: String,
    /// Made at.
    pub created_at: DateTime<Utc>,
    /// Rotated out: trusted until then.
    pub retire_at: Option<DateTime<Utc>>,
    /// PKCS#8, an OpenSSH private key, or raw bytes (the login key).
    pub secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PlainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainKey")
            .field("kind", &self.kind)
            .field("id", &self.id)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl PlainKey {
    /// The associated data its sealing binds: a row whose kind, id or algorithm was
    /// changed does not open.
    pub fn aad(kind: &str, id: &str, alg: &str) -> Vec<u8> {
        format!("latchkey key v1\0{kind}\0{id}\0{alg}").into_bytes()
    }
}

/// The name of `alg` in the database.
pub fn alg_name<T: serde::Serialize>(alg: T) -> String {
    serde_json::to_value(alg)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn corrupt(id: &str) -> impl Fn(String) -> KeyError + '_ {
    move |message| KeyError::Corrupt {
        path: format!("database key {id}").into(),
        message,
    }
}

fn loaded(k: &PlainKey) -> Result<LoadedKey, KeyError> {
    let alg: KeyAlg = serde_json::from_value(serde_json::json!(k.alg))
        .map_err(|e| corrupt(&k.id)(e.to_string()))?;
    let m = material::load(alg, &k.secret).map_err(corrupt(&k.id))?;
    if m.kid != k.id {
        return Err(corrupt(&k.id)("the key does not match its kid".into()));
    }
    Ok(LoadedKey {
        entry: ManifestEntry {
            kid: m.kid,
            alg,
            created_at: k.created_at,
            retire_at: k.retire_at,
        },
        jwk: m.jwk,
        encoding: m.encoding,
        decoding: m.decoding,
    })
}

impl Keyring {
    /// A keyring held in the database: built from its signing keys, never written to disk.
    pub fn from_stored(keys: &[PlainKey]) -> Result<Self, KeyError> {
        crate::adapters::keys::jwt_crypto::install();
        let ring = Keyring {
            dir: None,
            keys: Default::default(),
        };
        ring.replace(keys)?;
        Ok(ring)
    }

    /// Swaps in the signing keys among `keys` under one lock (a reload after another
    /// replica rotated), oldest first; nothing changes if one does not load.
    pub fn replace(&self, keys: &[PlainKey]) -> Result<(), KeyError> {
        let mut fresh = keys
            .iter()
            .filter(|k| k.kind == KeyKind::Signing)
            .map(loaded)
            .collect::<Result<Vec<_>, _>>()?;
        fresh.sort_by(|a, b| {
            (a.entry.created_at, &a.entry.kid).cmp(&(b.entry.created_at, &b.entry.kid))
        });
        *self.write() = fresh;
        Ok(())
    }

    /// A new signing key of `alg`, not yet anywhere.
    pub fn generate(alg: KeyAlg, now: DateTime<Utc>) -> Result<PlainKey, KeyError> {
        let pkcs8 = Zeroizing::new(material::generate(alg).map_err(corrupt("new"))?);
        let m = material::load(alg, &pkcs8).map_err(corrupt("new"))?;
        Ok(PlainKey {
            kind: KeyKind::Signing,
            id: m.kid,
            alg: alg_name(alg),
            created_at: now,
            retire_at: None,
            secret: pkcs8,
        })
    }
}

/// The signing keys, audit key and login key a broker kept in `dir` before the database
/// held them (only those present; nothing is created). The SSH CA's are read by
/// [`crate::adapters::keys::ssh_ca::SshCa::read_disk`].
pub fn read_disk(dir: &Path, now: DateTime<Utc>) -> Result<Vec<PlainKey>, KeyError> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let manifest_path = dir.join("keyring.json");
    if let Some(bytes) = files::read_private(&manifest_path)? {
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| KeyError::Corrupt {
            path: manifest_path.clone(),
            message: e.to_string(),
        })?;
        for e in manifest.keys {
            if e.retire_at.is_some_and(|t| t <= now) {
                continue;
            }
            let path = dir.join(format!("{}.key", e.kid));
            let secret = files::read_private(&path)?.ok_or_else(|| KeyError::Corrupt {
                path: path.clone(),
                message: "listed in keyring.json but missing".into(),
            })?;
            let key = PlainKey {
                kind: KeyKind::Signing,
                id: e.kid,
                alg: alg_name(e.alg),
                created_at: e.created_at,
                retire_at: e.retire_at,
                secret: Zeroizing::new(secret),
            };
            loaded(&key)?;
            out.push(key);
        }
    }
    if let Some(secret) = files::read_private(&dir.join("audit.key"))? {
        let key = crate::adapters::keys::audit::AuditKey::from_pkcs8(&secret)
            .map_err(corrupt("audit.key"))?;
        out.push(PlainKey {
            kind: KeyKind::Audit,
            id: key.kid().to_string(),
            alg: alg_name(KeyAlg::Ed25519),
            created_at: now,
            retire_at: None,
            secret: Zeroizing::new(secret),
        });
    }
    if let Some(secret) = files::read_private(&dir.join("db-login.key"))? {
        out.push(login_key(secret, now));
    }
    Ok(out)
}

/// The login key's row: its id is a digest of the key (so a second one stands out).
pub fn login_key(secret: Vec<u8>, now: DateTime<Utc>) -> PlainKey {
    let id = crate::model::digest::sha256_hex(&secret)[..16].to_string();
    PlainKey {
        kind: KeyKind::DbLogin,
        id: format!("login-{id}"),
        alg: "hmac".into(),
        created_at: now,
        retire_at: None,
        secret: Zeroizing::new(secret),
    }
}
