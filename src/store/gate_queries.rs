//! Statements the gate needs, shared by both backends (instantiated by [`gate_queries!`]):
//! the state of the grants, sessions and users behind open streams, polled so that an
//! end committed by another replica still closes this replica's streams.

macro_rules! gate_queries {
    ($conn:ty) => {
        mod gate {
            use crate::access::AccessRequest;
            use crate::store::rows::{RequestRow, REQUEST_COLUMNS};
            use crate::store::StoreError;

            /// `$first, $first+1, …` for `n` values.
            fn placeholders(first: usize, n: usize) -> String {
                (first..first + n)
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }

            pub async fn grant_states(
                c: &mut $conn,
                ids: &[String],
            ) -> Result<Vec<(String, String, Option<i64>)>, StoreError> {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    let sql = format!(
                        "SELECT id, state, expires_at FROM access_requests WHERE id IN ({})",
                        placeholders(1, chunk.len())
                    );
                    let mut q = sqlx::query_as::<_, (String, String, Option<i64>)>(&sql);
                    for id in chunk {
                        q = q.bind(id);
                    }
                    out.extend(q.fetch_all(&mut *c).await?);
                }
                Ok(out)
            }

            pub async fn session_states(
                c: &mut $conn,
                ids: &[String],
            ) -> Result<Vec<(String, Option<i64>, i64)>, StoreError> {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    let sql = format!(
                        "SELECT id, revoked_at, expires_at FROM sessions WHERE id IN ({})",
                        placeholders(1, chunk.len())
                    );
                    let mut q = sqlx::query_as::<_, (String, Option<i64>, i64)>(&sql);
                    for id in chunk {
                        q = q.bind(id);
                    }
                    out.extend(q.fetch_all(&mut *c).await?);
                }
                Ok(out)
            }

            pub async fn lock_identifiers(c: &mut $conn) -> Result<Vec<String>, StoreError> {
                let rows: Vec<(String,)> = sqlx::query_as("SELECT identifier FROM user_locks")
                    .fetch_all(&mut *c)
                    .await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }

            pub async fn user_profile(
                c: &mut $conn,
                user_id: &str,
            ) -> Result<Option<(String, Option<String>, String)>, StoreError> {
                Ok(
                    sqlx::query_as("SELECT subject, email, groups_json FROM users WHERE id = $1")
                        .bind(user_id)
                        .fetch_optional(&mut *c)
                        .await?,
                )
            }

            pub async fn issuance_grant(
                c: &mut $conn,
                id: &str,
                kind: &str,
            ) -> Result<Option<String>, StoreError> {
                let row: Option<(String,)> = sqlx::query_as(
                    "SELECT request_id FROM credential_issuances WHERE id = $1 AND kind = $2",
                )
                .bind(id)
                .bind(kind)
                .fetch_optional(&mut *c)
                .await?;
                Ok(row.map(|r| r.0))
            }

            pub async fn latest_grant(
                c: &mut $conn,
                requester_id: &str,
                resource: &str,
            ) -> Result<Option<AccessRequest>, StoreError> {
                let row: Option<RequestRow> = sqlx::query_as(&format!(
                    "SELECT {REQUEST_COLUMNS} FROM access_requests
                     WHERE requester_id = $1 AND resource = $2 AND activated_at IS NOT NULL
                     ORDER BY activated_at DESC LIMIT 1"
                ))
                .bind(requester_id)
                .bind(resource)
                .fetch_optional(&mut *c)
                .await?;
                row.map(AccessRequest::try_from).transpose()
            }
        }
        pub use gate::*;
    };
}

pub(crate) use gate_queries;
