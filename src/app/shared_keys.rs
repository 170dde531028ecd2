//! Keys shared by every replica through the database: the signing keys, the SSH CA's
//! keys, the audit key and the database login key, each sealed under the key-encryption
//! key (`adapters::keys::kek`). The first start on a database without keys imports the
//! keys found in `keys_dir` (audited as `key.imported`) or makes new ones; from then on
//! the database is the truth. A rotation bumps `broker_keys_version` in its transaction,
//! and every replica polls that one row ([`POLL`]) and reloads the keys when it moves: a
//! self-contained poll rather than a NOTIFY, so it needs no listener connection and works
//! on SQLite alike.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};

use crate::adapters::keys::audit::AuditKey;
use crate::adapters::keys::kek::{KekError, KeyEncryption};
use crate::adapters::keys::login::LoginKey;
use crate::adapters::keys::ssh_ca::{CaAlg, SshCa};
use crate::adapters::keys::stored::{alg_name, read_disk, KeyKind, PlainKey};
use crate::adapters::keys::{KeyAlg, KeyError, Keyring};
use crate::model::audit::{AuditEvent, EventKind, Origin, SYSTEM};
use crate::model::domain::{from_ms, to_ms};
use crate::store::{KeyRow, Store, StoreError};

/// How often a replica looks at the keys' version.
pub const POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Why the shared keys could not be loaded or changed.
#[derive(Debug, thiserror::Error)]
pub enum SharedKeyError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key does not load.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A key does not open (wrong KEK, or a row was changed).
    #[error(transparent)]
    Kek(#[from] KekError),
    /// No identifier could be drawn.
    #[error(transparent)]
    Random(#[from] crate::model::random::RandomError),
    /// A row is not what this broker writes.
    #[error("the keys in the database: {0}")]
    Corrupt(String),
}

/// The key-encryption key and the version of the keys this replica holds.
pub struct SharedKeys {
    kek: Arc<dyn KeyEncryption>,
    seen: AtomicI64,
}

impl std::fmt::Debug for SharedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedKeys")
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

/// Every key a broker needs, loaded from the database.
pub struct Opened {
    /// Signing keys.
    pub keyring: Keyring,
    /// The SSH user CA.
    pub ssh_ca: SshCa,
    /// The audit key.
    pub audit_key: AuditKey,
    /// The database login key.
    pub login_key: LoginKey,
    /// What reloads and rotates them.
    pub shared: SharedKeys,
}

fn seal(kek: &dyn KeyEncryption, k: &PlainKey) -> Result<KeyRow, KekError> {
    let kind = k.kind.as_str();
    let sealed = kek.seal(&PlainKey::aad(kind, &k.id, &k.alg), &k.secret)?;
    Ok(KeyRow {
        kind: kind.into(),
        id: k.id.clone(),
        alg: k.alg.clone(),
        created_at: to_ms(k.created_at),
        retire_at: k.retire_at.map(to_ms),
        sealed: STANDARD.encode(sealed),
    })
}

fn open(kek: &dyn KeyEncryption, row: &KeyRow) -> Result<PlainKey, SharedKeyError> {
    let kind = KeyKind::parse(&row.kind)
        .ok_or_else(|| SharedKeyError::Corrupt(format!("unknown kind {:?}", row.kind)))?;
    let sealed = STANDARD
        .decode(&row.sealed)
        .map_err(|_| KekError::WrongKey)?;
    let secret = kek.open(&PlainKey::aad(&row.kind, &row.id, &row.alg), &sealed)?;
    Ok(PlainKey {
        kind,
        id: row.id.clone(),
        alg: row.alg.clone(),
        created_at: from_ms(row.created_at),
        retire_at: row.retire_at.map(from_ms),
        secret: zeroize::Zeroizing::new(secret),
    })
}

fn active(keys: &[PlainKey], kind: KeyKind, alg: Option<&str>) -> bool {
    keys.iter()
        .any(|k| k.kind == kind && k.retire_at.is_none() && alg.is_none_or(|a| k.alg == a))
}

/// What is missing from `keys`, made new: a signing key of each kind, an SSH CA key, the
/// audit key, the login key.
fn missing(
    keys: &[PlainKey],
    ssh_alg: CaAlg,
    now: DateTime<Utc>,
) -> Result<Vec<PlainKey>, SharedKeyError> {
    let mut out = Vec::new();
    for alg in KeyAlg::ALL {
        if !active(keys, KeyKind::Signing, Some(&alg_name(alg))) {
            out.push(Keyring::generate(alg, now)?);
        }
    }
    if !active(keys, KeyKind::SshCa, None) {
        out.push(SshCa::generate(ssh_alg, now)?);
    }
    if !active(keys, KeyKind::Audit, None) {
        let pkcs8 =
            crate::model::keys::generate(KeyAlg::Ed25519).map_err(SharedKeyError::Corrupt)?;
        let key = AuditKey::from_pkcs8(&pkcs8).map_err(SharedKeyError::Corrupt)?;
        out.push(PlainKey {
            kind: KeyKind::Audit,
            id: key.kid().to_string(),
            alg: alg_name(KeyAlg::Ed25519),
            created_at: now,
            retire_at: None,
            secret: zeroize::Zeroizing::new(pkcs8),
        });
    }
    if !active(keys, KeyKind::DbLogin, None) {
        let mut bytes = vec![0u8; 32];
        crate::model::random::fill(&mut bytes)?;
        out.push(crate::adapters::keys::stored::login_key(bytes, now));
    }
    Ok(out)
}

fn one(keys: &[PlainKey], kind: KeyKind) -> Result<&PlainKey, SharedKeyError> {
    keys.iter()
        .find(|k| k.kind == kind && k.retire_at.is_none())
        .ok_or_else(|| SharedKeyError::Corrupt(format!("no {} key", kind.as_str())))
}

impl SharedKeys {
    /// Loads the keys from the database; on a database without keys, first imports those
    /// in `keys_dir` (audited) and makes whatever is still missing, one replica at a time.
    pub async fn open(
        store: &Store,
        kek: Arc<dyn KeyEncryption>,
        keys_dir: &std::path::Path,
        ssh_alg: CaAlg,
        now: DateTime<Utc>,
    ) -> Result<Opened, SharedKeyError> {
        let mut tx = store.begin().await?;
        tx.broker_keys_lock().await?;
        let rows = tx.broker_keys(now).await?;
        let mut keys = rows
            .iter()
            .map(|r| open(kek.as_ref(), r))
            .collect::<Result<Vec<_>, _>>()?;
        let mut fresh = Vec::new();
        if keys.is_empty() {
            fresh.extend(read_disk(keys_dir, now)?);
            fresh.extend(SshCa::read_disk(keys_dir, now)?);
            if !fresh.is_empty() {
                let listed: Vec<_> = fresh
                    .iter()
                    .map(|k| serde_json::json!({ "kind": k.kind.as_str(), "id": k.id }))
                    .collect();
                let event =
                    AuditEvent::new(EventKind::KeyImported, SYSTEM, &Origin::default(), now)?
                        .details(serde_json::json!({ "from": keys_dir, "keys": listed }));
                tx.append_audit(&event).await?;
                tracing::warn!(keys = fresh.len(), dir = %keys_dir.display(), "imported the keys on disk into the database, sealed; the database holds them from now on");
            }
        }
        keys.append(&mut fresh);
        let made = missing(&keys, ssh_alg, now)?;
        for k in keys.iter().skip(rows.len()).chain(&made) {
            tx.broker_key_insert(&seal(kek.as_ref(), k)?).await?;
        }
        let changed = keys.len() > rows.len() || !made.is_empty();
        if changed {
            tx.broker_keys_bump().await?;
        }
        let version = tx.broker_keys_version().await?;
        tx.commit().await?;
        keys.extend(made);
        let audit_key = AuditKey::from_pkcs8(&one(&keys, KeyKind::Audit)?.secret)
            .map_err(SharedKeyError::Corrupt)?;
        let login = one(&keys, KeyKind::DbLogin)?;
        if login.secret.len() != 32 {
            return Err(SharedKeyError::Corrupt(
                "the login key is not 32 bytes".into(),
            ));
        }
        Ok(Opened {
            keyring: Keyring::from_stored(&keys)?,
            ssh_ca: SshCa::from_stored(&keys)?,
            audit_key,
            login_key: LoginKey::new(&login.secret),
            shared: SharedKeys {
                kek,
                seen: AtomicI64::new(version),
            },
        })
    }

    /// Reloads the signing and SSH CA keys if another replica changed them since this one
    /// last looked; returns whether it did.
    pub async fn reload(
        &self,
        store: &Store,
        keyring: &Keyring,
        ssh_ca: &SshCa,
        now: DateTime<Utc>,
    ) -> Result<bool, SharedKeyError> {
        let mut tx = store.begin_read().await?;
        let version = tx.broker_keys_version().await?;
        if version == self.seen.load(Ordering::SeqCst) {
            tx.commit().await?;
            return Ok(false);
        }
        // Read after the version: the rows are at least that new.
        let rows = tx.broker_keys(now).await?;
        tx.commit().await?;
        let keys = rows
            .iter()
            .map(|r| open(self.kek.as_ref(), r))
            .collect::<Result<Vec<_>, _>>()?;
        keyring.replace(&keys)?;
        ssh_ca.replace(&keys)?;
        self.seen.store(version, Ordering::SeqCst);
        Ok(true)
    }

    /// Rotates out the active keys of `kind` (trusted `keep` more) and stores `fresh` in
    /// their place, with `event` (made from the new key's id) in the same transaction;
    /// then reloads this replica. Returns the first new key's id.
    // Eight arguments: the kind, its fresh keys and the audit event belong to one
    // transaction, and each is what one of the two callers differs in.
    #[allow(clippy::too_many_arguments)]
    pub async fn rotate(
        &self,
        store: &Store,
        (keyring, ssh_ca): (&Keyring, &SshCa),
        kind: KeyKind,
        fresh: Vec<PlainKey>,
        keep: Duration,
        now: DateTime<Utc>,
        event: impl FnOnce(&str) -> Result<AuditEvent, crate::model::random::RandomError>,
    ) -> Result<String, SharedKeyError> {
        let id = fresh.first().map(|k| k.id.clone()).unwrap_or_default();
        let mut tx = store.begin().await?;
        tx.broker_keys_bump().await?;
        tx.broker_keys_retire(kind.as_str(), None, now + keep, now)
            .await?;
        for k in &fresh {
            tx.broker_key_insert(&seal(self.kek.as_ref(), k)?).await?;
        }
        tx.append_audit(&event(&id)?).await?;
        tx.commit().await?;
        self.reload(store, keyring, ssh_ca, now).await?;
        Ok(id)
    }

    /// Follows the other replicas' changes until the process ends.
    pub async fn follow(self: Arc<Self>, store: Store, keyring: Arc<Keyring>, ssh_ca: Arc<SshCa>) {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.reload(&store, &keyring, &ssh_ca, Utc::now()).await {
                Ok(true) => tracing::info!(
                    keys = keyring.len(),
                    "reloaded the keys another replica changed"
                ),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "reloading the keys from the database failed; keeping those loaded")
                }
            }
        }
    }
}

/// A rotation that failed fails as its cause does; a key that does not open is a key
/// error (an internal one: nothing the caller did).
impl From<SharedKeyError> for crate::app::error::ServiceError {
    fn from(e: SharedKeyError) -> Self {
        use crate::app::error::ServiceError;
        match e {
            SharedKeyError::Store(e) => ServiceError::Store(e),
            SharedKeyError::Key(e) => ServiceError::Key(e),
            SharedKeyError::Random(e) => ServiceError::Random(e),
            other => ServiceError::Key(KeyError::Corrupt {
                path: "database keys".into(),
                message: other.to_string(),
            }),
        }
    }
}
