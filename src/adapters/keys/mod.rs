//! The broker's signing keys: Ed25519 (EdDSA) and, for verifiers without EdDSA, P-256 (ES256).
//!
//! Each key is a PKCS#8 file (mode 0600) in the keys directory, named by its `kid` (the
//! RFC 7638 JWK thumbprint of its public key). `keyring.json` beside them says which key
//! signs and until when each retired key stays published: a rotated key signs nothing new
//! but verifies, and stays in the JWKS, until every token it signed has expired.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey};

pub mod audit;
mod error;
mod files;
pub mod jwt_crypto;
pub mod login;
pub mod ssh_ca;
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
            dir: dir.to_path_buf(),
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
            path: self.dir.clone(),
            message,
        };
        let pkcs8 = material::generate(alg).map_err(corrupt)?;
        let m = material::load(alg, &pkcs8).map_err(corrupt)?;
        let path = self.dir.join(format!("{}.key", m.kid));
        files::write_new_private(&path, &pkcs8)?;
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
        let manifest = Manifest {
            keys: self.read().iter().map(|k| k.entry.clone()).collect(),
        };
        let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| KeyError::Corrupt {
            path: self.dir.clone(),
            message: e.to_string(),
        })?;
        files::replace_private(&self.dir.join("keyring.json"), &bytes)
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
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// The administrator's permit, made the only way there is: the policy's check (here
    /// on the example policy, with the configuration naming `root` an administrator).
    pub(crate) fn administrator() -> Permit<Administer> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let policy = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(crate::model::policy::Policy::load(&dir))
            .unwrap();
        let root = crate::model::domain::Principal {
            user_id: "root".into(),
            subject: "root".into(),
            email: None,
            name: None,
            groups: vec![],
            session_id: "s".into(),
            expires_at: Utc::now(),
            dev: false,
            auth_time: None,
            groups_claim_missing: None,
        };
        let users = ["root".to_string()];
        let admins = crate::model::policy::permit::Admins {
            groups: &[],
            users: &users,
        };
        crate::model::policy::permit::administer(&policy, admins, &root).unwrap()
    }

    #[test]
    fn first_start_creates_one_private_key() {
        let dir = files::private_tempdir();
        let now = Utc::now();
        let ring = Keyring::load_or_create(dir.path(), now).unwrap();
        let keys = ring.list(now);
        assert_eq!(
            keys.iter().map(|k| k.alg).collect::<Vec<_>>(),
            vec![KeyAlg::Ed25519, KeyAlg::P256]
        );
        for k in &keys {
            let mode = fs::metadata(dir.path().join(format!("{}.key", k.kid)))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second start loads the same key.
        let again = Keyring::load_or_create(dir.path(), now).unwrap();
        assert_eq!(again.list(now), keys);
    }

    #[test]
    fn rotation_keeps_the_old_key_published_until_its_tokens_expire() {
        let dir = files::private_tempdir();
        let now = Utc::now();
        let ring = Keyring::load_or_create(dir.path(), now).unwrap();
        let (old, _) = ring.active();
        let new = ring
            .rotate(&administrator(), now, Duration::hours(8))
            .unwrap();
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
        assert_eq!(later.list(now + Duration::hours(9)).len(), 2);
        assert!(!dir.path().join(format!("{old}.key")).exists());
    }

    #[test]
    fn signing_always_finds_an_active_key_while_keys_rotate() {
        let dir = files::private_tempdir();
        let now = Utc::now();
        let ring = Keyring::load_or_create(dir.path(), now).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (ring, stop) = (ring.clone(), stop.clone());
                std::thread::spawn(move || {
                    let (mut reads, mut missing) = (0u32, 0u32);
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        for alg in KeyAlg::ALL {
                            let (kid, _) = ring.active_for(alg);
                            reads += 1;
                            if kid.is_empty() || ring.decoding_key(&kid, now).is_none() {
                                missing += 1;
                            }
                        }
                    }
                    (reads, missing)
                })
            })
            .collect();
        let permit = administrator();
        for _ in 0..20 {
            ring.rotate(&permit, now, Duration::hours(2)).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for r in readers {
            let (reads, missing) = r.join().unwrap();
            assert!(reads > 0);
            assert_eq!(missing, 0, "{missing} of {reads} reads found no active key");
        }
        assert_eq!(ring.list(now).iter().filter(|k| k.active).count(), 2);
    }

    #[test]
    fn a_key_file_replaced_by_a_link_is_refused() {
        let dir = files::private_tempdir();
        let now = Utc::now();
        let ring = Keyring::load_or_create(dir.path(), now).unwrap();
        let (kid, _) = ring.active();
        let path = dir.path().join(format!("{kid}.key"));
        let elsewhere = dir.path().join("elsewhere");
        fs::rename(&path, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        let err = Keyring::load_or_create(dir.path(), now).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }

    #[test]
    fn a_keys_directory_writable_by_others_is_refused_at_load() {
        let dir = files::private_tempdir();
        let now = Utc::now();
        Keyring::load_or_create(dir.path(), now).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            Keyring::load_or_create(dir.path(), now),
            Err(KeyError::DirPermissions(_))
        ));
        assert!(matches!(
            audit::AuditKey::load_or_create(dir.path()),
            Err(KeyError::DirPermissions(_))
        ));
    }

    #[test]
    fn a_key_readable_by_others_is_refused() {
        let dir = files::private_tempdir();
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
