//! PostgreSQL's `LISTEN/NOTIFY` as the gate's wake-up across replicas: the transaction
//! that ends a grant, a session or a user also notifies [`CHANNEL`] (delivered only if
//! it commits), and each replica's [`GateListener`] hears it on a connection of its own.
//! A notification is a hint, never the truth: the listener re-reads the state, and
//! notifications sent while it was disconnected are lost, so every reconnect is a
//! resync too. SQLite has one process and nothing to tell: no listener, no notify.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};

use crate::store::error::StoreError;
use crate::store::pool::Store;
use crate::store::statement::sql;
use crate::store::tx::{Backend, Tx};

/// The channel ends are announced on (LISTEN quotes it: case-sensitive).
pub const CHANNEL: &str = "latchkey_revocations";

/// How long the listener waits for its connection (a replica cut off from the database
/// must find out in a bounded time, not after the main pool's wait).
const CONNECT_WAIT: Duration = Duration::from_secs(2);

/// What the listener heard.
#[derive(Debug, PartialEq, Eq)]
pub enum Heard {
    /// A notification; its payload names what ended (a hint only).
    Hint(String),
    /// The connection was lost and made again (and `LISTEN` re-issued): whatever was
    /// notified meanwhile is lost, so the state must be read again.
    Resync,
}

/// A listener on [`CHANNEL`], on its own connection.
pub struct GateListener {
    inner: PgListener,
}

impl Store {
    /// A listener on [`CHANNEL`] named `name` (PostgreSQL's `application_name`, so an
    /// operator sees it in `pg_stat_activity`); `None` on SQLite.
    pub async fn gate_listener(&self, name: &str) -> Option<Result<GateListener, StoreError>> {
        let Store::Postgres(p) = self else {
            return None;
        };
        let options = p.pool.connect_options().as_ref().clone();
        // One connection of its own, outside the main pool: a listener holds its
        // connection for good, and should not wait behind requests for one.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_WAIT)
            .connect_lazy_with(options.application_name(name));
        Some(
            async {
                let mut inner = PgListener::connect_with(&pool).await?;
                inner.listen(CHANNEL).await?;
                Ok(GateListener { inner })
            }
            .await,
        )
    }
}

impl GateListener {
    /// The next notification, or [`Heard::Resync`] after a reconnect. Cancel-safe (sqlx
    /// reads whole messages only), so it may be raced against a deadline.
    pub async fn next(&mut self) -> Result<Heard, StoreError> {
        Ok(match self.inner.try_recv().await? {
            Some(n) => Heard::Hint(n.payload().to_string()),
            None => Heard::Resync,
        })
    }

    /// A round trip on the listener's own connection: a half-open connection (the server
    /// or the network gone without a word) never delivers again, and only a request that
    /// expects an answer finds out.
    pub async fn ping(&mut self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&mut self.inner).await?;
        Ok(())
    }
}

impl Tx {
    /// Tells every replica's gate, when this transaction commits, that `what` (e.g.
    /// `grant:ID`) ended. Nothing on SQLite: its one process was told directly.
    pub async fn notify_gate(&mut self, what: &str) -> Result<(), StoreError> {
        if self.backend() == Backend::Sqlite {
            return Ok(());
        }
        sql("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(what)
            .execute(self)
            .await?;
        Ok(())
    }
}
