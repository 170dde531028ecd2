//! The registered JWT claims (RFC 7519 §4.1) of every token the broker signs: session
//! tokens, broker tokens and the gate's identity assertions embed this one type
//! (`#[serde(flatten)]`), so the wire form stays the flat JSON object it always was.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `iss`, `sub`, `aud`, `exp`, `nbf`, `iat` and `jti`; times in seconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredClaims {
    /// The broker's public URL.
    pub iss: String,
    /// The human's user id.
    pub sub: String,
    /// Who the token is for.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Not before.
    pub nbf: i64,
    /// Issued at.
    pub iat: i64,
    /// Unique id (a session token's is the session id).
    pub jti: String,
}

impl RegisteredClaims {
    /// Claims of a token `iss` signs at `now` for `sub` and `aud`, good until `expires_at`.
    pub fn new(
        iss: &str,
        sub: &str,
        aud: &str,
        jti: String,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self {
            iss: iss.to_string(),
            sub: sub.to_string(),
            aud: aud.to_string(),
            exp: expires_at.timestamp(),
            nbf: now.timestamp(),
            iat: now.timestamp(),
            jti,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Token {
        #[serde(flatten)]
        registered: RegisteredClaims,
        role: String,
    }

    #[test]
    fn embedded_claims_travel_as_one_flat_object() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let token = Token {
            registered: RegisteredClaims::new(
                "https://broker",
                "u1",
                "https://api",
                "j1".into(),
                now,
                now + chrono::Duration::minutes(5),
            ),
            role: "read".into(),
        };
        let wire = serde_json::to_value(&token).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({"iss": "https://broker", "sub": "u1", "aud": "https://api",
                "exp": 1_700_000_300, "nbf": 1_700_000_000, "iat": 1_700_000_000, "jti": "j1",
                "role": "read"})
        );
        assert_eq!(serde_json::from_value::<Token>(wire).unwrap(), token);
    }
}
