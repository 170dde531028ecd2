//! Reading the audit log: pages of events for verification and the API, the chain head,
//! and the access records an evidence export reports.

use chrono::{DateTime, Utc};

use crate::model::access::{AccessRequest, Review};
use crate::model::audit::AuditEvent;
use crate::model::domain::to_ms;
use crate::store::access::{RequestRow, REQUEST_COLUMNS};
use crate::store::audit_row::{AuditRow, AUDIT_COLUMNS};
use crate::store::error::StoreError;
use crate::store::reviews::ReviewRow;
use crate::store::sqlite;
use crate::store::statement::sql;
use crate::store::tx::Backend;
use crate::store::tx::Tx;

/// The access records of an export period.
#[derive(Debug, Default)]
pub struct ExportedAccess {
    /// Requests alive at some time in the period.
    pub requests: Vec<AccessRequest>,
    /// Their reviews made before the period's end, as (request id, review).
    pub reviews: Vec<(String, Review)>,
    /// Credentials issued before the period's end, per request.
    pub issuances: std::collections::HashMap<String, i64>,
    /// The email of each user who acted in the period (user id to email), so a report
    /// names people the way its other columns do.
    pub emails: std::collections::HashMap<String, String>,
}

/// A review with the request it belongs to, for evidence exports.
#[derive(sqlx::FromRow)]
struct ExportReviewRow {
    request_id: String,
    #[sqlx(flatten)]
    review: ReviewRow,
}

/// A request alive at some time in `[$1, $2)` (`a` is `access_requests`).
const OVERLAPS: &str = "a.created_at < $2 AND (a.ended_at IS NULL OR a.ended_at >= $1)";

impl Tx {
    /// Events with sequence numbers in `from..=to`, in order, at most `limit`, optionally
    /// about one subject.
    pub async fn audit_events_between(
        &mut self,
        subject: Option<&str>,
        from: i64,
        to: i64,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        if self.backend() == Backend::Sqlite {
            return sqlite::audit_events_page(self, subject, from, to, limit).await;
        }
        // PostgreSQL streams rows from the server; no need for SQLite's one-row page.
        let rows: Vec<AuditRow> = sql(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events
             WHERE ($1 IS NULL OR subject = $1) AND seq >= $2 AND seq <= $3 ORDER BY seq LIMIT $4"
        ))
        .bind(subject)
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(self)
        .await?;
        Ok(rows.into_iter().map(AuditEvent::from).collect())
    }

    /// Audit events after `after_seq`, optionally about one subject.
    pub async fn audit_events(
        &mut self,
        subject: Option<&str>,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.audit_events_between(subject, after_seq.saturating_add(1), i64::MAX, limit)
            .await
    }

    /// First and last sequence numbers of the events written in `[from, to)`.
    pub async fn audit_seq_range(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        let (first, last): (Option<i64>, Option<i64>) =
            sql("SELECT MIN(seq), MAX(seq) FROM audit_events WHERE at >= $1 AND at < $2")
                .bind(to_ms(from))
                .bind(to_ms(to))
                .fetch_one(self)
                .await?;
        Ok(first.zip(last))
    }

    /// The last sequence number, 0 for an empty log.
    pub async fn audit_last_seq(&mut self) -> Result<i64, StoreError> {
        let (last,): (Option<i64>,) = sql("SELECT MAX(seq) FROM audit_events")
            .fetch_one(self)
            .await?;
        Ok(last.unwrap_or(0))
    }

    /// The chain head without locking it; `None` before the first chained event.
    pub async fn audit_head(&mut self) -> Result<Option<(i64, String)>, StoreError> {
        sql("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(self)
            .await
    }

    /// Requests alive at some time in `[from, to)`, with their reviews before `to` and
    /// how many credentials each had issued before `to`: what an evidence export reports.
    pub async fn export_access(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<ExportedAccess, StoreError> {
        let (from, to) = (to_ms(from), to_ms(to));
        let cols = REQUEST_COLUMNS
            .split(", ")
            .map(|c| format!("a.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let requests: Vec<RequestRow> = sql(format!(
            "SELECT {cols} FROM access_requests a WHERE {OVERLAPS} ORDER BY a.created_at, a.id"
        ))
        .bind(from)
        .bind(to)
        .fetch_all(self)
        .await?;
        let reviews: Vec<ExportReviewRow> = sql(format!(
            "SELECT r.request_id, r.reviewer_id, r.reviewer_name, r.verdict, r.comment, r.at
             FROM reviews r JOIN access_requests a ON a.id = r.request_id
             WHERE {OVERLAPS} AND r.at < $2 ORDER BY r.at"
        ))
        .bind(from)
        .bind(to)
        .fetch_all(self)
        .await?;
        let issuances: Vec<(String, i64)> = sql(format!(
            "SELECT i.request_id, COUNT(*) FROM credential_issuances i JOIN access_requests a ON a.id = i.request_id
             WHERE {OVERLAPS} AND i.issued_at < $2 GROUP BY i.request_id"
        ))
        .bind(from)
        .bind(to)
        .fetch_all(self)
        .await?;
        let emails: Vec<(String, String)> =
            sql("SELECT u.id, u.email FROM users u WHERE u.email IS NOT NULL
             AND u.id IN (SELECT actor FROM audit_events WHERE at >= $1 AND at < $2)")
            .bind(from)
            .bind(to)
            .fetch_all(self)
            .await?;
        Ok(ExportedAccess {
            requests: requests
                .into_iter()
                .map(AccessRequest::try_from)
                .collect::<Result<_, _>>()?,
            reviews: reviews
                .into_iter()
                .map(|r| Ok((r.request_id, Review::try_from(r.review)?)))
                .collect::<Result<_, StoreError>>()?,
            issuances: issuances.into_iter().collect(),
            emails: emails.into_iter().collect(),
        })
    }
}
