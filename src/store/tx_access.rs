//! [`Tx`] operations on access requests, reviews and the audit log.

use chrono::{DateTime, Utc};

use super::{StoreError, Tx};
use crate::access::{AccessRequest, Review, State};

/// A credential issued inside a grant, as stored: never the secret.
#[derive(Debug, Clone)]
pub struct Issuance {
    /// Id.
    pub id: String,
    /// The grant.
    pub request_id: String,
    /// Provider kind.
    pub kind: &'static str,
    /// SHA-256 of the secret, hex, shortened.
    pub fingerprint: String,
    /// When.
    pub issued_at: DateTime<Utc>,
    /// Until.
    pub expires_at: DateTime<Utc>,
}

impl Tx {
    /// Stores a new request, with the requester's idempotency key if given.
    pub async fn insert_request(
        &mut self,
        r: &AccessRequest,
        key: Option<&str>,
    ) -> Result<(), StoreError> {
        dispatch!(self, insert_request(r, key))
    }

    /// The request this requester made with this idempotency key.
    pub async fn request_by_key(
        &mut self,
        requester_id: &str,
        key: &str,
    ) -> Result<Option<AccessRequest>, StoreError> {
        dispatch!(self, request_by_key(requester_id, key))
    }

    /// A request by id.
    pub async fn request(&mut self, id: &str) -> Result<Option<AccessRequest>, StoreError> {
        dispatch!(self, request(id))
    }

    /// Writes a changed request if its `version` is still the stored one; false if someone
    /// else changed it first (the caller retries from a fresh read).
    pub async fn update_request(&mut self, r: &AccessRequest) -> Result<bool, StoreError> {
        dispatch!(self, update_request(r))
    }

    /// Records a review; false if this reviewer already reviewed this request.
    pub async fn insert_review(
        &mut self,
        request_id: &str,
        r: &Review,
    ) -> Result<bool, StoreError> {
        dispatch!(self, insert_review(request_id, r))
    }

    /// A request's reviews, oldest first.
    pub async fn reviews(&mut self, request_id: &str) -> Result<Vec<Review>, StoreError> {
        dispatch!(self, reviews(request_id))
    }

    /// Requests, newest first, optionally of one requester and in some states.
    pub async fn list_requests(
        &mut self,
        requester_id: Option<&str>,
        states: &[State],
        limit: i64,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        dispatch!(self, list_requests(requester_id, states, limit))
    }

    /// Requests whose clock has run out at `now`.
    pub async fn due_requests(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        dispatch!(self, due_requests(now, limit))
    }

    /// The requester's live grant on `resource` that lasts longest, if any.
    pub async fn active_grant(
        &mut self,
        requester_id: &str,
        resource: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<AccessRequest>, StoreError> {
        dispatch!(self, active_grant(requester_id, resource, now))
    }

    /// Records a credential issued inside grant `request_id` (fingerprint only).
    pub async fn insert_issuance(&mut self, i: &Issuance) -> Result<(), StoreError> {
        dispatch!(
            self,
            insert_issuance(
                &i.id,
                &i.request_id,
                i.kind,
                &i.fingerprint,
                i.issued_at,
                i.expires_at
            )
        )
    }
}
