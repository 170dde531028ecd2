//! An open transaction on either backend, and committing it with its audit events.

use std::sync::Arc;

use crate::store::audit_guard::AuditGuard;
use crate::store::error::StoreError;

/// An open transaction on either backend, with the audit events it will append when it
/// commits (see [`Tx::append_audit`]).
pub struct Tx {
    pub(super) conn: Conn,
    pub(super) audit: Vec<crate::model::audit::AuditEvent>,
    /// Begun as a writer: only such a transaction may append to the audit log.
    pub(super) writer: bool,
    /// SQLite: this process's writers' turn, held until the transaction ends.
    pub(super) turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// The store's audit health: consulted before appending, told of each append.
    pub(super) guard: Arc<AuditGuard>,
    /// The chain head this transaction's appends moved to, once written.
    pub(super) flushed: Option<(i64, String)>,
}

/// The backend's transaction.
pub(super) enum Conn {
    /// SQLite (`BEGIN IMMEDIATE`: writers queue instead of failing to upgrade a read lock).
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    /// PostgreSQL.
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Which backend a transaction runs on, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Backend {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Tx {
    /// Which backend this transaction runs on.
    pub(super) fn backend(&self) -> Backend {
        match self.conn {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }

    pub(super) fn new(conn: Conn, writer: bool, guard: Arc<AuditGuard>) -> Self {
        Tx {
            conn,
            audit: Vec::new(),
            writer,
            turn: None,
            guard,
            flushed: None,
        }
    }

    /// Appends the queued audit events to the chain, then commits: the change and its
    /// events are written together or not at all.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        self.flush_audit()
            .await
            .map_err(|e| StoreError::AuditLog(Box::new(e)))?;
        match self.conn {
            Conn::Sqlite(t) => t.commit().await?,
            Conn::Postgres(t) => t.commit().await?,
        }
        // Only a committed head is known: a rolled-back append never happened.
        if let Some((seq, hash)) = self.flushed.take() {
            self.guard.record_head(seq, &hash);
            self.guard.notify_appended();
        }
        Ok(())
    }
}
