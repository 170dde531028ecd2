//! The broker's session tokens: EdDSA JWTs naming the session (`jti`), checked for
//! signature, issuer, audience and time, then looked up so logout and locks take effect at once.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::adapters::auth::registered::RegisteredClaims;
use crate::adapters::keys::Keyring;

/// The `aud` of session tokens: they are good for the broker's API and nothing else.
pub const SESSION_AUDIENCE: &str = "latchkey:session";
/// Clock skew allowed when checking the broker's own tokens.
const LEEWAY_SECS: u64 = 30;

/// Claims of a session token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionClaims {
    /// `sub` is the user id, `aud` always [`SESSION_AUDIENCE`], `jti` the session id.
    #[serde(flatten)]
    pub registered: RegisteredClaims,
    /// Email, when verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Groups at login.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Issued by the development login.
    #[serde(default)]
    pub dev: bool,
    /// The groups claim the provider's ID token lacked at login, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_claim_missing: Option<String>,
}

/// Reads of `claims.sub`, `claims.jti`… reach the registered claims.
impl std::ops::Deref for SessionClaims {
    type Target = RegisteredClaims;
    fn deref(&self) -> &RegisteredClaims {
        &self.registered
    }
}

/// Why a session token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionTokenError {
    /// Not a JWT, or not one of ours.
    #[error("the session token is malformed")]
    Malformed,
    /// Signed with an algorithm other than EdDSA.
    #[error("the session token's algorithm {0} is not accepted")]
    Algorithm(String),
    /// Signed by a key the broker does not (or no longer) trust.
    #[error("the session token was signed by an unknown or retired key")]
    UnknownKey,
    /// Bad signature, issuer or audience.
    #[error("the session token is invalid: {0}")]
    Invalid(&'static str),
    /// Past `exp`.
    #[error("the session has expired; run `latchkey login`")]
    Expired,
}

/// Signs a session token.
pub fn issue(
    keyring: &Keyring,
    claims: &SessionClaims,
) -> Result<(String, String), jsonwebtoken::errors::Error> {
    let (kid, key) = keyring.active();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.clone());
    header.typ = Some("JWT".into());
    Ok((jsonwebtoken::encode(&header, claims, &key)?, kid))
}

/// Verifies a session token's signature, issuer, audience, expiry and not-before.
pub fn verify(
    keyring: &Keyring,
    issuer: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<SessionClaims, SessionTokenError> {
    match crate::adapters::auth::peek_alg(token).as_deref() {
        Some("EdDSA") => {}
        Some(other) => return Err(SessionTokenError::Algorithm(other.to_string())),
        None => return Err(SessionTokenError::Malformed),
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| SessionTokenError::Malformed)?;
    let kid = header.kid.ok_or(SessionTokenError::Malformed)?;
    // Sessions are signed with Ed25519 keys only.
    let key = match keyring.decoding_key(&kid, now) {
        Some((key, crate::adapters::keys::KeyAlg::Ed25519)) => key,
        _ => return Err(SessionTokenError::UnknownKey),
    };
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[SESSION_AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECS;
    use jsonwebtoken::errors::ErrorKind as K;
    let data =
        jsonwebtoken::decode::<SessionClaims>(token, &key, &validation).map_err(|e| {
            match e.kind() {
                K::ExpiredSignature => SessionTokenError::Expired,
                K::InvalidIssuer => SessionTokenError::Invalid("wrong issuer"),
                K::InvalidAudience => SessionTokenError::Invalid("wrong audience"),
                K::ImmatureSignature => SessionTokenError::Invalid("not yet valid"),
                K::InvalidSignature => SessionTokenError::Invalid("bad signature"),
                _ => SessionTokenError::Malformed,
            }
        })?;
    // `exp` was checked with leeway; a session's end is exact.
    if data.claims.exp <= now.timestamp() {
        return Err(SessionTokenError::Expired);
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Keyring, SessionClaims, DateTime<Utc>) {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let ring = Keyring::load_or_create(dir.path(), now).unwrap();
        let claims = SessionClaims {
            registered: RegisteredClaims {
                iss: "https://broker".into(),
                sub: "idp|alice".into(),
                aud: SESSION_AUDIENCE.into(),
                exp: now.timestamp() + 3600,
                nbf: now.timestamp(),
                iat: now.timestamp(),
                jti: "s1".into(),
            },
            email: Some("alice@example.com".into()),
            groups: vec!["eng".into()],
            dev: false,
            groups_claim_missing: None,
        };
        (dir, ring, claims, now)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// Whatever a caller sends as a bearer token is refused cleanly, never a panic.
        #[test]
        fn arbitrary_bearer_strings_are_refused_without_panicking(token in "[A-Za-z0-9_=.-]{0,200}") {
            let (_d, ring, _claims, now) = setup();
            proptest::prop_assert!(verify(&ring, "https://broker", &token, now).is_err());
        }
    }

    #[test]
    fn a_session_token_round_trips() {
        let (_d, ring, claims, now) = setup();
        let (token, _) = issue(&ring, &claims).unwrap();
        assert_eq!(verify(&ring, "https://broker", &token, now), Ok(claims));
    }

    #[test]
    fn wrong_issuer_audience_and_expiry_are_refused() {
        let (_d, ring, claims, now) = setup();
        let (token, _) = issue(&ring, &claims).unwrap();
        assert!(matches!(
            verify(&ring, "https://other", &token, now),
            Err(SessionTokenError::Invalid(_))
        ));
        let (t, _) = issue(
            &ring,
            &SessionClaims {
                registered: RegisteredClaims {
                    aud: "latchkey:token".into(),
                    ..claims.registered.clone()
                },
                ..claims.clone()
            },
        )
        .unwrap();
        assert_eq!(
            verify(&ring, "https://broker", &t, now),
            Err(SessionTokenError::Invalid("wrong audience"))
        );
        let (t, _) = issue(
            &ring,
            &SessionClaims {
                registered: RegisteredClaims {
                    exp: now.timestamp() - 1,
                    ..claims.registered.clone()
                },
                ..claims
            },
        )
        .unwrap();
        assert_eq!(
            verify(&ring, "https://broker", &t, now),
            Err(SessionTokenError::Expired)
        );
    }

    #[test]
    fn tampered_and_unsigned_tokens_are_refused() {
        let (_d, ring, claims, now) = setup();
        let (token, _) = issue(&ring, &claims).unwrap();
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        let forged = SessionClaims {
            groups: vec!["admin".into()],
            ..claims
        };
        parts[1] = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            serde_json::to_vec(&forged).unwrap(),
        );
        let tampered = parts.join(".");
        assert_eq!(
            verify(&ring, "https://broker", &tampered, now),
            Err(SessionTokenError::Invalid("bad signature"))
        );
        let none_header = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"alg":"none"}"#,
        );
        let unsigned = format!("{none_header}.{}.", parts[1]);
        assert_eq!(
            verify(&ring, "https://broker", &unsigned, now),
            Err(SessionTokenError::Algorithm("none".into()))
        );
    }
}
