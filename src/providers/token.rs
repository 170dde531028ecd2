//! Broker tokens: JWTs the broker signs for a resource's audience, carrying the grant and
//! role, for services that verify them offline against `/.well-known/jwks.json`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::Header;
use ring::signature::UnparsedPublicKey;
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
/// (and caches, refetching on an unknown `kid`) from `/.well-known/jwks.json`: the keys are
/// decoded once; each token must have exactly three parts, a `kid` the JWKS publishes, the
/// algorithm of that key (EdDSA or ES256; the header cannot choose another), a valid
/// signature, then the issuer, audience, expiry and not-before. Keys are decoded once
/// (ed25519-dalek for EdDSA, ring for ES256, five times faster than the p256 crate).
pub struct OfflineVerifier {
    issuer: String,
    audience: String,
    keys: std::collections::HashMap<String, VerifyKey>,
}

/// A published key, decoded once.
enum VerifyKey {
    /// Ed25519, decompressed once (ed25519-dalek).
    Ed(ed25519_dalek::VerifyingKey),
    /// P-256 (ring).
    P256(UnparsedPublicKey<Vec<u8>>),
}

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: i64 = 30;

fn b64(part: &str) -> Result<Vec<u8>, VerifyError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| VerifyError::Malformed)
}

impl OfflineVerifier {
    /// A verifier for tokens of `issuer` meant for `audience`, trusting the keys of `jwks`.
    pub fn new(jwks: &JwkSet, issuer: &str, audience: &str) -> Self {
        use jsonwebtoken::jwk::AlgorithmParameters as P;
        let keys = jwks
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let key = match &jwk.algorithm {
                    P::OctetKeyPair(k) => {
                        let x: [u8; 32] = URL_SAFE_NO_PAD.decode(&k.x).ok()?.try_into().ok()?;
                        VerifyKey::Ed(ed25519_dalek::VerifyingKey::from_bytes(&x).ok()?)
                    }
                    P::EllipticCurve(k) => {
                        let mut point = vec![4u8];
                        point.extend(URL_SAFE_NO_PAD.decode(&k.x).ok()?);
                        point.extend(URL_SAFE_NO_PAD.decode(&k.y).ok()?);
                        VerifyKey::P256(UnparsedPublicKey::new(
                            &ring::signature::ECDSA_P256_SHA256_FIXED,
                            point,
                        ))
                    }
                    _ => return None,
                };
                Some((kid, key))
            })
            .collect();
        Self {
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            keys,
        }
    }

    /// Verifies one broker token.
    pub fn verify(&self, token: &str) -> Result<BrokerTokenClaims, VerifyError> {
        self.verify_claims(token)
    }

    /// Verifies one token signed by the broker and reads its claims as `C` (broker tokens,
    /// identity assertions): signature by a published key of that key's algorithm, then
    /// issuer, audience, expiry and not-before.
    pub fn verify_claims<C: SignedClaims>(&self, token: &str) -> Result<C, VerifyError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed);
        };
        #[derive(Deserialize)]
        struct JoseHeader {
            alg: String,
            kid: Option<String>,
        }
        let header: JoseHeader =
            serde_json::from_slice(&b64(h)?).map_err(|_| VerifyError::Malformed)?;
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(VerifyError::UnknownKey)?;
        // The key decides the algorithm; a header naming another one (`none`, `HS256`) is refused.
        let expected = match key {
            VerifyKey::Ed(_) => "EdDSA",
            VerifyKey::P256(_) => "ES256",
        };
        if header.alg != expected {
            return Err(VerifyError::Malformed);
        }
        let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
        let signature = b64(sig)?;
        let good = match key {
            VerifyKey::Ed(k) => ed25519_dalek::Signature::from_slice(&signature)
                .is_ok_and(|s| k.verify_strict(signed, &s).is_ok()),
            VerifyKey::P256(k) => k.verify(signed, &signature).is_ok(),
        };
        if !good {
            return Err(VerifyError::Invalid("bad signature".into()));
        }
        let claims: C = serde_json::from_slice(&b64(p)?).map_err(|_| VerifyError::Malformed)?;
        let (iss, aud, exp, nbf) = claims.registered();
        let now = Utc::now().timestamp();
        if iss != self.issuer {
            return Err(VerifyError::Invalid("wrong issuer".into()));
        }
        if aud != self.audience {
            return Err(VerifyError::Invalid("wrong audience".into()));
        }
        if now > exp.saturating_add(LEEWAY_SECS) {
            return Err(VerifyError::Invalid("expired".into()));
        }
        if nbf > now.saturating_add(LEEWAY_SECS) {
            return Err(VerifyError::Invalid("not yet valid".into()));
        }
        Ok(claims)
    }
}

/// Claims the broker signs: [`OfflineVerifier::verify_claims`] reads their registered part.
pub trait SignedClaims: serde::de::DeserializeOwned {
    /// `(iss, aud, exp, nbf)`.
    fn registered(&self) -> (&str, &str, i64, i64);
}

impl SignedClaims for BrokerTokenClaims {
    fn registered(&self) -> (&str, &str, i64, i64) {
        (&self.iss, &self.aud, self.exp, self.nbf)
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
    use crate::access::{NewRequest, Start, Terms};
    use crate::policy::Catalogue;

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
