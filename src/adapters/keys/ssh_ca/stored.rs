//! The SSH CA's keys as the database holds them (see [`crate::adapters::keys::stored`]).

use std::path::Path;

use chrono::{DateTime, Utc};
use ssh_key::rand_core::OsRng;
use ssh_key::{HashAlg, LineEnding, PrivateKey};
use zeroize::Zeroizing;

use super::{algorithm, loaded, CaAlg, Entry, Loaded, Manifest, SshCa};
use crate::adapters::keys::error::KeyError;
use crate::adapters::keys::files;
use crate::adapters::keys::stored::{alg_name, KeyKind, PlainKey};

fn corrupt(id: &str) -> impl Fn(String) -> KeyError + '_ {
    move |message| KeyError::Corrupt {
        path: format!("database SSH CA key {id}").into(),
        message,
    }
}

fn file_name(fingerprint: &str) -> String {
    format!(
        "ssh-ca-{}.key",
        &crate::model::digest::sha256_hex(fingerprint.as_bytes())[..16]
    )
}

fn from_plain(k: &PlainKey) -> Result<Loaded, KeyError> {
    let alg: CaAlg = serde_json::from_value(serde_json::json!(k.alg))
        .map_err(|e| corrupt(&k.id)(e.to_string()))?;
    let private =
        PrivateKey::from_openssh(&*k.secret).map_err(|e| corrupt(&k.id)(e.to_string()))?;
    let fingerprint = private
        .public_key()
        .fingerprint(HashAlg::Sha256)
        .to_string();
    if fingerprint != k.id {
        return Err(corrupt(&k.id)(format!("holds {fingerprint}")));
    }
    let entry = Entry {
        file: file_name(&fingerprint),
        fingerprint,
        alg,
        created_at: k.created_at,
        retire_at: k.retire_at,
    };
    loaded(entry, private).map_err(corrupt(&k.id))
}

impl SshCa {
    /// A CA held in the database: built from its SSH CA keys, never written to disk.
    pub fn from_stored(keys: &[PlainKey]) -> Result<Self, KeyError> {
        let ca = SshCa {
            dir: None,
            keys: Default::default(),
        };
        ca.replace(keys)?;
        Ok(ca)
    }

    /// Swaps in the SSH CA keys among `keys` under one lock; nothing changes if one does
    /// not load.
    pub fn replace(&self, keys: &[PlainKey]) -> Result<(), KeyError> {
        let mut fresh = keys
            .iter()
            .filter(|k| k.kind == KeyKind::SshCa)
            .map(from_plain)
            .collect::<Result<Vec<_>, _>>()?;
        fresh.sort_by(|a, b| {
            (a.entry.created_at, &a.entry.fingerprint)
                .cmp(&(b.entry.created_at, &b.entry.fingerprint))
        });
        *self.write() = fresh;
        Ok(())
    }

    /// A new CA key of `alg`, not yet anywhere.
    pub fn generate(alg: CaAlg, now: DateTime<Utc>) -> Result<PlainKey, KeyError> {
        let private = PrivateKey::random(&mut OsRng, algorithm(alg))
            .map_err(|e| corrupt("new")(format!("making an SSH CA key: {e}")))?;
        let pem = private
            .to_openssh(LineEnding::LF)
            .map_err(|e| corrupt("new")(e.to_string()))?;
        Ok(PlainKey {
            kind: KeyKind::SshCa,
            id: private
                .public_key()
                .fingerprint(HashAlg::Sha256)
                .to_string(),
            alg: alg_name(alg),
            created_at: now,
            retire_at: None,
            secret: Zeroizing::new(pem.as_bytes().to_vec()),
        })
    }

    /// The CA keys a broker kept in `dir` before the database held them (none if there
    /// is no `ssh-ca.json`; nothing is created).
    pub fn read_disk(dir: &Path, now: DateTime<Utc>) -> Result<Vec<PlainKey>, KeyError> {
        let manifest_path = dir.join("ssh-ca.json");
        let Some(bytes) = files::read_private(&manifest_path)? else {
            return Ok(Vec::new());
        };
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| KeyError::Corrupt {
            path: manifest_path.clone(),
            message: e.to_string(),
        })?;
        let mut out = Vec::new();
        for e in manifest.keys {
            if e.retire_at.is_some_and(|t| t <= now) {
                continue;
            }
            let path = dir.join(&e.file);
            let secret = files::read_private(&path)?.ok_or_else(|| KeyError::Corrupt {
                path: path.clone(),
                message: "listed in ssh-ca.json but missing".into(),
            })?;
            let key = PlainKey {
                kind: KeyKind::SshCa,
                id: e.fingerprint,
                alg: alg_name(e.alg),
                created_at: e.created_at,
                retire_at: e.retire_at,
                secret: Zeroizing::new(secret),
            };
            from_plain(&key)?;
            out.push(key);
        }
        Ok(out)
    }
}
