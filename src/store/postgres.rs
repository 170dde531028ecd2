//! PostgreSQL, for several broker replicas sharing one database.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

super::access_queries::access_queries!(sqlx::PgConnection);
super::queries::shared_queries!(sqlx::PgConnection);
super::audit_queries::audit_queries!(sqlx::PgConnection, true);
super::slack_queries::slack_queries!(sqlx::PgConnection);
super::gate_queries::gate_queries!(sqlx::PgConnection);
super::hold_queries::hold_queries!(sqlx::PgConnection, true);
super::aws_queries::aws_queries!(sqlx::PgConnection);

/// Connects to the server named by `url`.
pub async fn connect(url: &str) -> Result<PgPool, StoreError> {
    Ok(PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await?)
}

/// Applies `migrations/postgres`.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::migrate!("migrations/postgres").run(pool).await?;
    Ok(())
}

/// The chain head, locked until this transaction ends: every appender, in every broker
/// process sharing the database, queues here, so the chain never forks.
pub async fn lock_audit_head(c: &mut sqlx::PgConnection) -> Result<(i64, String), StoreError> {
    const SELECT: &str = "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE";
    if let Some(head) = sqlx::query_as(SELECT).fetch_optional(&mut *c).await? {
        return Ok(head);
    }
    // The first event ever: create the head, or wait for whoever is creating it.
    sqlx::query(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, $1) ON CONFLICT (id) DO NOTHING",
    )
    .bind(crate::audit::chain::GENESIS)
    .execute(&mut *c)
    .await?;
    Ok(sqlx::query_as(SELECT).fetch_one(&mut *c).await?)
}

/// Audit events with `from <= seq <= to`, in order, at most `limit` (rows stream from the
/// server; no need for SQLite's one-row page).
pub async fn audit_events_page(
    c: &mut sqlx::PgConnection,
    subject: Option<&str>,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<crate::audit::AuditEvent>, StoreError> {
    audit_events_between(c, subject, from, to, limit).await
}
