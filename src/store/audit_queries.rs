//! Statements on the audit log and its checkpoints, shared by both backends (instantiated
//! by [`audit_queries!`]). Locking the chain head differs per backend and lives in
//! `sqlite.rs` and `postgres.rs`.

macro_rules! audit_queries {
    ($conn:ty, $numbered:expr) => {
        mod audit {
            use crate::audit::checkpoint::Checkpoint;
            use crate::audit::AuditEvent;
            use crate::domain::{from_ms, to_ms};
            use crate::store::rows::{AuditRow, AUDIT_COLUMNS};
            use crate::store::StoreError;

            fn corrupt(e: impl std::fmt::Display) -> StoreError {
                StoreError::Corrupt(e.to_string())
            }

            /// Inserts events that already have their places in the chain, many rows per
            /// statement.
            pub async fn insert_audit_events(c: &mut $conn, events: &[AuditEvent]) -> Result<(), StoreError> {
                // 16 parameters a row; PostgreSQL allows 65,535 in one statement.
                for chunk in events.chunks(1000) {
                    let mut sql = String::from(
                        "INSERT INTO audit_events (seq, id, type, at, actor, subject, resource, role, outcome, reason,
                            request_id, client_addr, user_agent, details, prev_hash, hash) VALUES ",
                    );
                    for i in 0..chunk.len() {
                        let n = i * 16;
                        if i > 0 {
                            sql.push(',');
                        }
                        sql.push('(');
                        // SQLite looks a numbered parameter up by a linear scan: plain `?` keeps
                        // a thousand-row statement linear; PostgreSQL needs `$N`.
                        let mark = |k: usize| if $numbered { format!("${}", n + k) } else { "?".to_string() };
                        sql.push_str(&(1..=16).map(mark).collect::<Vec<_>>().join(", "));
                        sql.push(')');
                    }
                    let mut q = sqlx::query(&sql);
                    for e in chunk {
                        let details = crate::audit::canonical::to_string(&e.details).map_err(corrupt)?;
                        q = q
                            .bind(e.seq)
                            .bind(&e.id)
                            .bind(&e.kind)
                            .bind(to_ms(e.at))
                            .bind(&e.actor)
                            .bind(&e.subject)
                            .bind(&e.resource)
                            .bind(&e.role)
                            .bind(&e.outcome)
                            .bind(&e.reason)
                            .bind(&e.request_id)
                            .bind(&e.client_addr)
                            .bind(&e.user_agent)
                            .bind(details)
                            .bind(&e.prev_hash)
                            .bind(&e.hash);
                    }
                    q.execute(&mut *c).await?;
                }
                Ok(())
            }

            /// Moves the chain head (the caller holds its lock).
            pub async fn set_audit_head(c: &mut $conn, seq: i64, hash: &str) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2)
                     ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                )
                .bind(seq)
                .bind(hash)
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            /// Events with `from_seq <= seq <= to_seq`, in order, at most `limit`,
            /// optionally about one subject.
            pub async fn audit_events_between(
                c: &mut $conn,
                subject: Option<&str>,
                from_seq: i64,
                to_seq: i64,
                limit: i64,
            ) -> Result<Vec<AuditEvent>, StoreError> {
                let sql = format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_events
                     WHERE ($1 IS NULL OR subject = $1) AND seq >= $2 AND seq <= $3 ORDER BY seq LIMIT $4"
                );
                let rows: Vec<AuditRow> = sqlx::query_as(&sql)
                    .bind(subject)
                    .bind(from_seq)
                    .bind(to_seq)
                    .bind(limit)
                    .fetch_all(&mut *c)
                    .await?;
                Ok(rows.into_iter().map(AuditEvent::from).collect())
            }

            /// The first and last sequence numbers of the events with `from <= at < to`.
            pub async fn audit_seq_range(
                c: &mut $conn,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<(i64, i64)>, StoreError> {
                let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(
                    "SELECT MIN(seq), MAX(seq) FROM audit_events WHERE at >= $1 AND at < $2",
                )
                .bind(to_ms(from))
                .bind(to_ms(to))
                .fetch_one(&mut *c)
                .await?;
                Ok(first.zip(last))
            }

            /// The last event's sequence number, 0 when the log is empty.
            pub async fn audit_last_seq(c: &mut $conn) -> Result<i64, StoreError> {
                let (last,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM audit_events")
                    .fetch_one(&mut *c)
                    .await?;
                Ok(last.unwrap_or(0))
            }

            /// Events written before the chain existed (no hash yet), in order.
            pub async fn unchained_audit_events(c: &mut $conn) -> Result<Vec<AuditEvent>, StoreError> {
                let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE hash IS NULL ORDER BY seq");
                let rows: Vec<AuditRow> = sqlx::query_as(&sql).fetch_all(&mut *c).await?;
                Ok(rows.into_iter().map(AuditEvent::from).collect())
            }

            /// Gives a pre-chain event its hashes.
            pub async fn set_audit_hashes(c: &mut $conn, seq: i64, prev_hash: &str, hash: &str) -> Result<(), StoreError> {
                sqlx::query("UPDATE audit_events SET prev_hash = $2, hash = $3 WHERE seq = $1")
                    .bind(seq)
                    .bind(prev_hash)
                    .bind(hash)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            }

            /// The stored events at sequence numbers `a` and `b` as (seq, hash, at), and the
            /// last sequence number in the log: what an append compares the head with.
            pub async fn audit_events_at(
                c: &mut $conn,
                a: i64,
                b: i64,
            ) -> Result<(Vec<(i64, Option<String>, i64)>, Option<i64>), StoreError> {
                let rows: Vec<(i64, Option<String>, i64)> =
                    sqlx::query_as("SELECT seq, hash, at FROM audit_events WHERE seq = $1 OR seq = $2")
                        .bind(a)
                        .bind(b)
                        .fetch_all(&mut *c)
                        .await?;
                let (last,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM audit_events")
                    .fetch_one(&mut *c)
                    .await?;
                Ok((rows, last))
            }

            /// The chain head without locking it, if any event was ever chained.
            pub async fn audit_head(c: &mut $conn) -> Result<Option<(i64, String)>, StoreError> {
                Ok(sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                    .fetch_optional(&mut *c)
                    .await?)
            }

            const OVERLAPS: &str = "a.created_at < $2 AND (a.ended_at IS NULL OR a.ended_at >= $1)";

            /// Requests alive at some time in `[from, to)`, oldest first.
            pub async fn export_requests(
                c: &mut $conn,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<crate::access::AccessRequest>, StoreError> {
                let cols = crate::store::rows::REQUEST_COLUMNS
                    .split(", ")
                    .map(|c| format!("a.{}", c.trim()))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!("SELECT {cols} FROM access_requests a WHERE {OVERLAPS} ORDER BY a.created_at, a.id");
                let rows: Vec<crate::store::rows::RequestRow> =
                    sqlx::query_as(&sql).bind(to_ms(from)).bind(to_ms(to)).fetch_all(&mut *c).await?;
                rows.into_iter().map(TryFrom::try_from).collect()
            }

            /// The reviews of those requests made before `to`, as (request id, review).
            pub async fn export_reviews(
                c: &mut $conn,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<(String, crate::access::Review)>, StoreError> {
                let sql = format!(
                    "SELECT r.request_id, r.reviewer_id, r.reviewer_name, r.verdict, r.comment, r.at
                     FROM reviews r JOIN access_requests a ON a.id = r.request_id
                     WHERE {OVERLAPS} AND r.at < $2 ORDER BY r.at"
                );
                let rows: Vec<crate::store::rows::ExportReviewRow> =
                    sqlx::query_as(&sql).bind(to_ms(from)).bind(to_ms(to)).fetch_all(&mut *c).await?;
                rows.into_iter().map(TryFrom::try_from).collect()
            }

            /// How many credentials each of those requests had issued before `to`.
            pub async fn export_issuances(
                c: &mut $conn,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<(String, i64)>, StoreError> {
                let sql = format!(
                    "SELECT i.request_id, COUNT(*) FROM credential_issuances i JOIN access_requests a ON a.id = i.request_id
                     WHERE {OVERLAPS} AND i.issued_at < $2 GROUP BY i.request_id"
                );
                Ok(sqlx::query_as(&sql).bind(to_ms(from)).bind(to_ms(to)).fetch_all(&mut *c).await?)
            }

            #[derive(sqlx::FromRow)]
            struct CheckpointRow {
                number: i64,
                events: i64,
                head_hash: String,
                at: i64,
                prev: Option<String>,
                kid: String,
                signature: String,
                delivered_at: Option<i64>,
            }

            impl From<CheckpointRow> for Checkpoint {
                fn from(r: CheckpointRow) -> Self {
                    Checkpoint {
                        number: r.number,
                        events: r.events,
                        head_hash: r.head_hash,
                        at: from_ms(r.at),
                        prev: r.prev,
                        kid: r.kid,
                        signature: r.signature,
                        delivered: r.delivered_at.is_some(),
                    }
                }
            }

            const CHECKPOINT_COLUMNS: &str = "number, events, head_hash, at, prev, kid, signature, delivered_at";

            /// Stores a signed checkpoint.
            pub async fn insert_checkpoint(c: &mut $conn, cp: &Checkpoint) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO audit_checkpoints (number, events, head_hash, at, prev, kid, signature)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(cp.number)
                .bind(cp.events)
                .bind(&cp.head_hash)
                .bind(to_ms(cp.at))
                .bind(&cp.prev)
                .bind(&cp.kid)
                .bind(&cp.signature)
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            /// Checkpoints numbered `from..=to`, in order.
            pub async fn checkpoints_between(c: &mut $conn, from: i64, to: i64) -> Result<Vec<Checkpoint>, StoreError> {
                let sql = format!(
                    "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE number >= $1 AND number <= $2 ORDER BY number"
                );
                let rows: Vec<CheckpointRow> = sqlx::query_as(&sql).bind(from).bind(to).fetch_all(&mut *c).await?;
                Ok(rows.into_iter().map(Checkpoint::from).collect())
            }

            /// The latest checkpoint.
            pub async fn last_checkpoint(c: &mut $conn) -> Result<Option<Checkpoint>, StoreError> {
                let sql = format!("SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY number DESC LIMIT 1");
                let row: Option<CheckpointRow> = sqlx::query_as(&sql).fetch_optional(&mut *c).await?;
                Ok(row.map(Checkpoint::from))
            }

            /// The last checkpoint covering fewer than `seq` events (the anchor before `seq`),
            /// and the first covering at least `seq` events (the anchor at or after it).
            pub async fn checkpoints_around(c: &mut $conn, seq: i64) -> Result<(Option<Checkpoint>, Option<Checkpoint>), StoreError> {
                let before = format!(
                    "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE events < $1 ORDER BY number DESC LIMIT 1"
                );
                let after = format!(
                    "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE events >= $1 ORDER BY number LIMIT 1"
                );
                let b: Option<CheckpointRow> = sqlx::query_as(&before).bind(seq).fetch_optional(&mut *c).await?;
                let a: Option<CheckpointRow> = sqlx::query_as(&after).bind(seq).fetch_optional(&mut *c).await?;
                Ok((b.map(Checkpoint::from), a.map(Checkpoint::from)))
            }

            /// Checkpoints not yet written to the outside sink.
            pub async fn undelivered_checkpoints(c: &mut $conn) -> Result<Vec<Checkpoint>, StoreError> {
                let sql = format!(
                    "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE delivered_at IS NULL ORDER BY number"
                );
                let rows: Vec<CheckpointRow> = sqlx::query_as(&sql).fetch_all(&mut *c).await?;
                Ok(rows.into_iter().map(Checkpoint::from).collect())
            }

            /// Records the outcome of writing a checkpoint to the sink.
            pub async fn mark_checkpoint_delivery(
                c: &mut $conn,
                number: i64,
                delivered_at: Option<chrono::DateTime<chrono::Utc>>,
                error: Option<&str>,
            ) -> Result<(), StoreError> {
                sqlx::query("UPDATE audit_checkpoints SET delivered_at = $2, delivery_error = $3 WHERE number = $1")
                    .bind(number)
                    .bind(delivered_at.map(to_ms))
                    .bind(error)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            }
        }
        pub use audit::*;
    };
}

pub(crate) use audit_queries;
