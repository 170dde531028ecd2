//! Beginning a write transaction so that cancelling its caller cannot leave a pooled
//! connection inside it.

use crate::store::error::StoreError;

/// Begins a write transaction on a task of its own. A caller cancelled while `BEGIN` is
/// under way (a task aborted at shutdown, a client that went away) would otherwise leave
/// the connection back in the pool inside a transaction nobody holds: on SQLite with the
/// write lock taken for good, so every later writer waits out its busy timeout (seen at
/// shutdown: "database is locked", then "begin_with at non-zero transaction depth").
/// Spawned, the begin completes; a transaction nobody awaits any more is dropped, and
/// rolls back.
pub(super) async fn detached<DB: sqlx::Database>(
    begin: impl std::future::Future<Output = Result<sqlx::Transaction<'static, DB>, sqlx::Error>>
        + Send
        + 'static,
) -> Result<sqlx::Transaction<'static, DB>, StoreError> {
    match tokio::spawn(begin).await {
        Ok(begun) => Ok(begun?),
        Err(e) => {
            tracing::error!(error = %e, "beginning a transaction failed");
            Err(StoreError::Database(sqlx::Error::WorkerCrashed))
        }
    }
}
