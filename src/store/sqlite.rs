//! SQLite: a file created on first start, WAL mode, foreign keys on; and the statements
//! that differ from PostgreSQL's.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::store::audit_row::AuditRow;
use crate::store::error::StoreError;
use crate::store::statement::sql;
use crate::store::tx::Tx;

/// What ends a `SELECT` that holds its rows: nothing, since a writer (`BEGIN IMMEDIATE`)
/// already excludes every other writer.
pub(super) const ROW_LOCK: &str = "";

/// Opens (creating if needed) the database file and its directory.
pub async fn connect(url: &str) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    if !url.contains("memory") {
        private_files(options.get_filename())
            .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
    }
    Ok(SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?)
}

/// Creates the database's directory (0700) and the database file (0600) before SQLite
/// does: SQLite gives its `-wal` and `-shm` files the database file's mode, so the whole
/// database is readable by the broker's user only. Files left more open by an earlier
/// version are closed down to 0600.
fn private_files(db: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(db)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            for suffix in ["", "-wal", "-shm"] {
                let mut path = db.as_os_str().to_owned();
                path.push(suffix);
                let path = std::path::PathBuf::from(path);
                match std::fs::metadata(&path) {
                    Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?
                    }
                    _ => {}
                }
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Applies `migrations/sqlite`.
pub async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::migrate!("migrations/sqlite").run(pool).await?;
    Ok(())
}

/// Placeholders for a multi-row `INSERT`: `(?, …), (?, …)`. SQLite looks a numbered
/// parameter up by a linear scan, so plain `?` keeps a thousand-row statement linear.
pub(super) fn row_marks(rows: usize, per_row: usize) -> String {
    let row = format!("({})", vec!["?"; per_row].join(", "));
    vec![row; rows].join(",")
}

/// The chain head, `(0, GENESIS)` before the first event. `BEGIN IMMEDIATE` already made
/// this transaction the only writer, so reading the head is enough to hold it.
pub(super) async fn lock_audit_head(tx: &mut Tx) -> Result<(i64, String), StoreError> {
    let head: Option<(i64, String)> = sql("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_optional(tx)
        .await?;
    Ok(head.unwrap_or((0, crate::model::audit::chain::GENESIS.to_string())))
}

/// Audit events with `from <= seq <= to`, in order, at most `limit`, optionally about one
/// subject. sqlx hands SQLite rows from its worker thread to the caller one at a time,
/// which costs more than reading them, so SQLite returns the page as one JSON row.
pub(super) async fn audit_events_page(
    tx: &mut Tx,
    subject: Option<&str>,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<crate::model::audit::AuditEvent>, StoreError> {
    let (page,): (String,) = sql(
        "SELECT json_group_array(json_object('seq', seq, 'id', id, 'type', type, 'at', at, 'actor', actor,
                'subject', subject, 'resource', resource, 'role', role, 'outcome', outcome, 'reason', reason,
                'request_id', request_id, 'client_addr', client_addr, 'user_agent', user_agent,
                'details', details, 'prev_hash', prev_hash, 'hash', hash))
         FROM (SELECT * FROM audit_events WHERE (?1 IS NULL OR subject = ?1) AND seq >= ?2 AND seq <= ?3
               ORDER BY seq LIMIT ?4)",
    )
    .bind(subject)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_one(tx)
    .await?;
    let mut rows: Vec<AuditRow> = serde_json::from_str(&page)
        .map_err(|e| StoreError::Corrupt(format!("audit_events page: {e}")))?;
    rows.sort_by_key(|r| r.seq);
    Ok(rows
        .into_iter()
        .map(crate::model::audit::AuditEvent::from)
        .collect())
}

/// Now in milliseconds since the epoch.
pub(super) const NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

/// SQLite's writers hold the whole database: no row lock to add.
pub(super) const SHARE_LOCK: &str = "";
