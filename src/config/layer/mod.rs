//! One layer of configuration (file, environment or flags): every setting optional
//! (the sections are [`sections`]), and how layers are read (a file here, the
//! environment in [`env`]) and stacked ([`Layer::over`]).

mod env;
mod sections;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::error::ConfigError;

pub use self::sections::{
    AdminLayer, AuditLayer, AwsLayer, DevelopmentLayer, GateLayer, HooksLayer, LivestreamLayer,
    OidcLayer, SlackLayer, SshLayer, TlsLayer,
};

/// Every setting, each optional: one layer of configuration.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// Socket address to listen on.
    pub listen: Option<String>,
    /// The URL clients reach the broker at; the `iss` of its tokens.
    pub public_url: Option<String>,
    /// Directory for the SQLite database and the signing keys.
    pub data_dir: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://…`.
    pub database_url: Option<String>,
    /// Development mode: loopback only, development login, example policies.
    pub dev: Option<bool>,
    /// A TLS-terminating proxy sits in front; allows plain HTTP on a non-loopback address.
    pub behind_tls_proxy: Option<bool>,
    /// Directory holding the policy and resource catalogue.
    pub policy_dir: Option<PathBuf>,
    /// Lifetime of a session token, e.g. `8h`.
    pub session_lifetime: Option<String>,
    /// Directory of the broker's signing keys.
    pub keys_dir: Option<PathBuf>,
    /// A file holding the key-encryption key (32 bytes, base64 or hex) that seals the
    /// keys in the database.
    pub key_encryption_key_file: Option<PathBuf>,
    /// The key-encryption key itself: from the environment only, never a file's text.
    #[serde(skip)]
    pub key_encryption_key: Option<crate::model::secret::Secret>,
    /// TLS certificate and key.
    #[serde(default)]
    pub tls: TlsLayer,
    /// The OpenID Connect provider.
    #[serde(default)]
    pub oidc: OidcLayer,
    /// Who may administer the broker (lock users, rotate keys).
    #[serde(default)]
    pub admin: AdminLayer,
    /// Notification hooks.
    #[serde(default)]
    pub hooks: HooksLayer,
    /// How the broker reaches AWS STS.
    #[serde(default)]
    pub aws: AwsLayer,
    /// Audit checkpoints and the event sink.
    #[serde(default)]
    pub audit: AuditLayer,
    /// Slack approvals; off without a bot token and signing secret.
    #[serde(default)]
    pub slack: SlackLayer,
    /// Tokens for PostHog's live events service.
    #[serde(default)]
    pub livestream: LivestreamLayer,
    /// The gate in front of internal HTTP services.
    #[serde(default)]
    pub gate: GateLayer,
    /// The SSH certificate authority.
    #[serde(default)]
    pub ssh: SshLayer,
    /// What only a development server does.
    #[serde(default)]
    pub development: DevelopmentLayer,
    /// Limits on unauthenticated callers.
    #[serde(default)]
    pub limits: crate::config::limits::LimitsLayer,
}

impl Layer {
    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// This layer with every unset setting taken from `below`.
    // Long on purpose: one line per setting, field by field, so that a setting added to
    // `Layer` and left out here stands out (the struct literal names every field).
    pub fn over(self, below: Layer) -> Layer {
        Layer {
            listen: self.listen.or(below.listen),
            public_url: self.public_url.or(below.public_url),
            data_dir: self.data_dir.or(below.data_dir),
            database_url: self.database_url.or(below.database_url),
            dev: self.dev.or(below.dev),
            behind_tls_proxy: self.behind_tls_proxy.or(below.behind_tls_proxy),
            policy_dir: self.policy_dir.or(below.policy_dir),
            session_lifetime: self.session_lifetime.or(below.session_lifetime),
            keys_dir: self.keys_dir.or(below.keys_dir),
            key_encryption_key_file: self
                .key_encryption_key_file
                .or(below.key_encryption_key_file),
            key_encryption_key: self.key_encryption_key.or(below.key_encryption_key),
            tls: TlsLayer {
                cert: self.tls.cert.or(below.tls.cert),
                key: self.tls.key.or(below.tls.key),
            },
            oidc: OidcLayer {
                issuer: self.oidc.issuer.or(below.oidc.issuer),
                client_id: self.oidc.client_id.or(below.oidc.client_id),
                groups_claim: self.oidc.groups_claim.or(below.oidc.groups_claim),
                scopes: self.oidc.scopes.or(below.oidc.scopes),
                algorithms: self.oidc.algorithms.or(below.oidc.algorithms),
                clock_skew: self.oidc.clock_skew.or(below.oidc.clock_skew),
                jwks_min_refresh: self.oidc.jwks_min_refresh.or(below.oidc.jwks_min_refresh),
            },
            admin: AdminLayer {
                groups: self.admin.groups.or(below.admin.groups),
                users: self.admin.users.or(below.admin.users),
            },
            hooks: HooksLayer {
                breakglass_url: self.hooks.breakglass_url.or(below.hooks.breakglass_url),
            },
            aws: AwsLayer {
                region: self.aws.region.or(below.aws.region),
                endpoint_url: self.aws.endpoint_url.or(below.aws.endpoint_url),
                iam_endpoint_url: self.aws.iam_endpoint_url.or(below.aws.iam_endpoint_url),
                deny_policy_max_chars: self
                    .aws
                    .deny_policy_max_chars
                    .or(below.aws.deny_policy_max_chars),
            },
            audit: AuditLayer {
                checkpoint_interval: self
                    .audit
                    .checkpoint_interval
                    .or(below.audit.checkpoint_interval),
                checkpoint_every_events: self
                    .audit
                    .checkpoint_every_events
                    .or(below.audit.checkpoint_every_events),
                checkpoint_sink: self.audit.checkpoint_sink.or(below.audit.checkpoint_sink),
                event_sink: self.audit.event_sink.or(below.audit.event_sink),
            },
            slack: SlackLayer {
                bot_token: self.slack.bot_token.or(below.slack.bot_token),
                signing_secret: self.slack.signing_secret.or(below.slack.signing_secret),
                api_url: self.slack.api_url.or(below.slack.api_url),
                default_channel: self.slack.default_channel.or(below.slack.default_channel),
                channels: self.slack.channels.or(below.slack.channels),
                team_id: self.slack.team_id.or(below.slack.team_id),
            },
            livestream: LivestreamLayer {
                secret: self.livestream.secret.or(below.livestream.secret),
                api_token: self.livestream.api_token.or(below.livestream.api_token),
                organization_id: self
                    .livestream
                    .organization_id
                    .or(below.livestream.organization_id),
                user_ids: self.livestream.user_ids.or(below.livestream.user_ids),
                token_ttl: self.livestream.token_ttl.or(below.livestream.token_ttl),
            },
            gate: GateLayer {
                dev_source: self.gate.dev_source.or(below.gate.dev_source),
                cutoff_after: self.gate.cutoff_after.or(below.gate.cutoff_after),
            },
            ssh: SshLayer {
                ca_algorithm: self.ssh.ca_algorithm.or(below.ssh.ca_algorithm),
            },
            development: DevelopmentLayer {
                postgres: self.development.postgres.or(below.development.postgres),
            },
            limits: self.limits.over(below.limits),
        }
    }
}
