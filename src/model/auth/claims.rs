//! Checks on an ID token's header and claims beyond signature, issuer, audience and
//! times: `azp`, `typ`, the nonce, and the replay key that makes a token single-use
//! whatever the spelling of its signature.

use serde_json::{Map, Value};

/// Why an ID token was refused. Each variant has a stable code for API clients.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdTokenError {
    /// Not a compact JWS.
    #[error("the ID token is malformed")]
    Malformed,
    /// `alg` not in the allow-list (this includes `none` and every HMAC algorithm).
    #[error("the ID token's algorithm {0:?} is not allowed")]
    AlgorithmNotAllowed(String),
    /// No key with this `kid` in the provider's JWKS, even after a refetch.
    #[error("the ID token was signed by a key the provider does not publish")]
    UnknownKey,
    /// The key's type does not fit the algorithm.
    #[error("the ID token's algorithm does not match the provider's key")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("the ID token's signature is invalid")]
    BadSignature,
    /// `iss` is not the configured issuer.
    #[error("the ID token was issued by another issuer")]
    WrongIssuer,
    /// `aud` does not name this broker's client, or `azp` names another.
    #[error("the ID token is for another audience")]
    WrongAudience,
    /// The header's `typ` says this is not an ID token (an access token, a logout token…).
    #[error("the token is not an ID token (typ {0:?})")]
    WrongType(String),
    /// Past `exp`.
    #[error("the ID token has expired")]
    Expired,
    /// Before `nbf`.
    #[error("the ID token is not yet valid")]
    NotYetValid,
    /// `iat` in the future.
    #[error("the ID token was issued in the future")]
    IssuedInFuture,
    /// `nonce` missing or different from the one this login started with.
    #[error("the ID token's nonce does not match this login")]
    NonceMismatch,
    /// A required claim is missing or of the wrong type.
    #[error("the ID token lacks a valid {0} claim")]
    MissingClaim(&'static str),
    /// The provider could not be reached or answered nonsense.
    #[error("the identity provider is unavailable: {0}")]
    ProviderUnavailable(String),
}

impl IdTokenError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "id_token_malformed",
            Self::AlgorithmNotAllowed(_) => "id_token_algorithm_not_allowed",
            Self::UnknownKey => "id_token_unknown_key",
            Self::KeyMismatch => "id_token_key_mismatch",
            Self::BadSignature => "id_token_bad_signature",
            Self::WrongIssuer => "id_token_wrong_issuer",
            Self::WrongAudience => "id_token_wrong_audience",
            Self::WrongType(_) => "id_token_wrong_type",
            Self::Expired => "id_token_expired",
            Self::NotYetValid => "id_token_not_yet_valid",
            Self::IssuedInFuture => "id_token_issued_in_future",
            Self::NonceMismatch => "id_token_nonce_mismatch",
            Self::MissingClaim(_) => "id_token_missing_claim",
            Self::ProviderUnavailable(_) => "identity_provider_unavailable",
        }
    }
}

/// OIDC Core 3.1.3.7: `azp`, when present, must be this client; with several audiences
/// it must be present.
pub(crate) fn check_azp(claims: &Map<String, Value>, client_id: &str) -> Result<(), IdTokenError> {
    let several = matches!(claims.get("aud"), Some(Value::Array(a)) if a.len() > 1);
    match claims.get("azp") {
        None if !several => Ok(()),
        Some(Value::String(azp)) if azp == client_id => Ok(()),
        _ => Err(IdTokenError::WrongAudience),
    }
}

/// An ID token's `typ` is absent or `JWT` (RFC 7515: compared case-insensitively, with or
/// without the `application/` prefix); `at+jwt`, `logout+jwt` and the like are refused.
pub(crate) fn check_typ(typ: Option<&str>) -> Result<(), IdTokenError> {
    match typ {
        None => Ok(()),
        Some(t) => {
            let bare = t.strip_prefix("application/").unwrap_or(t);
            if bare.eq_ignore_ascii_case("jwt") {
                Ok(())
            } else {
                Err(IdTokenError::WrongType(t.chars().take(40).collect()))
            }
        }
    }
}

/// What identifies one token whatever the bytes of its signature: see
/// [`crate::adapters::auth::oidc::VerifiedIdToken::replay_key`].
pub(crate) fn replay_key(claims: &Map<String, Value>) -> String {
    let mut aud: Vec<&str> = match claims.get("aud") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(a)) => vec![a.as_str()],
        _ => Vec::new(),
    };
    aud.sort_unstable();
    let said = |name: &str| claims.get(name).cloned().unwrap_or(Value::Null);
    let key = match claims.get("jti") {
        Some(jti) => serde_json::json!(["jti", said("iss"), said("sub"), aud, jti]),
        None => serde_json::json!([
            "iat",
            said("iss"),
            said("sub"),
            aud,
            said("iat"),
            said("exp"),
            said("nonce")
        ]),
    };
    crate::model::digest::sha256_hex(key.to_string().as_bytes())
}

/// The nonce a token carries (`claimed`) against the one this login was issued by the
/// broker (`expected`); the device flow has none, and then the token must carry none.
pub(crate) fn check_nonce(
    claimed: Option<&str>,
    expected: Option<&str>,
) -> Result<(), IdTokenError> {
    let Some(expected) = expected else {
        // A token minted for a browser login must come back through that login.
        return match claimed {
            None => Ok(()),
            Some(_) => Err(IdTokenError::NonceMismatch),
        };
    };
    let got = claimed.ok_or(IdTokenError::NonceMismatch)?;
    if !constant_time_eq(got.as_bytes(), expected.as_bytes()) {
        return Err(IdTokenError::NonceMismatch);
    }
    Ok(())
}

/// Compares without stopping at the first difference (the length is not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
