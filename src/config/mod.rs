//! Layered configuration: built-in defaults, then a TOML file (`--config`), then
//! `LATCHKEY_*` environment variables, then command-line flags. The result is validated
//! once at start; a missing or wrong setting stops start-up with a message naming what to set.

pub(crate) use crate::config::error::invalid;
pub use crate::config::error::ConfigError;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::duration;

mod audit;
mod layer;
pub use audit::{AuditConfig, CheckpointSink, EventSink};
pub use layer::{
    AdminLayer, AuditLayer, AwsLayer, GateLayer, HooksLayer, Layer, LivestreamLayer, OidcLayer,
    SlackLayer, TlsLayer,
};
mod error;
mod gate;
pub mod limits;
pub mod providers;
pub mod slack;
pub use limits::{LimitsConfig, LimitsLayer};

/// Algorithms an ID token may be signed with when the configuration does not say.
pub const DEFAULT_ID_TOKEN_ALGORITHMS: &[&str] = &["RS256", "ES256", "EdDSA"];
/// The smallest `oidc.jwks_min_refresh` accepted.
pub const MIN_JWKS_REFRESH: Duration = Duration::from_secs(1);

/// Asymmetric algorithms the broker can verify; symmetric ones are never accepted.
const VERIFIABLE_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

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
    /// Limits on unauthenticated callers.
    pub limits: LimitsConfig,
}

/// Notification hooks.
#[derive(Debug, Clone, Default)]
pub struct HooksConfig {
    /// Receives a JSON POST whenever break-glass is used.
    pub breakglass_url: Option<String>,
}

/// Certificate and key files.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// The identity provider.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// Issuer, compared exactly with `iss`.
    pub issuer: String,
    /// The CLI's client id, the expected `aud`.
    pub client_id: String,
    /// Claim holding groups.
    pub groups_claim: String,
    /// Scopes the CLI requests.
    pub scopes: Vec<String>,
    /// Accepted signature algorithms.
    pub algorithms: Vec<String>,
    /// Clock skew tolerated on time claims.
    pub clock_skew: Duration,
    /// Least time between JWKS refetches on an unknown `kid`.
    pub jwks_min_refresh: Duration,
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
        let (listen, tls) = validate_listen(
            self.listen.as_deref(),
            self.tls.cert,
            self.tls.key,
            dev,
            behind_tls_proxy,
        )?;
        let public_url_derived = self.public_url.is_none();
        let public_url = validate_public_url(self.public_url, &listen, tls.is_some())?;
        let data_dir = self
            .data_dir
            .unwrap_or_else(|| PathBuf::from("latchkey-data"));
        let database_url = validate_database_url(self.database_url, &data_dir)?;
        let session_lifetime = validate_session_lifetime(self.session_lifetime.as_deref())?;
        let oidc = validate_oidc(self.oidc, dev)?;
        let audit = audit::validate(self.audit, dev, &data_dir)?;
        let livestream = gate::validate_livestream(self.livestream)?;
        let dev_source = gate::validate_dev_source(self.gate, dev)?;
        Ok(Config {
            livestream,
            dev_source,
            listen,
            public_url,
            public_url_derived,
            keys_dir: self.keys_dir.unwrap_or_else(|| data_dir.join("keys")),
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
            aws: validate_aws(self.aws)?,
            audit,
            slack: crate::config::slack::SlackConfig::validate(self.slack)?,
            limits: self.limits.validate()?,
        })
    }
}

