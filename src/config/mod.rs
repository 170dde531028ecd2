//! Layered configuration: built-in defaults, then a TOML file (`--config`), then
//! `LATCHKEY_*` environment variables, then command-line flags. The result is validated
//! once at start; a missing or wrong setting stops start-up with a message naming what to set.

pub(crate) use crate::config::error::invalid;
pub use crate::config::error::ConfigError;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod audit;
mod layer;
pub use audit::{AuditConfig, CheckpointSink, EventSink};
pub use layer::{
    AdminLayer, AuditLayer, AwsLayer, DevelopmentLayer, GateLayer, HooksLayer, Layer,
    LivestreamLayer, OidcLayer, SlackLayer, TlsLayer,
};
mod error;
mod gate;
pub use gate::DEV_SOURCE_DEFAULT;
pub mod limits;
mod oidc;
pub mod providers;
mod server;
pub mod slack;
pub use limits::{LimitsConfig, LimitsLayer};
pub use oidc::{OidcConfig, DEFAULT_ID_TOKEN_ALGORITHMS, MIN_JWKS_REFRESH};
pub use server::TlsConfig;

/// The validated configuration of a running broker.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The broker's own URL, the issuer of its tokens.
    pub public_url: String,
    /// `public_url` was not configured but derived from `listen` (and follows the bound port).
    pub public_url_derived: bool,
    /// State directory.
    pub data_dir: PathBuf,
    /// Database URL (SQLite file or PostgreSQL).
    pub database_url: String,
    /// Development mode.
    pub dev: bool,
    /// Plain HTTP is allowed off loopback because a TLS proxy is in front.
    pub behind_tls_proxy: bool,
    /// Policy directory.
    pub policy_dir: PathBuf,
    /// Session token lifetime.
    pub session_lifetime: Duration,
    /// Signing key directory.
    pub keys_dir: PathBuf,
    /// The key-encryption key that seals the keys in the database; `None`: keys on disk
    /// (SQLite only).
    pub key_encryption_key: Option<KekSetting>,
    /// TLS certificate and key, when the broker terminates TLS itself.
    pub tls: Option<TlsConfig>,
    /// The identity provider; absent only in development mode.
    pub oidc: Option<OidcConfig>,
    /// Administrators.
    pub admin: AdminConfig,
    /// Notification hooks.
    pub hooks: HooksConfig,
    /// How the broker reaches AWS STS.
    pub aws: crate::config::providers::AwsSettings,
    /// Audit checkpoints and the event sink.
    pub audit: AuditConfig,
    /// Slack approvals; `None` when no `[slack]` section is configured.
    pub slack: Option<crate::config::slack::SlackConfig>,
    /// Tokens for PostHog's live events service, when configured.
    pub livestream: Option<crate::config::providers::LivestreamSettings>,
    /// Where the development server runs its live-events source.
    pub dev_source: Option<SocketAddr>,
    /// How long the database may be unreachable before the gate fails closed
    /// (PostgreSQL only).
    pub gate_cutoff_after: Duration,
    /// The loopback PostgreSQL where the development server makes the example databases.
    pub dev_postgres: Option<crate::model::secret::Secret>,
    /// Limits on unauthenticated callers.
    pub limits: LimitsConfig,
    /// The SSH user CA's algorithm for new keys.
    pub ssh_ca_algorithm: crate::model::keys::SshCaAlg,
}

/// Where the key-encryption key comes from.
#[derive(Debug, Clone)]
pub enum KekSetting {
    /// `LATCHKEY_KEY_ENCRYPTION_KEY`.
    Value(crate::model::secret::Secret),
    /// `key_encryption_key_file` (`LATCHKEY_KEY_ENCRYPTION_KEY_FILE`).
    File(PathBuf),
}

/// Notification hooks.
#[derive(Debug, Clone, Default)]
pub struct HooksConfig {
    /// Receives a JSON POST whenever break-glass is used.
    pub breakglass_url: Option<String>,
}

/// Who administers the broker.
#[derive(Debug, Clone, Default)]
pub struct AdminConfig {
    /// Administrator groups.
    pub groups: Vec<String>,
    /// Administrator users, by email or subject.
    pub users: Vec<String>,
}

impl Layer {
    /// Fills defaults and validates.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let dev = self.dev.unwrap_or(false);
        let behind_tls_proxy = self.behind_tls_proxy.unwrap_or(false);
        let (listen, tls) = server::validate_listen(
            self.listen.as_deref(),
            self.tls.cert,
            self.tls.key,
            dev,
            behind_tls_proxy,
        )?;
        let public_url_derived = self.public_url.is_none();
        let public_url = server::validate_public_url(self.public_url, &listen, tls.is_some())?;
        let data_dir = self
            .data_dir
            .unwrap_or_else(|| PathBuf::from("latchkey-data"));
        let database_url = server::validate_database_url(self.database_url, &data_dir)?;
        let session_lifetime = server::validate_session_lifetime(self.session_lifetime.as_deref())?;
        let oidc = oidc::validate_oidc(self.oidc, dev)?;
        let audit = audit::validate(self.audit, dev, &data_dir)?;
        let livestream = gate::validate_livestream(self.livestream)?;
        let gate_cutoff_after = gate::validate_cutoff_after(self.gate.cutoff_after.as_deref())?;
        let dev_source = gate::validate_dev_source(self.gate, dev)?;
        let dev_postgres = gate::validate_dev_postgres(self.development, dev)?;
        Ok(Config {
            gate_cutoff_after,
            dev_postgres,
            livestream,
            dev_source,
            listen,
            public_url,
            public_url_derived,
            keys_dir: self.keys_dir.unwrap_or_else(|| data_dir.join("keys")),
            key_encryption_key: match (self.key_encryption_key, self.key_encryption_key_file) {
                (Some(_), Some(_)) => {
                    return Err(error::invalid(
                        "key_encryption_key_file (LATCHKEY_KEY_ENCRYPTION_KEY_FILE)",
                        "LATCHKEY_KEY_ENCRYPTION_KEY is set too: set one of them",
                    ))
                }
                (Some(v), None) => Some(KekSetting::Value(v)),
                (None, Some(f)) => Some(KekSetting::File(f)),
                (None, None) => None,
            },
            policy_dir: self.policy_dir.unwrap_or_else(|| PathBuf::from("policies")),
            data_dir,
            database_url,
            dev,
            behind_tls_proxy,
            session_lifetime,
            tls,
            oidc,
            admin: AdminConfig {
                // The development server's walkthrough needs an administrator: the `admin` group.
                groups: self.admin.groups.unwrap_or_else(|| {
                    if dev {
                        vec!["admin".into()]
                    } else {
                        Vec::new()
                    }
                }),
                users: self.admin.users.unwrap_or_default(),
            },
            hooks: HooksConfig {
                breakglass_url: self.hooks.breakglass_url,
            },
            aws: providers::validate_aws(self.aws)?,
            audit,
            slack: crate::config::slack::SlackConfig::validate(self.slack)?,
            limits: self.limits.validate()?,
            ssh_ca_algorithm: match self.ssh.ca_algorithm.as_deref() {
                None => crate::model::keys::SshCaAlg::default(),
                Some(v) => crate::model::keys::SshCaAlg::parse(v).ok_or_else(|| {
                    error::invalid(
                        "ssh.ca_algorithm (LATCHKEY_SSH_CA_ALGORITHM)",
                        format!("{v:?} is not ed25519 or ecdsa-p256"),
                    )
                })?,
            },
        })
    }
}

#[cfg(test)]
mod tests;
