//! Persistence through sqlx: SQLite embedded by default, PostgreSQL for several replicas.
//!
//! A service opens a [`Tx`], calls the small store functions on it and commits once.
//! SQL lives only here: the statements both backends share are written once in
//! [`queries`] (SQLite reads `$1` placeholders too) and instantiated per backend; what
//! differs (connecting, pragmas, migrations) sits in [`sqlite`] and [`postgres`].

pub mod postgres;
/// Runs a backend's function on the transaction's connection.
macro_rules! dispatch {
    ($tx:expr, $f:ident($($arg:expr),*)) => {
        match &mut $tx.conn {
            $crate::store::Conn::Sqlite(t) => $crate::store::sqlite::$f(&mut **t, $($arg),*).await,
            $crate::store::Conn::Postgres(t) => $crate::store::postgres::$f(&mut **t, $($arg),*).await,
        }
    };
}

mod access_queries;
pub mod audit_guard;
mod audit_queries;
mod aws_queries;
mod begin;
mod gate_queries;
mod hold_queries;
mod queries;
mod rows;
mod slack_queries;
pub mod sqlite;
mod tx_access;
mod tx_audit;
mod tx_aws;
mod tx_gate;
mod tx_hold;
mod tx_slack;

pub use audit_guard::AuditGuard;
pub use tx_access::Issuance;
pub use tx_audit::ExportedAccess;
pub use tx_aws::{DenyOutboxRow, DenyRow, NewDeny, SessionGrant};
pub use tx_gate::UserProfile;
pub use tx_slack::{Confirmation, OutboxRow, SlackMessage, UserRecord};

use chrono::{DateTime, Utc};

use crate::domain::{from_ms, Identity, Lock, Session};

/// A storage failure. Its text never contains connection secrets.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database said no or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The audit events of a change could not be written, so the change was not either.
    #[error("the audit log could not be written: {0}")]
    AuditLog(Box<StoreError>),
    /// The audit log was found cut short or rewritten: nothing that writes an audit
    /// event commits until an operator has dealt with it.
    #[error("the audit log was found cut short or rewritten ({0}); refusing to act")]
    AuditBroken(String),
}

impl StoreError {
    /// Whether this is the refusal of a log found cut short or rewritten.
    pub fn audit_broken(&self) -> bool {
        match self {
            StoreError::AuditBroken(_) => true,
            StoreError::AuditLog(inner) => inner.audit_broken(),
            _ => false,
        }
    }
}

/// A connection pool to one of the two backends.
#[derive(Debug, Clone)]
pub enum Store {
    /// Embedded SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL.
    Postgres(PgStore),
}

/// PostgreSQL's pool, and what this process knows of the audit log's health.
#[derive(Debug, Clone)]
pub struct PgStore {
    /// The connections.
    pub pool: sqlx::PgPool,
    guard: std::sync::Arc<AuditGuard>,
}

/// An open transaction on either backend, with the audit events it will append when it
/// commits (see [`Tx::append_audit`]).
pub struct Tx {
    conn: Conn,
    audit: Vec<crate::audit::AuditEvent>,
    /// Begun as a writer: only such a transaction may append to the audit log.
    writer: bool,
    /// SQLite: this process's writers' turn, held until the transaction ends.
    turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// The store's audit health: consulted before appending, told of each append.
    guard: std::sync::Arc<AuditGuard>,
    /// The chain head this transaction's appends moved to, once written.
    flushed: Option<(i64, String)>,
}

/// The backend's transaction.
enum Conn {
    /// SQLite (`BEGIN IMMEDIATE`: writers queue instead of failing to upgrade a read lock).
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    /// PostgreSQL.
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    fn new(conn: Conn, writer: bool, guard: std::sync::Arc<AuditGuard>) -> Self {
        Tx {
            conn,
            audit: Vec::new(),
            writer,
            turn: None,
            guard,
            flushed: None,
        }
    }
}

/// SQLite's pool, and the lock its writers queue on: SQLite has one writer at a time,
/// and waiting here (fairly, without sleeping) is much faster than SQLite's busy handler,
/// which sleeps and retries.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The connections.
    pub pool: sqlx::SqlitePool,
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    guard: std::sync::Arc<AuditGuard>,
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
    pub fn audit_guard(&self) -> &std::sync::Arc<AuditGuard> {
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
                let mut tx = Tx::new(
                    Conn::Sqlite({
                        let pool = s.pool.clone();
                        begin::detached(async move { pool.begin_with("BEGIN IMMEDIATE").await })
                            .await?
                    }),
                    true,
                    guard,
                );
                tx.turn = Some(turn);
                tx
            }
            Store::Postgres(p) => {
                let pool = p.pool.clone();
                let tx = begin::detached(async move { pool.begin().await }).await?;
                Tx::new(Conn::Postgres(tx), true, guard)
            }
        })
    }

    /// Starts a transaction that only reads.
    pub async fn begin_read(&self) -> Result<Tx, StoreError> {
        let guard = self.audit_guard().clone();
        Ok(Tx::new(
            match self {
                Store::Sqlite(s) => Conn::Sqlite(s.pool.begin().await?),
                Store::Postgres(p) => Conn::Postgres(p.pool.begin().await?),
            },
            false,
            guard,
        ))
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => s.pool.close().await,
            Store::Postgres(p) => p.pool.close().await,
        }
    }
}

