//! One layer of configuration (file, environment or flags): every setting optional,
//! and how layers are read and stacked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::error::{invalid, ConfigError};

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
    /// Limits on unauthenticated callers.
    #[serde(default)]
    pub limits: crate::config::limits::LimitsLayer,
}

/// `[audit]` settings.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditLayer {
    /// How often the chain head is signed, e.g. `10m`.
    pub checkpoint_interval: Option<String>,
    /// Also sign once this many events were appended since the last checkpoint, e.g. `100`.
    #[serde(default, deserialize_with = "number_or_text")]
    pub checkpoint_every_events: Option<String>,
    /// Where checkpoints go: a directory, or an `https://` URL that receives a JSON POST.
    pub checkpoint_sink: Option<String>,
    /// Where every event goes as a JSON line: `stdout` or `file:PATH`.
    pub event_sink: Option<String>,
}

/// A TOML integer or string, kept as text for [`crate::config::audit`] to validate with the
/// environment's value.
fn number_or_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrText {
        Number(i64),
        Text(String),
    }
    Ok(Some(match NumberOrText::deserialize(d)? {
        NumberOrText::Number(n) => n.to_string(),
        NumberOrText::Text(s) => s,
    }))
}

/// `[slack]` settings.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackLayer {
    /// Bot token (`xoxb-…`) for the Web API.
    pub bot_token: Option<crate::model::secret::Secret>,
    /// The app's signing secret, to verify interactions and slash commands.
    pub signing_secret: Option<crate::model::secret::Secret>,
    /// Web API base URL (default `https://slack.com/api`).
    pub api_url: Option<String>,
    /// Channel (id) for requests whose resource has none in `channels`.
    pub default_channel: Option<String>,
    /// Channel (id) per resource, e.g. `"aws:prod" = "C0123PROD"`.
    pub channels: Option<BTreeMap<String, String>>,
    /// The workspace (team id, `T…`) whose clicks count; default: the bot token's own,
    /// as `auth.test` reports it.
    pub team_id: Option<String>,
}

/// `[livestream]` settings.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LivestreamLayer {
    /// The live events service's own JWT secret (never the main application's key).
    pub secret: Option<crate::model::secret::Secret>,
    /// The project API token the service filters events on.
    pub api_token: Option<String>,
    /// The PostHog organization id (a UUID) put in tokens.
    pub organization_id: Option<String>,
    /// PostHog user ids by email, put in tokens as `user_id`.
    pub user_ids: Option<BTreeMap<String, i64>>,
    /// Default lifetime of a token, e.g. `5m` (at most 15m).
    pub token_ttl: Option<String>,
}

/// `[gate]` settings.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateLayer {
    /// Where the development server runs its live-events source (`off` for none).
    pub dev_source: Option<String>,
}

/// `[aws]` settings.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsLayer {
    /// STS region (default: the environment's or profile's, else us-east-1).
    pub region: Option<String>,
    /// Another STS endpoint (a VPC endpoint, or an emulator).
    pub endpoint_url: Option<String>,
    /// Another IAM endpoint (an emulator); AWS's own by default.
    pub iam_endpoint_url: Option<String>,
    /// Size budget of the deny policy on each role (characters, whitespace not counted).
    pub deny_policy_max_chars: Option<String>,
}

/// `[hooks]` settings.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HooksLayer {
    /// URL that receives a JSON POST whenever break-glass is used.
    pub breakglass_url: Option<String>,
}

/// `[tls]` settings.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsLayer {
    /// PEM certificate chain.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
}

/// `[oidc]` settings.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcLayer {
    /// Issuer URL, exactly as the provider writes it in `iss`.
    pub issuer: Option<String>,
    /// Client id of the CLI (a public client with the device flow and PKCE).
    pub client_id: Option<String>,
    /// The claim holding the user's groups.
    pub groups_claim: Option<String>,
    /// Scopes the CLI asks for.
    pub scopes: Option<Vec<String>>,
    /// Signature algorithms accepted on ID tokens.
    pub algorithms: Option<Vec<String>>,
    /// Allowed clock difference for `exp`, `nbf` and `iat`, e.g. `60s`.
    pub clock_skew: Option<String>,
    /// Least time between two JWKS fetches caused by an unknown `kid`, e.g. `10s`.
    pub jwks_min_refresh: Option<String>,
}

