//! Access requests (a grant once approved) and their reviews.

use chrono::{DateTime, Utc};

use crate::model::access::{AccessRequest, RequestFilter, State};
use crate::model::domain::{from_ms, to_ms};
use crate::model::policy::permit::{Permit, RequestAccess};
use crate::model::policy::subject::object;
use crate::store::error::StoreError;
use crate::store::permitted::permitted;
use crate::store::statement::sql;
use crate::store::tx::Tx;

#[derive(sqlx::FromRow)]
pub(super) struct RequestRow {
    id: String,
    requester_id: String,
    requester_name: String,
    resource: String,
    role: String,
    reason: Option<String>,
    ticket: Option<String>,
    duration_s: i64,
    state: String,
    terms_json: String,
    created_at: i64,
    pending_until: i64,
    decided_at: Option<i64>,
    activation_deadline: Option<i64>,
    activated_at: Option<i64>,
    expires_at: Option<i64>,
    ended_at: Option<i64>,
    end_reason: Option<String>,
    extensions_used: i64,
    auto_approved: bool,
    breakglass: bool,
    version: i64,
}

/// The columns of [`RequestRow`], for SELECTs.
pub(super) const REQUEST_COLUMNS: &str = "id, requester_id, requester_name, resource, role, reason, ticket, duration_s, state, terms_json, \
     created_at, pending_until, decided_at, activation_deadline, activated_at, expires_at, ended_at, end_reason, \
     extensions_used, auto_approved, breakglass, version";

impl TryFrom<RequestRow> for AccessRequest {
    type Error = StoreError;
    fn try_from(r: RequestRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("access_requests {}: {what}", r.id));
        Ok(AccessRequest {
            state: State::parse(&r.state).ok_or_else(|| corrupt("state"))?,
            terms: serde_json::from_str(&r.terms_json).map_err(|_| corrupt("terms_json"))?,
            duration: std::time::Duration::from_secs(
                u64::try_from(r.duration_s).map_err(|_| corrupt("duration"))?,
            ),
            extensions_used: u32::try_from(r.extensions_used)
                .map_err(|_| corrupt("extensions_used"))?,
            id: r.id,
            requester_id: r.requester_id,
            requester_name: r.requester_name,
            resource: r.resource,
            role: r.role,
            reason: r.reason,
            ticket: r.ticket,
            created_at: from_ms(r.created_at),
            pending_until: from_ms(r.pending_until),
            decided_at: r.decided_at.map(from_ms),
            activation_deadline: r.activation_deadline.map(from_ms),
            activated_at: r.activated_at.map(from_ms),
            expires_at: r.expires_at.map(from_ms),
            ended_at: r.ended_at.map(from_ms),
            end_reason: r.end_reason,
            auto_approved: r.auto_approved,
            breakglass: r.breakglass,
            version: r.version,
        })
    }
}

impl Tx {
    /// Stores a new request, with the requester's idempotency key if given.
    pub async fn insert_request(
        &mut self,
        permit: &Permit<RequestAccess>,
        r: &AccessRequest,
        key: Option<&str>,
    ) -> Result<(), StoreError> {
        permitted(permit, &r.requester_id, &object(&r.resource, &r.role))?;
        let terms =
            serde_json::to_string(&r.terms).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sql("INSERT INTO access_requests (id, requester_id, requester_name, resource, role, reason, ticket, duration_s,
                state, terms_json, created_at, pending_until, decided_at, activation_deadline, activated_at, expires_at,
                ended_at, end_reason, extensions_used, auto_approved, breakglass, version, idempotency_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)")
        .bind(&r.id)
        .bind(&r.requester_id)
        .bind(&r.requester_name)
        .bind(&r.resource)
        .bind(&r.role)
        .bind(&r.reason)
        .bind(&r.ticket)
        .bind(r.duration.as_secs() as i64)
        .bind(r.state.as_str())
        .bind(terms)
        .bind(to_ms(r.created_at))
        .bind(to_ms(r.pending_until))
        .bind(r.decided_at.map(to_ms))
        .bind(r.activation_deadline.map(to_ms))
        .bind(r.activated_at.map(to_ms))
        .bind(r.expires_at.map(to_ms))
        .bind(r.ended_at.map(to_ms))
        .bind(&r.end_reason)
        .bind(i64::from(r.extensions_used))
        .bind(r.auto_approved)
        .bind(r.breakglass)
        .bind(r.version)
        .bind(key)
        .execute(self)
        .await?;
        Ok(())
    }

    /// The request this requester made with this idempotency key.
    pub async fn request_by_key(
        &mut self,
        requester_id: &str,
        key: &str,
    ) -> Result<Option<AccessRequest>, StoreError> {
        let row: Option<RequestRow> = sql(format!(
            "SELECT {REQUEST_COLUMNS} FROM access_requests WHERE requester_id = $1 AND idempotency_key = $2"
        ))
        .bind(requester_id)
        .bind(key)
        .fetch_optional(self)
        .await?;
        row.map(AccessRequest::try_from).transpose()
    }

