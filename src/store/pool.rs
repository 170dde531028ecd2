//! The connection pool to one of the two backends, and beginning transactions on it.

use std::sync::Arc;

use crate::store::audit_guard::AuditGuard;
use crate::store::error::StoreError;
use crate::store::tx::{Conn, Tx};
use crate::store::{begin, postgres, sqlite};

/// A connection pool to one of the two backends.
#[derive(Debug, Clone)]
pub enum Store {
    /// Embedded SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL.
    Postgres(PgStore),
}

/// SQLite's pool, and the lock its writers queue on: SQLite has one writer at a time,
/// and waiting here (fairly, without sleeping) is much faster than SQLite's busy handler,
/// which sleeps and retries.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The connections.
    pub pool: sqlx::SqlitePool,
    writer: Arc<tokio::sync::Mutex<()>>,
    guard: Arc<AuditGuard>,
}

/// PostgreSQL's pool, and what this process knows of the audit log's health.
#[derive(Debug, Clone)]
pub struct PgStore {
    /// The connections.
    pub pool: sqlx::PgPool,
    guard: Arc<AuditGuard>,
}

impl Store {
    /// Connects to `url` (`sqlite://PATH`, created if missing, or `postgres://…`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Store::Sqlite(SqliteStore {
                pool: sqlite::connect(url).await?,
                writer: Default::default(),
                guard: Default::default(),
            }))
        } else {
            Ok(Store::Postgres(PgStore {
                pool: postgres::connect(url).await?,
                guard: Default::default(),
            }))
        }
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => sqlite::migrate(&s.pool).await,
            Store::Postgres(p) => postgres::migrate(&p.pool).await,
        }
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => sqlx::query("SELECT 1").execute(&s.pool).await.map(drop)?,
            Store::Postgres(p) => sqlx::query("SELECT 1").execute(&p.pool).await.map(drop)?,
        }
        Ok(())
    }

    /// Which backend, for logs and metrics.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// What this process knows of the audit log's health (shared by every clone).
    pub fn audit_guard(&self) -> &Arc<AuditGuard> {
        match self {
            Store::Sqlite(s) => &s.guard,
            Store::Postgres(p) => &p.guard,
        }
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let guard = self.audit_guard().clone();
        Ok(match self {
            Store::Sqlite(s) => {
                let turn = s.writer.clone().lock_owned().await;
                let pool = s.pool.clone();
                let conn = begin::detached(async move { pool.begin_with("BEGIN IMMEDIATE").await })
                    .await?;
                let mut tx = Tx::new(Conn::Sqlite(conn), true, guard);
                tx.turn = Some(turn);
                tx
            }
            Store::Postgres(p) => {
                let pool = p.pool.clone();
                let conn = begin::detached(async move { pool.begin().await }).await?;
                Tx::new(Conn::Postgres(conn), true, guard)
            }
        })
    }

    /// Starts a transaction that only reads.
    pub async fn begin_read(&self) -> Result<Tx, StoreError> {
        let guard = self.audit_guard().clone();
        let conn = match self {
            Store::Sqlite(s) => Conn::Sqlite(s.pool.begin().await?),
            Store::Postgres(p) => Conn::Postgres(p.pool.begin().await?),
        };
        Ok(Tx::new(conn, false, guard))
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => s.pool.close().await,
            Store::Postgres(p) => p.pool.close().await,
        }
    }
}
