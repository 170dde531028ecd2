//! Broker tokens: JWTs the broker signs for a resource's audience, carrying the grant and
//! role, for services that verify them offline against `/.well-known/jwks.json`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::adapters::auth::registered::RegisteredClaims;
use crate::adapters::keys::{KeyAlg, Keyring};
use crate::adapters::mint::MintError;
use crate::model::access::AccessRequest;
use crate::model::policy::catalogue::TokenAlgorithm;
use crate::model::policy::Resource;
use crate::model::random::uuid_v4;

/// Claims of a broker token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerTokenClaims {
    /// `sub` is the human's user id, `aud` the resource's audience.
    #[serde(flatten)]
    pub registered: RegisteredClaims,
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

/// Reads of `claims.sub`, `claims.jti`… reach the registered claims.
impl std::ops::Deref for BrokerTokenClaims {
    type Target = RegisteredClaims;
    fn deref(&self) -> &RegisteredClaims {
        &self.registered
    }
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
) -> Result<(String, BrokerTokenClaims), MintError> {
    let alg = match resource.token_algorithm {
        TokenAlgorithm::EdDSA => KeyAlg::Ed25519,
        TokenAlgorithm::ES256 => KeyAlg::P256,
    };
    let (kid, key) = keyring.active_for(alg);
    let mut header = Header::new(alg.jwt());
    header.kid = Some(kid);
    header.typ = Some("JWT".into());
    let claims = BrokerTokenClaims {
        registered: RegisteredClaims::new(
            issuer,
            &grant.requester_id,
            &resource.audience,
            uuid_v4()?.to_string(),
            now,
            expires_at,
        ),
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
/// (and caches, refetching on an unknown `kid`) from `/.well-known/jwks.json`, through
/// `jsonwebtoken`: each token must have exactly three parts, a `kid` the JWKS publishes,
/// the algorithm of that key (EdDSA or ES256; the header cannot choose another), a valid
/// signature, then the issuer, audience, expiry and not-before. The keys are read from the
/// JWKS and the validation rules built once, not per token; ES256 is checked by ring
/// ([`crate::adapters::keys::jwt_crypto`]).
pub struct OfflineVerifier {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    /// The rules for each algorithm a published key can have.
    eddsa: Validation,
    es256: Validation,
}

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;

fn rules(alg: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut v = Validation::new(alg);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "nbf", "iss", "aud"]);
    v.validate_nbf = true;
    v.leeway = LEEWAY_SECS;
    v
}