/// A session with what the API needs to know of its user.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// The session.
    pub session: Session,
    /// Subject at the provider.
    pub subject: String,
    /// Verified email.
    pub email: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Groups at the last login.
    pub groups: Vec<String>,
    /// Whether a lock names this user.
    pub locked: bool,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    user_id: String,
    kid: String,
    dev: bool,
    created_at: i64,
    expires_at: i64,
    auth_time: Option<i64>,
    revoked_at: Option<i64>,
    client_addr: Option<String>,
    user_agent: Option<String>,
    subject: String,
    email: Option<String>,
    name: Option<String>,
    groups_json: String,
    locked: bool,
}

impl TryFrom<SessionRow> for SessionRecord {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        let groups = serde_json::from_str(&r.groups_json)
            .map_err(|e| StoreError::Corrupt(format!("users.groups_json: {e}")))?;
        Ok(SessionRecord {
            session: Session {
                id: r.id,
                user_id: r.user_id,
                kid: r.kid,
                dev: r.dev,
                created_at: from_ms(r.created_at),
                expires_at: from_ms(r.expires_at),
                auth_time: r.auth_time.map(from_ms),
                revoked_at: r.revoked_at.map(from_ms),
                client_addr: r.client_addr,
                user_agent: r.user_agent,
            },
            subject: r.subject,
            email: r.email,
            name: r.name,
            groups,
            locked: r.locked,
        })
    }
}

#[derive(sqlx::FromRow)]
struct LockRow {
    identifier: String,
    reason: Option<String>,
    locked_by: String,
    locked_at: i64,
}

impl From<LockRow> for Lock {
    fn from(r: LockRow) -> Self {
        Lock {
            identifier: r.identifier,
            reason: r.reason,
            locked_by: r.locked_by,
            locked_at: from_ms(r.locked_at),
        }
    }
}

impl Tx {
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

    /// Creates or refreshes a user from a verified identity.
    pub async fn upsert_user(
        &mut self,
        who: &Identity,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, upsert_user(who, now))
    }

    /// Records a new session.
    pub async fn insert_session(&mut self, s: &Session) -> Result<(), StoreError> {
        dispatch!(self, insert_session(s))
    }

    /// A session with its user and lock state.
    pub async fn session(&mut self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        dispatch!(self, session(id))
    }

    /// Ends one session; false if it was unknown or already ended.
    pub async fn revoke_session(
        &mut self,
        id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        dispatch!(self, revoke_session(id, reason, now))
    }

    /// Ends every live development session; returns their ids and users.
    pub async fn revoke_dev_sessions(
        &mut self,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        dispatch!(self, revoke_dev_sessions(reason, now))
    }

    /// Locks an identifier (email, subject or user id) and ends the sessions of the users it names.
    /// Returns how many sessions were ended.
    pub async fn lock(&mut self, lock: &Lock) -> Result<u64, StoreError> {
        dispatch!(self, lock(lock))
    }

    /// Removes a lock; false if there was none.
    pub async fn unlock(&mut self, identifier: &str) -> Result<bool, StoreError> {
        dispatch!(self, unlock(identifier))
    }

    /// The first lock naming any of `identifiers`.
    pub async fn find_lock(&mut self, identifiers: &[String]) -> Result<Option<Lock>, StoreError> {
        dispatch!(self, find_lock(identifiers))
    }

    /// Remembers a browser login's nonce until `expires_at`, after forgetting expired
    /// ones; false (nothing stored) when `max_pending` attempts are already pending.
    pub async fn insert_login_attempt(
        &mut self,
        id: &str,
        nonce: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        max_pending: i64,
    ) -> Result<bool, StoreError> {
        dispatch!(
            self,
            insert_login_attempt(id, nonce, expires_at, now, max_pending)
        )
    }

    /// Consumes a login attempt, returning its nonce if it existed and had not expired.
    pub async fn take_login_attempt(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        dispatch!(self, take_login_attempt(id, now))
    }

    /// Records an ID token as used (by its replay key, until `expires_at`); false if it already was (a replay).
    pub async fn mark_id_token_used(
        &mut self,
        hash: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        dispatch!(self, mark_id_token_used(hash, expires_at, now))
    }
}
