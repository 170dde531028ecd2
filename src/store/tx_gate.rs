//! [`Tx`] operations of the gate: what the revocation poll and the admission check read.

use super::{StoreError, Tx};
use crate::access::AccessRequest;

/// A user as the gate passes them upstream.
#[derive(Debug, Clone)]
pub struct UserProfile {
    /// Subject at the provider.
    pub subject: String,
    /// Verified email.
    pub email: Option<String>,
    /// Groups at the last login.
    pub groups: Vec<String>,
}

impl Tx {
    /// `(id, state, expires_at ms)` of each of these grants that exists.
    pub async fn grant_states(
        &mut self,
        ids: &[String],
    ) -> Result<Vec<(String, String, Option<i64>)>, StoreError> {
        dispatch!(self, grant_states(ids))
    }

    /// `(id, revoked_at ms, expires_at ms)` of each of these sessions that exists.
    pub async fn session_states(
        &mut self,
        ids: &[String],
    ) -> Result<Vec<(String, Option<i64>, i64)>, StoreError> {
        dispatch!(self, session_states(ids))
    }

    /// Every identifier a lock names (email, subject or user id).
    pub async fn lock_identifiers(&mut self) -> Result<Vec<String>, StoreError> {
        dispatch!(self, lock_identifiers())
    }

    /// A user's subject, email and groups.
    pub async fn user_profile(&mut self, user_id: &str) -> Result<Option<UserProfile>, StoreError> {
        let row = dispatch!(self, user_profile(user_id))?;
        row.map(|(subject, email, groups)| {
            Ok(UserProfile {
                subject,
                email,
                groups: serde_json::from_str(&groups)
                    .map_err(|e| StoreError::Corrupt(format!("users.groups_json: {e}")))?,
            })
        })
        .transpose()
    }

    /// The grant a credential of `kind` with this id was issued inside.
    pub async fn issuance_grant(
        &mut self,
        id: &str,
        kind: &str,
    ) -> Result<Option<String>, StoreError> {
        dispatch!(self, issuance_grant(id, kind))
    }

    /// The requester's most recently activated grant on `resource`, whatever its state.
    pub async fn latest_grant(
        &mut self,
        requester_id: &str,
        resource: &str,
    ) -> Result<Option<AccessRequest>, StoreError> {
        dispatch!(self, latest_grant(requester_id, resource))
    }
}