/// `[admin]` settings.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminLayer {
    /// Members of these groups are administrators.
    pub groups: Option<Vec<String>>,
    /// These users (by email or subject) are administrators.
    pub users: Option<Vec<String>>,
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

    /// Reads `LATCHKEY_*` variables (given, so tests need not touch the process environment).
    pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let vars: BTreeMap<String, String> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("LATCHKEY_"))
            .collect();
        let get = |name: &str| vars.get(name).cloned().filter(|v| !v.is_empty());
        let list = |name: &str| get(name).map(|v| split_list(&v));
        let flag = |name: &'static str| -> Result<Option<bool>, ConfigError> {
            get(name).map(|v| parse_bool(name, &v)).transpose()
        };
        Ok(Layer {
            listen: get("LATCHKEY_LISTEN"),
            public_url: get("LATCHKEY_PUBLIC_URL"),
            data_dir: get("LATCHKEY_DATA_DIR").map(PathBuf::from),
            database_url: get("LATCHKEY_DATABASE_URL"),
            dev: flag("LATCHKEY_DEV")?,
            behind_tls_proxy: flag("LATCHKEY_BEHIND_TLS_PROXY")?,
            policy_dir: get("LATCHKEY_POLICY_DIR").map(PathBuf::from),
            session_lifetime: get("LATCHKEY_SESSION_LIFETIME"),
            keys_dir: get("LATCHKEY_KEYS_DIR").map(PathBuf::from),
            tls: TlsLayer {
                cert: get("LATCHKEY_TLS_CERT").map(PathBuf::from),
                key: get("LATCHKEY_TLS_KEY").map(PathBuf::from),
            },
            oidc: OidcLayer {
                issuer: get("LATCHKEY_OIDC_ISSUER"),
                client_id: get("LATCHKEY_OIDC_CLIENT_ID"),
                groups_claim: get("LATCHKEY_OIDC_GROUPS_CLAIM"),
                scopes: list("LATCHKEY_OIDC_SCOPES"),
                algorithms: list("LATCHKEY_OIDC_ALGORITHMS"),
                clock_skew: get("LATCHKEY_OIDC_CLOCK_SKEW"),
                jwks_min_refresh: get("LATCHKEY_OIDC_JWKS_MIN_REFRESH"),
            },
            admin: AdminLayer {
                groups: list("LATCHKEY_ADMIN_GROUPS"),
                users: list("LATCHKEY_ADMIN_USERS"),
            },
            hooks: HooksLayer {
                breakglass_url: get("LATCHKEY_HOOKS_BREAKGLASS_URL"),
            },
            aws: AwsLayer {
                region: get("LATCHKEY_AWS_REGION"),
                endpoint_url: get("LATCHKEY_AWS_ENDPOINT_URL"),
                iam_endpoint_url: get("LATCHKEY_AWS_IAM_ENDPOINT_URL"),
                deny_policy_max_chars: get("LATCHKEY_AWS_DENY_POLICY_MAX_CHARS"),
            },
            audit: AuditLayer {
                checkpoint_interval: get("LATCHKEY_AUDIT_CHECKPOINT_INTERVAL"),
                checkpoint_every_events: get("LATCHKEY_AUDIT_CHECKPOINT_EVERY_EVENTS"),
                checkpoint_sink: get("LATCHKEY_AUDIT_CHECKPOINT_SINK"),
                event_sink: get("LATCHKEY_AUDIT_EVENT_SINK"),
            },
            slack: SlackLayer {
                bot_token: get("LATCHKEY_SLACK_BOT_TOKEN").map(crate::model::secret::Secret::new),
                signing_secret: get("LATCHKEY_SLACK_SIGNING_SECRET")
                    .map(crate::model::secret::Secret::new),
                api_url: get("LATCHKEY_SLACK_API_URL"),
                default_channel: get("LATCHKEY_SLACK_DEFAULT_CHANNEL"),
                channels: None,
                team_id: get("LATCHKEY_SLACK_TEAM_ID"),
            },
            livestream: LivestreamLayer {
                secret: get("LATCHKEY_LIVESTREAM_SECRET").map(crate::model::secret::Secret::new),
                api_token: get("LATCHKEY_LIVESTREAM_API_TOKEN"),
                organization_id: get("LATCHKEY_LIVESTREAM_ORGANIZATION_ID"),
                user_ids: None,
                token_ttl: get("LATCHKEY_LIVESTREAM_TOKEN_TTL"),
            },
            gate: GateLayer {
                dev_source: get("LATCHKEY_GATE_DEV_SOURCE"),
            },
            limits: crate::config::limits::LimitsLayer::from_env(get)?,
        })
    }

    /// This layer with every unset setting taken from `below`.
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
            },
            limits: self.limits.over(below.limits),
        }
    }
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn parse_bool(name: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(invalid(
            name,
            format!("{v:?} is not a boolean; write true or false"),
        )),
    }
}