    /// A request by id.
    pub async fn request(&mut self, id: &str) -> Result<Option<AccessRequest>, StoreError> {
        let row: Option<RequestRow> = sql(format!(
            "SELECT {REQUEST_COLUMNS} FROM access_requests WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self)
        .await?;
        row.map(AccessRequest::try_from).transpose()
    }

    /// Writes a changed request if its `version` is still the stored one; false if someone
    /// else changed it first (the caller retries from a fresh read).
    pub async fn update_request(&mut self, r: &AccessRequest) -> Result<bool, StoreError> {
        let changed = sql("UPDATE access_requests SET state = $2, decided_at = $3, activation_deadline = $4, activated_at = $5,
                expires_at = $6, ended_at = $7, end_reason = $8, extensions_used = $9, version = version + 1
             WHERE id = $1 AND version = $10")
        .bind(&r.id)
        .bind(r.state.as_str())
        .bind(r.decided_at.map(to_ms))
        .bind(r.activation_deadline.map(to_ms))
        .bind(r.activated_at.map(to_ms))
        .bind(r.expires_at.map(to_ms))
        .bind(r.ended_at.map(to_ms))
        .bind(&r.end_reason)
        .bind(i64::from(r.extensions_used))
        .bind(r.version)
        .execute(self)
        .await?;
        Ok(changed == 1)
    }

    /// Requests, newest first, optionally of one requester and in some states.
    pub async fn list_requests(
        &mut self,
        requester_id: Option<&str>,
        states: &[State],
        limit: i64,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        let names: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
        let rows: Vec<RequestRow> = sql(format!(
            "SELECT {REQUEST_COLUMNS} FROM access_requests
             WHERE ($1 IS NULL OR requester_id = $1) AND ($2 = '' OR (',' || $2 || ',') LIKE ('%,' || state || ',%'))
             ORDER BY created_at DESC LIMIT $3"
        ))
        .bind(requester_id)
        .bind(names.join(","))
        .bind(limit)
        .fetch_all(self)
        .await?;
        rows.into_iter().map(AccessRequest::try_from).collect()
    }

    /// Requests whose id, without its dashes, starts with `hex` (lowercase hex digits,
    /// checked by `model::access::ids::parse`, so no LIKE wildcard reaches here), newest
    /// first. Who may see them is the caller's to decide.
    pub async fn requests_by_prefix(
        &mut self,
        hex: &str,
        limit: i64,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(vec![]);
        }
        let rows: Vec<RequestRow> = sql(format!(
            "SELECT {REQUEST_COLUMNS} FROM access_requests
             WHERE replace(id, '-', '') LIKE ($1 || '%')
             ORDER BY created_at DESC LIMIT $2"
        ))
        .bind(hex)
        .bind(limit)
        .fetch_all(self)
        .await?;
        rows.into_iter().map(AccessRequest::try_from).collect()
    }

    /// Requests matching `filter`, newest first (the administrators' and reviewers' view).
    pub async fn find_requests(
        &mut self,
        filter: &RequestFilter<'_>,
        limit: i64,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        let rows: Vec<RequestRow> = sql(format!(
            "SELECT {REQUEST_COLUMNS} FROM access_requests
             WHERE ($1 IS NULL OR requester_id = $1 OR requester_name = $1)
               AND ($2 IS NULL OR resource = $2)
               AND ($3 IS NULL OR state = $3)
               AND ($4 IS NULL OR (state = 'active' AND expires_at > $4))
             ORDER BY created_at DESC LIMIT $5"
        ))
        .bind(filter.user)
        .bind(filter.resource)
        .bind(filter.state.map(State::as_str))
        .bind(filter.live_at.map(to_ms))
        .bind(limit)
        .fetch_all(self)
        .await?;
        rows.into_iter().map(AccessRequest::try_from).collect()
    }

    /// Requests whose clock has run out at `now`.
    pub async fn due_requests(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        let rows: Vec<RequestRow> = sql(format!(
            "SELECT {REQUEST_COLUMNS} FROM access_requests
             WHERE (state = 'pending' AND pending_until <= $1)
                OR (state = 'approved' AND activation_deadline <= $1)
                OR (state = 'active' AND expires_at <= $1)
             ORDER BY created_at LIMIT $2"
        ))
        .bind(to_ms(now))
        .bind(limit)
        .fetch_all(self)
        .await?;
        rows.into_iter().map(AccessRequest::try_from).collect()
    }

    /// The requester's live grant on `resource` that lasts longest, if any.
    pub async fn active_grant(
        &mut self,
        requester_id: &str,
        resource: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<AccessRequest>, StoreError> {
        let row: Option<RequestRow> = sql(format!(
            "SELECT {REQUEST_COLUMNS} FROM access_requests
             WHERE requester_id = $1 AND resource = $2 AND state = 'active' AND expires_at > $3
             ORDER BY expires_at DESC LIMIT 1"
        ))
        .bind(requester_id)
        .bind(resource)
        .bind(to_ms(now))
        .fetch_optional(self)
        .await?;
        row.map(AccessRequest::try_from).transpose()
    }
}
