//! ID token verification against the OpenID Connect provider.
//!
//! The provider's keys come from [`crate::adapters::auth::jwks`]; signature, algorithm allow-list, issuer,
//! audience, `azp`, expiry, `iat` and the nonce are checked by the `openidconnect` crate's
//! verifier, `nbf` here. Besides, a token must be an ID token (`typ` absent or `JWT`, so a JWT access token is not
//! taken for one) authorised for this client (`azp`, when present, is the client id).
//! What makes a token single-use is [`VerifiedIdToken::replay_key`], derived from what the
//! token says, never from its bytes: ECDSA signatures are malleable (`s` and `n − s` both
//! verify), so two spellings of one token must count as one.

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
};
use openidconnect::{ClientId, IssuerUrl, Nonce};
use serde_json::{Map, Value};

use crate::adapters::auth::jwks::JwksCache;
use crate::config::OidcConfig;
pub use crate::model::auth::claims::IdTokenError;
use crate::model::auth::claims::{check_azp, check_nonce, check_typ, replay_key};
use crate::model::domain::Identity;

/// Verifies ID tokens from one provider.
pub struct IdTokenVerifier {
    config: OidcConfig,
    /// `config.algorithms`, as the crate names them.
    algorithms: Vec<CoreJwsSigningAlgorithm>,
    jwks: JwksCache,
}

/// What the `iat` check says when it refuses; the crate reports it as an expiry.
const ISSUED_IN_FUTURE: &str = "issued in the future";

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
    /// The token carries no `oidc.groups_claim` (or not as a list or a comma-separated
    /// string): the person then has no groups, which the login warns of.
    pub groups_claim_missing: bool,
}

impl IdTokenVerifier {
    /// A verifier for the configured provider.
    pub fn new(config: OidcConfig, http: reqwest::Client) -> Self {
        // The configuration is validated against the names the crate knows.
        let algorithms = config
            .algorithms
            .iter()
            .filter_map(|a| serde_json::from_value(Value::String(a.clone())).ok())
            .collect();
        Self {
            jwks: JwksCache::new(
                config.issuer.clone(),
                config.client_id.clone(),
                http,
                config.jwks_min_refresh,
            ),
            algorithms,
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
        let alg_name = crate::adapters::auth::peek_alg(token).ok_or(IdTokenError::Malformed)?;
        if !self.config.algorithms.contains(&alg_name) {
            // The caller chose this text: echo no more of it than a name needs.
            return Err(IdTokenError::AlgorithmNotAllowed(
                alg_name.chars().take(32).collect(),
            ));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| IdTokenError::Malformed)?;
        check_typ(header.typ.as_deref())?;
        let claims = unverified_claims(token)?;
        check_claims_present(&claims)?;
        check_azp(&claims, &self.config.client_id)?;
        let key = self.jwks.key_for(header.kid.as_deref()).await?;
        self.validate(token, key, expected_nonce, now, &alg_name)?;
        // The signature covers these very bytes: what they say is now the provider's word.
        check_nbf(&claims, now, self.config.clock_skew.as_secs())?;
        identity(&self.config, &claims)
    }

    /// The crate's ID token checks: signature by `key` with an allowed algorithm, issuer,
    /// audience and `azp`, expiry and `iat` with the clock skew, and the broker's nonce.
    fn validate(
        &self,
        token: &str,
        key: CoreJsonWebKey,
        expected_nonce: Option<&str>,
        now: DateTime<Utc>,
        alg_name: &str,
    ) -> Result<(), IdTokenError> {
        let skew = i64::try_from(self.config.clock_skew.as_secs()).unwrap_or(i64::MAX);
        let now_s = now.timestamp();
        // The crate refuses once `time >= exp`; a token is good while `now - skew <= exp`
        // (whole seconds, as before), hence one second less.
        let time = DateTime::from_timestamp(now_s.saturating_sub(skew).saturating_sub(1), 0)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new(self.config.client_id.clone()),
            IssuerUrl::new(self.config.issuer.clone()).map_err(|_| IdTokenError::WrongIssuer)?,
            CoreJsonWebKeySet::new(vec![key]),
        )
        .set_allowed_algs(self.algorithms.iter().cloned())
        // Other audiences are fine when `azp` names this client (the crate requires it then).
        .set_other_audience_verifier_fn(|_| true)
        .set_time_fn(move || time)
        .set_issue_time_verifier_fn(move |iat| {
            if iat.timestamp() > now_s.saturating_add(skew) {
                Err(ISSUED_IN_FUTURE.to_string())
            } else {
                Ok(())
            }
        });
        let id_token: CoreIdToken = token.parse().map_err(|_| IdTokenError::Malformed)?;
        // The nonce is the broker's: without one (device flow) the token must carry none.
        let nonce = |claimed: Option<&Nonce>| {
            check_nonce(claimed.map(|n| n.secret().as_str()), expected_nonce)
                .map_err(|e| e.to_string())
        };
        use openidconnect::{ClaimsVerificationError as C, SignatureVerificationError as S};
        match id_token.claims(&verifier, nonce) {
            Ok(_) => Ok(()),
            Err(e) => Err(match e {
                C::InvalidIssuer(_) => IdTokenError::WrongIssuer,
                C::InvalidAudience(_) => IdTokenError::WrongAudience,
                C::Expired(why) if why == ISSUED_IN_FUTURE => IdTokenError::IssuedInFuture,
                C::Expired(_) => IdTokenError::Expired,
                C::InvalidNonce(_) => IdTokenError::NonceMismatch,
                C::SignatureVerification(S::CryptoError(_)) => IdTokenError::BadSignature,
                C::SignatureVerification(S::DisallowedAlg(_) | S::UnsupportedAlg(_)) => {
                    IdTokenError::AlgorithmNotAllowed(alg_name.chars().take(32).collect())
                }
                C::SignatureVerification(
                    S::NoMatchingKey | S::InvalidKey(_) | S::AmbiguousKeyId(_),
                ) => IdTokenError::KeyMismatch,
                _ => IdTokenError::Malformed,
            }),
        }
    }
}

/// The payload of a compact JWS, read before anything vouches for it: only to say which
/// rule a token breaks, and (after [`IdTokenVerifier::validate`]) what it says.
pub(crate) fn unverified_claims(token: &str) -> Result<Map<String, Value>, IdTokenError> {
    use base64::Engine;
    let payload = token.split('.').nth(1).ok_or(IdTokenError::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| IdTokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| IdTokenError::Malformed)
}

/// The claims every ID token must carry, named when missing.
fn check_claims_present(claims: &Map<String, Value>) -> Result<(), IdTokenError> {
    for name in ["exp", "iat", "iss", "aud", "sub"] {
        if !claims.contains_key(name) {
            return Err(IdTokenError::MissingClaim(name));
        }
    }
    Ok(())
}

/// `nbf`, when present, with the clock skew (the crate does not read it).
fn check_nbf(
    claims: &Map<String, Value>,
    now: DateTime<Utc>,
    skew: u64,
) -> Result<(), IdTokenError> {
    let Some(nbf) = claims.get("nbf") else {
        return Ok(());
    };
    let nbf = nbf.as_i64().ok_or(IdTokenError::Malformed)?;
    let skew = i64::try_from(skew).unwrap_or(i64::MAX);
    if nbf > now.timestamp().saturating_add(skew) {
        return Err(IdTokenError::NotYetValid);
    }
    Ok(())
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
    let groups_claim_missing = !matches!(
        claims.get(&config.groups_claim),
        Some(Value::Array(_) | Value::String(_))
    );
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
        groups_claim_missing,
    })
}
