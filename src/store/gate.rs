//! What the gate reads: the state of the grants and sessions behind open streams, polled
//! so that an end committed by another replica still closes this replica's streams, and
//! what the admission check looks up.

use crate::model::access::AccessRequest;
use crate::store::access::{RequestRow, REQUEST_COLUMNS};
use crate::store::error::StoreError;
use crate::store::statement::sql;
use crate::store::tx::Tx;

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// At most this many ids in one `IN (…)` (SQLite's default bound on parameters is 999).
const IDS_PER_STATEMENT: usize = 500;

impl Tx {
    /// The rows of `select` (a `SELECT … FROM table`) whose `id` is one of `ids`, in
    /// statements of at most [`IDS_PER_STATEMENT`] ids.
    async fn rows_by_id<T: crate::store::statement::Stored>(
        &mut self,
        select: &str,
        ids: &[String],
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let marks = placeholders(1, chunk.len());
            let q = chunk
                .iter()
                .fold(sql(format!("{select} WHERE id IN ({marks})")), |q, id| {
                    q.bind(id)
                });
            out.extend(q.fetch_all(self).await?);
        }
        Ok(out)
    }
}

impl Tx {
    /// `(id, state, expires_at ms)` of each of these grants that exists.
    pub async fn grant_states(
        &mut self,
        ids: &[String],
    ) -> Result<Vec<(String, String, Option<i64>)>, StoreError> {
        self.rows_by_id("SELECT id, state, expires_at FROM access_requests", ids)
            .await
    }

    /// `(id, revoked_at ms, expires_at ms)` of each of these sessions that exists.
    pub async fn session_states(
        &mut self,
        ids: &[String],
    ) -> Result<Vec<(String, Option<i64>, i64)>, StoreError> {
        self.rows_by_id("SELECT id, revoked_at, expires_at FROM sessions", ids)
            .await
    }

    /// The grant a credential of `kind` with this id was issued inside.
    pub async fn issuance_grant(
        &mut self,
        id: &str,
        kind: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            sql("SELECT request_id FROM credential_issuances WHERE id = $1 AND kind = $2")
                .bind(id)
                .bind(kind)
                .fetch_optional(self)
                .await?;
        Ok(row.map(|(r,)| r))
    }

    /// The requester's most recently activated grant on `resource`, whatever its state.
    pub async fn latest_grant(
        &mut self,
        requester_id: &str,
        resource: &str,
    ) -> Result<Option<AccessRequest>, StoreError> {
        let row: Option<RequestRow> = sql(format!(
            "SELECT {REQUEST_COLUMNS} FROM access_requests
             WHERE requester_id = $1 AND resource = $2 AND activated_at IS NOT NULL
             ORDER BY activated_at DESC LIMIT 1"
        ))
        .bind(requester_id)
        .bind(resource)
        .fetch_optional(self)
        .await?;
        row.map(AccessRequest::try_from).transpose()
    }
}
