//! Broker tokens: JWTs the broker signs for a resource's audience, carrying the grant and
//! role, for services that verify them offline against `/.well-known/jwks.json`.

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::access::AccessRequest;
use crate::keys::{KeyAlg, Keyring};
use crate::policy::catalogue::TokenAlgorithm;
use crate::policy::Resource;

/// Claims of a broker token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerTokenClaims {
    /// The broker's public URL.
    pub iss: String,
    /// The human's user id.
    pub sub: String,
    /// The resource's audience.
    pub aud: String,
    /// Expiry (seconds).
    pub exp: i64,
    /// Not before (seconds).
    pub nbf: i64,
    /// Issued at (seconds).
    pub iat: i64,
    /// Unique id.
    pub jti: String,
    /// The grant (access request id) it was issued inside.
    pub grant: String,
    /// The resource.
    pub resource: String,
    /// The granted role.
    pub role: String,
    /// The human's email, when verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// Signs a token for `resource` inside `grant`, valid from `now` until `expires_at`.
pub fn mint(
    keyring: &Keyring,
    issuer: &str,
    resource: &Resource,
    grant: &AccessRequest,
    email: Option<String>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(String, BrokerTokenClaims), jsonwebtoken::errors::Error> {
    let alg = match resource.token_algorithm {
        TokenAlgorithm::EdDSA => KeyAlg::Ed25519,
        TokenAlgorithm::ES256 => KeyAlg::P256,
    };
    let (kid, key) = keyring.active_for(alg);
    let mut header = Header::new(alg.jwt());
    header.kid = Some(kid);
    header.typ = Some("JWT".into());
    let claims = BrokerTokenClaims {
        iss: issuer.to_string(),
        sub: grant.requester_id.clone(),
        aud: resource.audience.clone(),
        exp: expires_at.timestamp(),
        nbf: now.timestamp(),
        iat: now.timestamp(),
        jti: uuid::Uuid::new_v4().to_string(),
        grant: grant.id.clone(),
        resource: resource.name.clone(),
        role: grant.role.clone(),
        email,
    };
    Ok((jsonwebtoken::encode(&header, &claims, &key)?, claims))
}

/// Why a broker token was refused by [`verify_offline`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// Not a JWT, or an algorithm other than EdDSA and ES256.
    #[error("malformed or unsupported token")]
    Malformed,
    /// No published key has this `kid`.
    #[error("signed by a key the JWKS does not publish")]
    UnknownKey,
    /// Signature, issuer, audience or time.
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// How a downstream service verifies broker tokens with nothing but the JWKS it fetched
/// (and caches, refetching on an unknown `kid`) from `/.well-known/jwks.json`: the keys
/// are decoded once, each token is checked for signature, issuer, audience and time.
pub struct OfflineVerifier {
    issuer: String,
    audience: String,
    keys: std::collections::HashMap<String, (DecodingKey, Algorithm)>,
}

impl OfflineVerifier {
    /// A verifier for tokens of `issuer` meant for `audience`, trusting the keys of `jwks`.
    pub fn new(jwks: &JwkSet, issuer: &str, audience: &str) -> Self {
        let keys = jwks
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let alg = match &jwk.algorithm {
                    jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
                    jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                    _ => return None,
                };
                Some((kid, (DecodingKey::from_jwk(jwk).ok()?, alg)))
            })
            .collect();
        Self {
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            keys,
        }
    }

    /// Verifies one token.
    pub fn verify(&self, token: &str) -> Result<BrokerTokenClaims, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        let (key, alg) = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(VerifyError::UnknownKey)?;
        // The key decides the algorithm; a header naming another one is refused.
        if header.alg != *alg {
            return Err(VerifyError::Malformed);
        }
        let mut v = Validation::new(*alg);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        v.leeway = 30;
        jsonwebtoken::decode::<BrokerTokenClaims>(token, key, &v)
            .map(|d| d.claims)
            .map_err(|e| VerifyError::Invalid(e.to_string()))
    }
}

/// One-shot [`OfflineVerifier`]: decodes the JWKS, then verifies `token`.
pub fn verify_offline(
    jwks: &JwkSet,
    issuer: &str,
    audience: &str,
    token: &str,
) -> Result<BrokerTokenClaims, VerifyError> {
    OfflineVerifier::new(jwks, issuer, audience).verify(token)
}
