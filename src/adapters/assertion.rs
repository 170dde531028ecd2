//! The identity assertion the gate passes upstream in `X-Latchkey-Assertion`: a short-lived
//! JWT signed with the broker's keyring (EdDSA), for the resource's audience, naming the
//! human, their groups, the grant and the role. Upstreams verify it offline against
//! `/.well-known/jwks.json` with [`verify`]; its `typ` keeps it from being replayed to the
//! gate as a broker token.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::Header;
use serde::{Deserialize, Serialize};

use crate::adapters::auth::registered::RegisteredClaims;
use crate::adapters::keys::{KeyAlg, Keyring};
use crate::adapters::mint::MintError;
use crate::adapters::providers::token::{OfflineVerifier, VerifyError};
use crate::model::random::uuid_v4;

pub use crate::model::gate::assertion::{HEADER, HEADER_NAME, TYP};
/// How long an assertion lives (at most; never past the grant).
pub const LIFETIME: Duration = Duration::seconds(60);

/// Claims of an identity assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    /// `sub` is the human's user id, `aud` the resource's audience.
    #[serde(flatten)]
    pub registered: RegisteredClaims,
    /// The human's verified email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The human's groups at their last login.
    pub groups: Vec<String>,
    /// The grant (access request id) the request is made inside.
    pub grant: String,
    /// The resource.
    pub resource: String,
    /// The granted role.
    pub role: String,
}

/// Reads of `claims.sub`, `claims.jti`… reach the registered claims.
impl std::ops::Deref for AssertionClaims {
    type Target = RegisteredClaims;
    fn deref(&self) -> &RegisteredClaims {
        &self.registered
    }
}

/// Who is asserted, inside which grant.
pub struct Subject<'a> {
    /// User id.
    pub user_id: &'a str,
    /// Email.
    pub email: Option<&'a str>,
    /// Groups.
    pub groups: &'a [String],
    /// Grant id.
    pub grant: &'a str,
    /// Resource name.
    pub resource: &'a str,
    /// Role.
    pub role: &'a str,
    /// When the grant ends.
    pub grant_ends: DateTime<Utc>,
}

/// Signs an assertion for `audience`; returns it with its expiry.
pub fn mint(
    keyring: &Keyring,
    issuer: &str,
    audience: &str,
    who: &Subject<'_>,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), MintError> {
    let (kid, key) = keyring.active_for(KeyAlg::Ed25519);
    let mut header = Header::new(KeyAlg::Ed25519.jwt());
    header.kid = Some(kid);
    header.typ = Some(TYP.into());
    let expires_at = (now + LIFETIME).min(who.grant_ends);
    let claims = AssertionClaims {
        registered: RegisteredClaims::new(
            issuer,
            who.user_id,
            audience,
            uuid_v4()?.to_string(),
            now,
            expires_at,
        ),
        email: who.email.map(str::to_string),
        groups: who.groups.to_vec(),
        grant: who.grant.to_string(),
        resource: who.resource.to_string(),
        role: who.role.to_string(),
    };
    Ok((jsonwebtoken::encode(&header, &claims, &key)?, expires_at))
}

/// How an upstream verifies an assertion with the JWKS it fetched from the broker.
pub fn verify(
    jwks: &JwkSet,
    issuer: &str,
    audience: &str,
    token: &str,
) -> Result<AssertionClaims, VerifyError> {
    let typ = jsonwebtoken::decode_header(token)
        .map_err(|_| VerifyError::Malformed)?
        .typ;
    if typ.as_deref() != Some(TYP) {
        return Err(VerifyError::Malformed);
    }
    OfflineVerifier::new(jwks, issuer, audience).verify_claims(token)
}

/// Whether a token's header says it is an assertion (the gate refuses those as credentials).
pub fn is_assertion(token: &str) -> bool {
    jsonwebtoken::decode_header(token).is_ok_and(|h| h.typ.as_deref() == Some(TYP))
}
