//! `[oidc]`: the identity provider the CLI logs in with, and how its ID tokens are
//! checked (algorithms, clock skew, JWKS refetches).

use std::time::Duration;

use crate::config::error::{invalid, ConfigError};
use crate::config::layer::OidcLayer;
use crate::model::duration;

/// Algorithms an ID token may be signed with when the configuration does not say.
pub const DEFAULT_ID_TOKEN_ALGORITHMS: &[&str] = &["RS256", "ES256", "EdDSA"];
/// The smallest `oidc.jwks_min_refresh` accepted.
pub const MIN_JWKS_REFRESH: Duration = Duration::from_secs(1);

/// Asymmetric algorithms the broker can verify; symmetric ones are never accepted.
const VERIFIABLE_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

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

/// The provider's settings; `None` only in development mode with no provider named.
pub(super) fn validate_oidc(
    layer: OidcLayer,
    dev: bool,
) -> Result<Option<OidcConfig>, ConfigError> {
    let Some((issuer, client_id)) = issuer_and_client(layer.issuer, layer.client_id, dev)? else {
        return Ok(None);
    };
    let algorithms = algorithms(layer.algorithms)?;
    let clock_skew = clock_skew(layer.clock_skew)?;
    let jwks_min_refresh = jwks_min_refresh(layer.jwks_min_refresh)?;
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

/// Both the issuer (an https URL, or http on loopback) and the client id, or in
/// development mode neither.
fn issuer_and_client(
    issuer: Option<String>,
    client_id: Option<String>,
    dev: bool,
) -> Result<Option<(String, String)>, ConfigError> {
    let (issuer, client_id) = match (issuer, client_id) {
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
    Ok(Some((issuer, client_id)))
}

/// The accepted signature algorithms: at least one, each one the broker can verify.
fn algorithms(algorithms: Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    let algorithms = algorithms.unwrap_or_else(|| {
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
    Ok(algorithms)
}

/// The clock skew tolerated on time claims: 60s by default, at most 5m.
fn clock_skew(clock_skew: Option<String>) -> Result<Duration, ConfigError> {
    let clock_skew = match clock_skew {
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
    Ok(clock_skew)
}

/// The least time between JWKS refetches: 10s by default, at least [`MIN_JWKS_REFRESH`].
fn jwks_min_refresh(jwks_min_refresh: Option<String>) -> Result<Duration, ConfigError> {
    let jwks_min_refresh = match jwks_min_refresh {
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
    Ok(jwks_min_refresh)
}
