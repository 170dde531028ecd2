//! Statements on access requests, reviews and credentials, shared by both backends
//! (instantiated by [`access_queries!`]).

macro_rules! access_queries {
    ($conn:ty) => {
        mod access {
            use chrono::{DateTime, Utc};

            use crate::access::{AccessRequest, Review, State};
            use crate::domain::to_ms;
            use crate::store::rows::{verdict_str, RequestRow, ReviewRow, REQUEST_COLUMNS};
            use crate::store::StoreError;

            fn terms(r: &AccessRequest) -> Result<String, StoreError> {
                serde_json::to_string(&r.terms).map_err(|e| StoreError::Corrupt(e.to_string()))
            }

            pub async fn insert_request(c: &mut $conn, r: &AccessRequest, key: Option<&str>) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO access_requests (id, requester_id, requester_name, resource, role, reason, ticket, duration_s,
                        state, terms_json, created_at, pending_until, decided_at, activation_deadline, activated_at, expires_at,
                        ended_at, end_reason, extensions_used, auto_approved, breakglass, version, idempotency_key)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)",
                )
                .bind(&r.id)
                .bind(&r.requester_id)
                .bind(&r.requester_name)
                .bind(&r.resource)
                .bind(&r.role)
                .bind(&r.reason)
                .bind(&r.ticket)
                .bind(r.duration.as_secs() as i64)
                .bind(r.state.as_str())
                .bind(terms(r)?)
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
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            pub async fn request_by_key(c: &mut $conn, requester_id: &str, key: &str) -> Result<Option<AccessRequest>, StoreError> {
                let row: Option<RequestRow> = sqlx::query_as(&format!(
                    "SELECT {REQUEST_COLUMNS} FROM access_requests WHERE requester_id = $1 AND idempotency_key = $2"
                ))
                .bind(requester_id)
                .bind(key)
                .fetch_optional(&mut *c)
                .await?;
                row.map(AccessRequest::try_from).transpose()
            }

            pub async fn request(c: &mut $conn, id: &str) -> Result<Option<AccessRequest>, StoreError> {
                let row: Option<RequestRow> = sqlx::query_as(&format!("SELECT {REQUEST_COLUMNS} FROM access_requests WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *c)
                    .await?;
                row.map(AccessRequest::try_from).transpose()
            }

            /// Writes a changed request if nobody changed it since it was read (`version`).
            pub async fn update_request(c: &mut $conn, r: &AccessRequest) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE access_requests SET state = $2, decided_at = $3, activation_deadline = $4, activated_at = $5,
                        expires_at = $6, ended_at = $7, end_reason = $8, extensions_used = $9, version = version + 1
                     WHERE id = $1 AND version = $10",
                )
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
                .execute(&mut *c)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            pub async fn insert_review(c: &mut $conn, request_id: &str, r: &Review) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "INSERT INTO reviews (request_id, reviewer_id, reviewer_name, verdict, comment, at) VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (request_id, reviewer_id) DO NOTHING",
                )
                .bind(request_id)
                .bind(&r.reviewer_id)
                .bind(&r.reviewer_name)
                .bind(verdict_str(r.verdict))
                .bind(&r.comment)
                .bind(to_ms(r.at))
                .execute(&mut *c)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            pub async fn reviews(c: &mut $conn, request_id: &str) -> Result<Vec<Review>, StoreError> {
                let rows: Vec<ReviewRow> = sqlx::query_as(
                    "SELECT reviewer_id, reviewer_name, verdict, comment, at FROM reviews WHERE request_id = $1 ORDER BY at, reviewer_id",
                )
                .bind(request_id)
                .fetch_all(&mut *c)
                .await?;
                rows.into_iter().map(Review::try_from).collect()
            }

            pub async fn list_requests(c: &mut $conn, requester_id: Option<&str>, states: &[State], limit: i64) -> Result<Vec<AccessRequest>, StoreError> {
                let names: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
                let rows: Vec<RequestRow> = sqlx::query_as(&format!(
                    "SELECT {REQUEST_COLUMNS} FROM access_requests
                     WHERE ($1 IS NULL OR requester_id = $1) AND ($2 = '' OR (',' || $2 || ',') LIKE ('%,' || state || ',%'))
                     ORDER BY created_at DESC LIMIT $3"
                ))
                .bind(requester_id)
                .bind(names.join(","))
                .bind(limit)
                .fetch_all(&mut *c)
                .await?;
                rows.into_iter().map(AccessRequest::try_from).collect()
            }

            pub async fn due_requests(c: &mut $conn, now: DateTime<Utc>, limit: i64) -> Result<Vec<AccessRequest>, StoreError> {
                let rows: Vec<RequestRow> = sqlx::query_as(&format!(
                    "SELECT {REQUEST_COLUMNS} FROM access_requests
                     WHERE (state = 'pending' AND pending_until <= $1)
                        OR (state = 'approved' AND activation_deadline <= $1)
                        OR (state = 'active' AND expires_at <= $1)
                     ORDER BY created_at LIMIT $2"
                ))
                .bind(to_ms(now))
                .bind(limit)
                .fetch_all(&mut *c)
                .await?;
                rows.into_iter().map(AccessRequest::try_from).collect()
            }

            pub async fn active_grant(c: &mut $conn, requester_id: &str, resource: &str, now: DateTime<Utc>) -> Result<Option<AccessRequest>, StoreError> {
                let row: Option<RequestRow> = sqlx::query_as(&format!(
                    "SELECT {REQUEST_COLUMNS} FROM access_requests
                     WHERE requester_id = $1 AND resource = $2 AND state = 'active' AND expires_at > $3
                     ORDER BY expires_at DESC LIMIT 1"
                ))
                .bind(requester_id)
                .bind(resource)
                .bind(to_ms(now))
                .fetch_optional(&mut *c)
                .await?;
                row.map(AccessRequest::try_from).transpose()
            }

            #[allow(clippy::too_many_arguments)]
            pub async fn insert_issuance(c: &mut $conn, id: &str, request_id: &str, kind: &str, fingerprint: &str, issued_at: DateTime<Utc>, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO credential_issuances (id, request_id, kind, fingerprint, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(request_id)
                .bind(kind)
                .bind(fingerprint)
                .bind(to_ms(issued_at))
                .bind(to_ms(expires_at))
                .execute(&mut *c)
                .await?;
                Ok(())
            }
        }
        pub use access::*;
    };
}

pub(crate) use access_queries;
