//! Tokens for PostHog's live events service: HS256 with that service's own secret (never
//! the broker's keys), `aud` the single string `posthog:livestream`, the integer `team_id`
//! the granted role names (`team:2`), the project's `api_token` the service filters
//! events on, `user_id` and `organization_id` where configured, and a short `exp`. The
//! `jti` names the issuance, so the service's authorization callback can be traced back
//! to the grant.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::adapters::mint::MintError;
use crate::model::random::uuid_v4;

pub use crate::config::providers::{LivestreamSettings, DEFAULT_TTL, MAX_TTL};
pub use crate::model::policy::upstream::team_of_role;

/// The `aud` the live events service requires, exactly (a string, not an array).
pub const AUDIENCE: &str = "posthog:livestream";

/// Claims of a livestream token, as the service reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LivestreamClaims {
    /// Always [`AUDIENCE`].
    pub aud: String,
    /// The PostHog team (project) id, a non-zero integer.
    pub team_id: i64,
    /// The project API token.
    pub api_token: String,
    /// The PostHog user id, where configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// The PostHog organization id, where configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// Expiry (seconds).
    pub exp: i64,
    /// Issued at (seconds).
    pub iat: i64,
    /// The issuance id.
    pub jti: String,
}

/// Signs a token for `team_id`, valid until `expires_at`.
pub fn mint(
    settings: &LivestreamSettings,
    team_id: i64,
    email: Option<&str>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(String, LivestreamClaims), MintError> {
    let claims = LivestreamClaims {
        aud: AUDIENCE.to_string(),
        team_id,
        api_token: settings.api_token.clone(),
        user_id: email.and_then(|e| settings.user_ids.get(&e.to_lowercase()).copied()),
        organization_id: settings.organization_id.clone(),
        exp: expires_at.timestamp(),
        iat: now.timestamp(),
        jti: uuid_v4()?.to_string(),
    };
    let key = EncodingKey::from_secret(settings.secret.expose().as_bytes());
    let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)?;
    Ok((token, claims))
}

/// Verifies a livestream token as the authorization callback receives it: HS256 only,
/// the service's secret, `aud` exactly [`AUDIENCE`], not expired.
pub fn verify(settings: &LivestreamSettings, token: &str) -> Option<LivestreamClaims> {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&[AUDIENCE]);
    v.set_required_spec_claims(&["exp", "aud"]);
    v.leeway = 5;
    let key = DecodingKey::from_secret(settings.secret.expose().as_bytes());
    let claims = jsonwebtoken::decode::<LivestreamClaims>(token, &key, &v)
        .ok()?
        .claims;
    (claims.aud == AUDIENCE && claims.team_id > 0).then_some(claims)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::secret::Secret;

    fn settings(secret: &str) -> LivestreamSettings {
        LivestreamSettings {
            secret: Secret::new(secret),
            api_token: "phc_project".into(),
            organization_id: None,
            user_ids: BTreeMap::new(),
            token_ttl: DEFAULT_TTL,
        }
    }

    #[test]
    fn roles_name_teams_only_as_team_and_a_positive_integer() {
        assert_eq!(team_of_role("team:2"), Some(2));
        assert_eq!(team_of_role("team:0"), None);
        assert_eq!(team_of_role("team:-1"), None);
        assert_eq!(team_of_role("team:two"), None);
        assert_eq!(team_of_role("admin"), None);
    }

    #[test]
    fn a_token_verifies_only_with_its_secret_its_audience_and_hs256() {
        let s = settings("livestream-secret");
        let now = Utc::now();
        let (token, claims) = mint(&s, 2, None, now, now + chrono::Duration::minutes(5)).unwrap();
        assert_eq!(verify(&s, &token), Some(claims.clone()));
        assert_eq!(verify(&settings("another-secret"), &token), None);
        let (old, _) = mint(
            &s,
            2,
            None,
            now - chrono::Duration::hours(1),
            now - chrono::Duration::minutes(5),
        )
        .unwrap();
        assert_eq!(verify(&s, &old), None);
        let key = EncodingKey::from_secret(b"livestream-secret");
        let mut wrong_aud = claims.clone();
        wrong_aud.aud = "posthog:other".into();
        let t = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &wrong_aud, &key).unwrap();
        assert_eq!(verify(&s, &t), None);
        let t = jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims, &key).unwrap();
        assert_eq!(verify(&s, &t), None, "only HS256");
    }
}
