//! The sections of a layer (`[tls]`, `[oidc]`, `[admin]`, `[hooks]`, `[aws]`, `[audit]`,
//! `[slack]`, `[livestream]`, `[gate]`, `[ssh]`): every setting optional, as the file writes it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

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
    /// How long the database may be unreachable before the gate fails closed, e.g. `5s`.
    pub cutoff_after: Option<String>,
}

/// `[ssh]` settings.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshLayer {
    /// The SSH user CA's algorithm for new keys: `ed25519` or `ecdsa-p256`.
    pub ca_algorithm: Option<String>,
}

/// `[development]` settings (a `serve --dev` broker only).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevelopmentLayer {
    /// A superuser connection to a loopback PostgreSQL where the development server makes
    /// the example catalogue's databases, group roles and its own role (`off` for none).
    pub postgres: Option<String>,
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
