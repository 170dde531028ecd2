//! Where the broker's keys come from at start: the database, sealed under the
//! key-encryption key, when one is set (required on PostgreSQL, where replicas share the
//! database); else the keys directory, as a single SQLite broker always kept them.

use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;

use crate::adapters::keys::audit::AuditKey;
use crate::adapters::keys::kek::LocalKek;
use crate::adapters::keys::login::LoginKey;
use crate::adapters::keys::ssh_ca::SshCa;
use crate::adapters::keys::Keyring;
use crate::app::shared_keys::SharedKeys;
use crate::config::{Config, KekSetting};
use crate::store::Store;

/// The setting, as start-up errors name it.
pub(super) const KEK: &str =
    "key_encryption_key_file (LATCHKEY_KEY_ENCRYPTION_KEY_FILE) or LATCHKEY_KEY_ENCRYPTION_KEY";

/// The keys a broker signs, certifies, audits and derives logins with.
pub(super) struct Keys {
    pub keyring: Keyring,
    pub ssh_ca: SshCa,
    pub audit_key: AuditKey,
    pub login_key: LoginKey,
    pub shared: Option<SharedKeys>,
}

/// The key-encryption key the configuration names, read and checked.
fn kek(config: &Config) -> anyhow::Result<Option<LocalKek>> {
    let text = match &config.key_encryption_key {
        None => return Ok(None),
        Some(KekSetting::Value(v)) => zeroize::Zeroizing::new(v.expose().to_string()),
        Some(KekSetting::File(path)) => {
            zeroize::Zeroizing::new(std::fs::read_to_string(path).with_context(|| {
                format!(
                    "key_encryption_key_file (LATCHKEY_KEY_ENCRYPTION_KEY_FILE): cannot read {}",
                    path.display()
                )
            })?)
        }
    };
    LocalKek::parse(&text)
        .map(Some)
        .with_context(|| format!("{KEK} is not usable"))
}

/// Loads the keys from the database (with a KEK) or from `keys_dir` (SQLite without one).
pub(super) async fn load(config: &Config, store: &Store) -> anyhow::Result<Keys> {
    let now = Utc::now();
    match kek(config)? {
        Some(kek) => {
            let o = SharedKeys::open(
                store,
                Arc::new(kek),
                &config.keys_dir,
                config.ssh_ca_algorithm,
                now,
            )
            .await
            .context("loading the keys from the database")?;
            Ok(Keys {
                keyring: o.keyring,
                ssh_ca: o.ssh_ca,
                audit_key: o.audit_key,
                login_key: o.login_key,
                shared: Some(o.shared),
            })
        }
        None if matches!(store, Store::Postgres(_)) => anyhow::bail!(
            "{KEK} must be set on PostgreSQL: the replicas sharing the database share their keys through it, sealed under that key; give every replica the same 32 random bytes (e.g. `openssl rand -base64 32`)"
        ),
        None => Ok(Keys {
            keyring: Keyring::load_or_create(&config.keys_dir, now)
                .context("loading the signing keys")?,
            audit_key: AuditKey::load_or_create(&config.keys_dir)
                .context("loading the audit key")?,
            login_key: LoginKey::load_or_create(&config.keys_dir)
                .context("loading the database login key")?,
            ssh_ca: SshCa::load_or_create(&config.keys_dir, config.ssh_ca_algorithm, now)
                .context("loading the SSH user CA key")?,
            shared: None,
        }),
    }
}