/// The listening address and its TLS: plain HTTP only on loopback, or behind a proxy
/// that terminates TLS; development mode on loopback only.
fn validate_listen(
    listen: Option<&str>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    dev: bool,
    behind_tls_proxy: bool,
) -> Result<(SocketAddr, Option<TlsConfig>), ConfigError> {
    let listen: SocketAddr = listen.unwrap_or("127.0.0.1:8080").parse().map_err(|_| {
        invalid(
            "listen (LATCHKEY_LISTEN, --listen)",
            "not a socket address; write e.g. 127.0.0.1:8080 or [::]:443",
        )
    })?;
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsConfig { cert, key }),
        (None, None) => None,
        _ => {
            return Err(invalid(
                "tls.cert / tls.key (LATCHKEY_TLS_CERT, LATCHKEY_TLS_KEY)",
                "set both the certificate and the key, or neither",
            ))
        }
    };
    if dev && !listen.ip().is_loopback() {
        return Err(invalid(
            "listen (LATCHKEY_LISTEN, --listen)",
            format!(
                "development mode listens on loopback only, not {listen}; use e.g. 127.0.0.1:8080"
            ),
        ));
    }
    if !listen.ip().is_loopback() && tls.is_none() && !behind_tls_proxy {
        return Err(invalid(
            "tls.cert / tls.key (LATCHKEY_TLS_CERT, LATCHKEY_TLS_KEY)",
            format!(
                "refusing plain HTTP on the non-loopback address {listen}: configure a certificate and key, \
                 or set behind_tls_proxy = true (LATCHKEY_BEHIND_TLS_PROXY=true) if a TLS-terminating proxy sits in front"
            ),
        ));
    }
    Ok((listen, tls))
}

/// The public URL as given (without a trailing `/`), else the listening address's.
fn validate_public_url(
    public_url: Option<String>,
    listen: &SocketAddr,
    tls: bool,
) -> Result<String, ConfigError> {
    let scheme = if tls { "https" } else { "http" };
    let public_url = public_url
        .unwrap_or_else(|| format!("{scheme}://{listen}"))
        .trim_end_matches('/')
        .to_string();
    url::Url::parse(&public_url).map_err(|e| {
        invalid(
            "public_url (LATCHKEY_PUBLIC_URL)",
            format!("not a URL ({e}); write e.g. https://latchkey.example.com"),
        )
    })?;
    Ok(public_url)
}

/// The database: SQLite (by default in the data directory) or PostgreSQL.
fn validate_database_url(
    database_url: Option<String>,
    data_dir: &std::path::Path,
) -> Result<String, ConfigError> {
    let database_url = database_url
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("latchkey.db").display()));
    if !(database_url.starts_with("sqlite:")
        || database_url.starts_with("postgres://")
        || database_url.starts_with("postgresql://"))
    {
        return Err(invalid(
            "database_url (LATCHKEY_DATABASE_URL)",
            "must start with sqlite:// or postgres://",
        ));
    }
    Ok(database_url)
}

/// How long a session lasts: 8h by default, from 1m to 7d.
fn validate_session_lifetime(lifetime: Option<&str>) -> Result<Duration, ConfigError> {
    let session_lifetime = match lifetime {
        None => Duration::from_secs(8 * 3600),
        Some(s) => duration::parse(s).map_err(|e| {
            invalid(
                "session_lifetime (LATCHKEY_SESSION_LIFETIME)",
                e.to_string(),
            )
        })?,
    };
    if session_lifetime < Duration::from_secs(60)
        || session_lifetime > Duration::from_secs(7 * 86_400)
    {
        return Err(invalid(
            "session_lifetime (LATCHKEY_SESSION_LIFETIME)",
            "must be between 1m and 7d",
        ));
    }
    Ok(session_lifetime)
}

/// The deny policy's budget: at most IAM's limit, and room for at least a few entries.
fn validate_aws(layer: AwsLayer) -> Result<crate::config::providers::AwsSettings, ConfigError> {
    use crate::config::providers::ROLE_POLICY_LIMIT;
    let deny_policy_max_chars = match layer.deny_policy_max_chars.as_deref() {
        None => ROLE_POLICY_LIMIT,
        Some(v) => match v.trim().replace([',', '_'], "").parse::<usize>() {
            Ok(n) if (500..=ROLE_POLICY_LIMIT).contains(&n) => n,
            _ => {
                return Err(invalid(
                    "aws.deny_policy_max_chars (LATCHKEY_AWS_DENY_POLICY_MAX_CHARS)",
                    format!("{v:?} is not a number of characters from 500 to {ROLE_POLICY_LIMIT} (IAM's limit for all inline policies of a role together)"),
                ))
            }
        },
    };
    Ok(crate::config::providers::AwsSettings {
        region: layer.region,
        endpoint_url: layer.endpoint_url,
        iam_endpoint_url: layer.iam_endpoint_url,
        deny_policy_max_chars,
    })
}

