//! Plain types of the model, free of I/O: users, sessions, locks and the authenticated principal.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A human as the identity provider (or the development login) described them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The provider's issuer, or `dev` for the development login.
    pub issuer: String,
    /// The provider's stable subject identifier.
    pub subject: String,
    /// Verified email address, if the provider vouched for one.
    pub email: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Groups from the configured claim.
    pub groups: Vec<String>,
    /// When the human last authenticated at the provider (`auth_time`).
    pub auth_time: Option<DateTime<Utc>>,
}

impl Identity {
    /// The broker's user id: the subject, qualified by its issuer so two providers never collide.
    pub fn user_id(&self) -> String {
        format!("{}|{}", self.issuer, self.subject)
    }

    /// The identifiers a lock may name for this human: user id, subject and email.
    pub fn lock_identifiers(&self) -> Vec<String> {
        let mut ids = vec![self.user_id(), self.subject.clone()];
        if let Some(email) = &self.email {
            ids.push(email.to_lowercase());
        }
        ids
    }
}

/// A session the broker issued after a login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// Session id, the `jti` of the session token.
    pub id: String,
    /// The user it belongs to.
    pub user_id: String,
    /// Key that signed the token.
    pub kid: String,
    /// Created by the development login.
    pub dev: bool,
    /// Issued at.
    pub created_at: DateTime<Utc>,
    /// Expires at.
    pub expires_at: DateTime<Utc>,
    /// The provider's `auth_time`.
    pub auth_time: Option<DateTime<Utc>>,
    /// When it was ended early, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Client address at login.
    pub client_addr: Option<String>,
    /// Client user agent at login.
    pub user_agent: Option<String>,
}

/// Why a session is no longer usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Usable.
    Active,
    /// Past its expiry.
    Expired,
    /// Ended by logout or an administrator.
    Revoked,
    /// Its user is locked.
    Locked,
}

impl Session {
    /// The state of this session at `now`, given whether its user is locked.
    pub fn state(&self, now: DateTime<Utc>, user_locked: bool) -> SessionState {
        if user_locked {
            SessionState::Locked
        } else if self.revoked_at.is_some() {
            SessionState::Revoked
        } else if now >= self.expires_at {
            SessionState::Expired
        } else {
            SessionState::Active
        }
    }
}

/// An administrator's lock on a user: no logins, no sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Lock {
    /// The locked identifier: email (lower case), subject or user id.
    pub identifier: String,
    /// Why.
    pub reason: Option<String>,
    /// Who locked it (user id).
    pub locked_by: String,
    /// When.
    pub locked_at: DateTime<Utc>,
}

/// An authenticated caller of the API, from a verified, live session.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Principal {
    /// User id.
    pub user_id: String,
    /// Subject at the provider.
    pub subject: String,
    /// Verified email.
    pub email: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// Session id.
    pub session_id: String,
    /// Session expiry.
    pub expires_at: DateTime<Utc>,
    /// Whether the session came from the development login.
    pub dev: bool,
    /// The provider's `auth_time`.
    pub auth_time: Option<DateTime<Utc>>,
    /// The groups claim (`oidc.groups_claim`) the provider's ID token lacked at login:
    /// the session then holds no groups, whatever the provider knows of the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_claim_missing: Option<String>,
}

impl Principal {
    /// The name policy lines use for this principal: the verified email, else the user id.
    pub fn policy_name(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.user_id)
    }
}

/// Milliseconds since the epoch, as stored.
pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Back from stored milliseconds; out-of-range values clamp to the epoch.
pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Where a request came from, for the session record.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// Peer address.
    pub addr: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_outranks_revocation_and_expiry() {
        let now = Utc::now();
        let s = Session {
            id: "s".into(),
            user_id: "u".into(),
            kid: "k".into(),
            dev: false,
            created_at: now,
            expires_at: now + chrono::Duration::hours(1),
            auth_time: None,
            revoked_at: None,
            client_addr: None,
            user_agent: None,
        };
        assert_eq!(s.state(now, false), SessionState::Active);
        assert_eq!(
            s.state(now + chrono::Duration::hours(2), false),
            SessionState::Expired
        );
        assert_eq!(s.state(now, true), SessionState::Locked);
        let revoked = Session {
            revoked_at: Some(now),
            ..s
        };
        assert_eq!(revoked.state(now, false), SessionState::Revoked);
    }
}