impl OfflineVerifier {
    /// A verifier for tokens of `issuer` meant for `audience`, trusting the keys of `jwks`.
    pub fn new(jwks: &JwkSet, issuer: &str, audience: &str) -> Self {
        crate::adapters::keys::jwt_crypto::install();
        let keys = jwks
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let alg = match &jwk.algorithm {
                    AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
                    AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                        Algorithm::ES256
                    }
                    _ => return None,
                };
                Some((kid, (DecodingKey::from_jwk(jwk).ok()?, alg)))
            })
            .collect();
        Self {
            keys,
            eddsa: rules(Algorithm::EdDSA, issuer, audience),
            es256: rules(Algorithm::ES256, issuer, audience),
        }
    }

    /// Verifies one broker token.
    pub fn verify(&self, token: &str) -> Result<BrokerTokenClaims, VerifyError> {
        self.verify_claims(token)
    }

    /// Verifies one token signed by the broker and reads its claims as `C` (broker tokens,
    /// identity assertions): signature by a published key of that key's algorithm, then
    /// issuer, audience, expiry and not-before.
    pub fn verify_claims<C: serde::de::DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<C, VerifyError> {
        if token.split('.').count() != 3 {
            return Err(VerifyError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        let (key, alg) = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(VerifyError::UnknownKey)?;
        // The key decides the algorithm; a header naming another one (`none`, `HS256`) is refused.
        if header.alg != *alg {
            return Err(VerifyError::Malformed);
        }
        let rules = match alg {
            Algorithm::EdDSA => &self.eddsa,
            _ => &self.es256,
        };
        use jsonwebtoken::errors::ErrorKind as K;
        let invalid = |why: &str| VerifyError::Invalid(why.into());
        jsonwebtoken::decode::<C>(token, key, rules)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                K::InvalidSignature => invalid("bad signature"),
                K::InvalidIssuer => invalid("wrong issuer"),
                K::InvalidAudience => invalid("wrong audience"),
                K::ExpiredSignature => invalid("expired"),
                K::ImmatureSignature => invalid("not yet valid"),
                _ => VerifyError::Malformed,
            })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::access::{NewRequest, Start, Terms};
    use crate::model::policy::Catalogue;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn setup(algorithm: &str) -> (tempfile::TempDir, Keyring, Resource, AccessRequest) {
        let dir = tempfile::tempdir().unwrap();
        let keyring = Keyring::load_or_create(dir.path(), Utc::now()).unwrap();
        let catalogue = Catalogue::parse(&format!(
            "[[resource]]\nname = \"token:api\"\nkind = \"token\"\ndescription = \"api\"\naudience = \"https://api\"\ntoken_algorithm = \"{algorithm}\"\n[[resource.role]]\nname = \"read\"\ndefault_duration = \"1h\"\nmax_duration = \"1h\"\n"
        ))
        .unwrap();
        let resource = catalogue.resources["token:api"].clone();
        let d = std::time::Duration::from_secs(3600);
        let terms = Terms {
            approvals: 1,
            denials: 1,
            activation_window: d,
            max_duration: d,
            max_extensions: 0,
            extension: d,
        };
        let new = NewRequest {
            id: "g1".into(),
            requester_id: "u1".into(),
            requester_name: "bob@example.com".into(),
            resource: "token:api".into(),
            role: "read".into(),
            reason: None,
            ticket: None,
            duration: d,
            pending_timeout: d,
            terms,
        };
        let grant = AccessRequest::create(new, Start::AutoApproved, Utc::now());
        (dir, keyring, resource, grant)
    }

    fn jwks(k: &Keyring) -> JwkSet {
        serde_json::from_value(k.jwks(Utc::now())).unwrap()
    }

    #[test]
    fn the_offline_verifier_accepts_only_what_the_broker_signed_for_this_audience_and_time() {
        for alg in ["EdDSA", "ES256"] {
            let (_d, keys, resource, grant) = setup(alg);
            let now = Utc::now();
            let (token, claims) = mint(
                &keys,
                "https://broker",
                &resource,
                &grant,
                None,
                now,
                now + chrono::Duration::minutes(5),
            )
            .unwrap();
            let v = OfflineVerifier::new(&jwks(&keys), "https://broker", "https://api");
            assert_eq!(v.verify(&token), Ok(claims.clone()), "{alg}");
            let other_aud = OfflineVerifier::new(&jwks(&keys), "https://broker", "https://other");
            assert_eq!(
                other_aud.verify(&token),
                Err(VerifyError::Invalid("wrong audience".into()))
            );
            let other_iss = OfflineVerifier::new(&jwks(&keys), "https://evil", "https://api");
            assert_eq!(
                other_iss.verify(&token),
                Err(VerifyError::Invalid("wrong issuer".into()))
            );
            let parts: Vec<&str> = token.split('.').collect();
            // The header cannot pick the algorithm: none, HS256, or the other curve.
            for forged_alg in [
                "none",
                "HS256",
                if alg == "EdDSA" { "ES256" } else { "EdDSA" },
            ] {
                let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
                let h =
                    URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{forged_alg}","kid":"{kid}"}}"#));
                assert_eq!(
                    v.verify(&format!("{h}.{}.{}", parts[1], parts[2])),
                    Err(VerifyError::Malformed)
                );
            }
            let mut tampered = claims.clone();
            tampered.role = "admin".into();
            let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered).unwrap());
            assert_eq!(
                v.verify(&format!("{}.{p}.{}", parts[0], parts[2])),
                Err(VerifyError::Invalid("bad signature".into()))
            );
            assert_eq!(
                v.verify(&format!("{token}.extra")),
                Err(VerifyError::Malformed)
            );
            assert_eq!(v.verify("a.b"), Err(VerifyError::Malformed));
            let (old, _) = mint(
                &keys,
                "https://broker",
                &resource,
                &grant,
                None,
                now - chrono::Duration::hours(2),
                now - chrono::Duration::minutes(5),
            )
            .unwrap();
            assert_eq!(v.verify(&old), Err(VerifyError::Invalid("expired".into())));
            let (early, _) = mint(
                &keys,
                "https://broker",
                &resource,
                &grant,
                None,
                now + chrono::Duration::minutes(10),
                now + chrono::Duration::minutes(20),
            )
            .unwrap();
            assert_eq!(
                v.verify(&early),
                Err(VerifyError::Invalid("not yet valid".into()))
            );
        }
    }
}