fn validate_oidc(layer: OidcLayer, dev: bool) -> Result<Option<OidcConfig>, ConfigError> {
    let (issuer, client_id) = match (layer.issuer, layer.client_id) {
        (Some(i), Some(c)) => (i, c),
        (None, None) if dev => return Ok(None),
        (None, _) => {
            return Err(invalid(
                "oidc.issuer (LATCHKEY_OIDC_ISSUER)",
                "not set: name your OpenID Connect provider's issuer URL (or run `latchkey serve --dev` for a development login)",
            ))
        }
        (Some(_), None) => {
            return Err(invalid(
                "oidc.client_id (LATCHKEY_OIDC_CLIENT_ID)",
                "not set: name the public client the CLI logs in with",
            ))
        }
    };
    let parsed = url::Url::parse(&issuer).map_err(|e| {
        invalid(
            "oidc.issuer (LATCHKEY_OIDC_ISSUER)",
            format!("not a URL: {e}"),
        )
    })?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if parsed.scheme() != "https" && !loopback {
        return Err(invalid(
            "oidc.issuer (LATCHKEY_OIDC_ISSUER)",
            "must be https:// (plain http is accepted only for a provider on loopback)",
        ));
    }
    let algorithms = layer.algorithms.unwrap_or_else(|| {
        DEFAULT_ID_TOKEN_ALGORITHMS
            .iter()
            .map(|s| s.to_string())
            .collect()
    });
    if algorithms.is_empty() {
        return Err(invalid(
            "oidc.algorithms (LATCHKEY_OIDC_ALGORITHMS)",
            "name at least one algorithm",
        ));
    }
    if let Some(bad) = algorithms
        .iter()
        .find(|a| !VERIFIABLE_ALGORITHMS.contains(&a.as_str()))
    {
        return Err(invalid(
            "oidc.algorithms (LATCHKEY_OIDC_ALGORITHMS)",
            format!(
                "{bad} is not accepted; choose from {}",
                VERIFIABLE_ALGORITHMS.join(", ")
            ),
        ));
    }
    let clock_skew = match layer.clock_skew {
        None => Duration::from_secs(60),
        Some(s) => duration::parse(&s)
            .map_err(|e| invalid("oidc.clock_skew (LATCHKEY_OIDC_CLOCK_SKEW)", e.to_string()))?,
    };
    if clock_skew > Duration::from_secs(300) {
        return Err(invalid(
            "oidc.clock_skew (LATCHKEY_OIDC_CLOCK_SKEW)",
            "at most 5m",
        ));
    }
    let jwks_min_refresh = match layer.jwks_min_refresh {
        None => Duration::from_secs(10),
        Some(s) => duration::parse(&s).map_err(|e| {
            invalid(
                "oidc.jwks_min_refresh (LATCHKEY_OIDC_JWKS_MIN_REFRESH)",
                e.to_string(),
            )
        })?,
    };
    // Zero would let made-up `kid`s turn every login into a fetch from the provider.
    if jwks_min_refresh < MIN_JWKS_REFRESH {
        return Err(invalid(
            "oidc.jwks_min_refresh (LATCHKEY_OIDC_JWKS_MIN_REFRESH)",
            "at least 1s (the default is 10s)",
        ));
    }
    Ok(Some(OidcConfig {
        jwks_min_refresh,
        issuer,
        client_id,
        groups_claim: layer.groups_claim.unwrap_or_else(|| "groups".to_string()),
        scopes: layer.scopes.unwrap_or_else(|| {
            ["openid", "email", "profile", "groups"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        }),
        algorithms,
        clock_skew,
    }))
}

#[cfg(test)]
mod tests;
