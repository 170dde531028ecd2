//! ID token verification against the OpenID Connect provider.
//!
//! The provider's keys come from [`super::jwks`]. Besides signature, issuer, audience and
//! times, a token must be an ID token (`typ` absent or `JWT`, so a JWT access token is not
//! taken for one) authorised for this client (`azp`, when present, is the client id).
//! What makes a token single-use is [`VerifiedIdToken::replay_key`], derived from what the
//! token says, never from its bytes: ECDSA signatures are malleable (`s` and `n − s` both
//! verify), so two spellings of one token must count as one.

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::AlgorithmParameters;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::claims::{check_azp, check_nonce, check_typ, replay_key};
use super::jwks::JwksCache;
use crate::config::OidcConfig;
use crate::domain::Identity;

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

/// Verifies ID tokens from one provider.
pub struct IdTokenVerifier {
    config: OidcConfig,
    jwks: JwksCache,
}

/// What a verified ID token says, and how to remember it as used.
#[derive(Debug, Clone)]
pub struct VerifiedIdToken {
    /// The human.
    pub identity: Identity,
    /// `exp` of the token.
    pub expires_at: DateTime<Utc>,
    /// Until when the token must be remembered as used: `exp` plus the clock skew the
    /// verifier tolerates, since it accepts the token until then.
    pub remember_until: DateTime<Utc>,
    /// The same for every spelling of one token: a hash of its issuer, subject, audience
    /// and `jti`, or without `jti` its `iat`, `exp` and `nonce`.
    pub replay_key: String,
}

impl IdTokenVerifier {
    /// A verifier for the configured provider.
    pub fn new(config: OidcConfig, http: reqwest::Client) -> Self {
        Self {
            jwks: JwksCache::new(config.issuer.clone(), http, config.jwks_min_refresh),
            config,
        }
    }

    /// The provider configuration.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Verifies `token`; `expected_nonce` is the nonce this login sent, when the flow has one.
    pub async fn verify(
        &self,
        token: &str,
        expected_nonce: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<VerifiedIdToken, IdTokenError> {
        let alg_name = super::peek_alg(token).ok_or(IdTokenError::Malformed)?;
        if !self.config.algorithms.contains(&alg_name) {
            // The caller chose this text: echo no more of it than a name needs.
            return Err(IdTokenError::AlgorithmNotAllowed(
                alg_name.chars().take(32).collect(),
            ));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| IdTokenError::Malformed)?;
        check_typ(header.typ.as_deref())?;
        let jwk = self.jwks.key_for(header.kid.as_deref()).await?;
        let key = decoding_key(&jwk, header.alg)?;
        let claims = self.validate(token, &key, header.alg, now)?;
        check_nonce(&claims, expected_nonce)?;
        identity(&self.config, &claims)
    }

    fn validate(
        &self,
        token: &str,
        key: &DecodingKey,
        alg: Algorithm,
        now: DateTime<Utc>,
    ) -> Result<Map<String, Value>, IdTokenError> {
        let skew = self.config.clock_skew.as_secs();
        let mut v = Validation::new(alg);
        v.set_issuer(&[&self.config.issuer]);
        v.set_audience(&[&self.config.client_id]);
        v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        v.leeway = skew;
        use jsonwebtoken::errors::ErrorKind as K;
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, key, &v).map_err(|e| {
                match e.kind() {
                    K::InvalidSignature => IdTokenError::BadSignature,
                    K::InvalidIssuer => IdTokenError::WrongIssuer,
                    K::InvalidAudience => IdTokenError::WrongAudience,
                    K::ExpiredSignature => IdTokenError::Expired,
                    K::ImmatureSignature => IdTokenError::NotYetValid,
                    K::InvalidAlgorithm
                    | K::InvalidKeyFormat
                    | K::InvalidEddsaKey
                    | K::InvalidRsaKey(_)
                    | K::InvalidEcdsaKey => IdTokenError::KeyMismatch,
                    K::MissingRequiredClaim(c) => IdTokenError::MissingClaim(match c.as_str() {
                        "exp" => "exp",
                        "iat" => "iat",
                        "iss" => "iss",
                        "aud" => "aud",
                        _ => "sub",
                    }),
                    _ => IdTokenError::Malformed,
                }
            })?;
        let claims = data.claims;
        let iat = claims
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or(IdTokenError::MissingClaim("iat"))?;
        if iat > now.timestamp() + skew as i64 {
            return Err(IdTokenError::IssuedInFuture);
        }
        check_azp(&claims, &self.config.client_id)?;
        Ok(claims)
    }
}

fn decoding_key(jwk: &jsonwebtoken::jwk::Jwk, alg: Algorithm) -> Result<DecodingKey, IdTokenError> {
    use Algorithm::*;
    let fits = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
        AlgorithmParameters::EllipticCurve(_) => matches!(alg, ES256 | ES384),
        // Guard the verifier's fixed-size read of `x`.
        AlgorithmParameters::OctetKeyPair(p) => {
            alg == EdDSA
                && base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &p.x)
                    .is_ok_and(|x| x.len() == 32)
        }
        _ => false,
    };
    let declared_other = jwk
        .common
        .key_algorithm
        .is_some_and(|ka| ka.to_string() != format!("{alg:?}"));
    if !fits || declared_other {
        return Err(IdTokenError::KeyMismatch);
    }
    DecodingKey::from_jwk(jwk).map_err(|_| IdTokenError::KeyMismatch)
}

fn identity(
    config: &OidcConfig,
    claims: &Map<String, Value>,
) -> Result<VerifiedIdToken, IdTokenError> {
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_string);
    let subject = str_claim("sub")
        .filter(|s| !s.is_empty())
        .ok_or(IdTokenError::MissingClaim("sub"))?;
    // An email counts only when the provider says it verified it.
    let email = match claims.get("email_verified") {
        Some(Value::Bool(true)) => str_claim("email").map(|e| e.to_lowercase()),
        _ => None,
    };
    let groups = match claims.get(&config.groups_claim) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    };
    let ts = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_i64)
            .and_then(|s| DateTime::from_timestamp(s, 0))
    };
    let expires_at = ts("exp").ok_or(IdTokenError::MissingClaim("exp"))?;
    Ok(VerifiedIdToken {
        identity: Identity {
            issuer: config.issuer.clone(),
            subject,
            email,
            name: str_claim("name"),
            groups,
            auth_time: ts("auth_time"),
        },
        expires_at,
        // The verifier accepts the token until `exp + skew`: it stays used at least as long.
        remember_until: chrono::Duration::from_std(config.clock_skew)
            .ok()
            .and_then(|skew| expires_at.checked_add_signed(skew))
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
        replay_key: replay_key(claims),
    })
}
