//! Holding what a credential or session is about to be handed out on: read again, and
//! kept from changing until the transaction ends. Only meaningful in a write transaction
//! ([`crate::store::Store::begin`]).
//!
//! PostgreSQL locks the rows against updates and takes an advisory lock that user locks
//! take exclusively (see `postgres.rs`); a SQLite writer (`BEGIN IMMEDIATE`) already
//! excludes every other writer, so there the statements only read.

use crate::model::access::AccessRequest;
use crate::store::access::{RequestRow, REQUEST_COLUMNS};
use crate::store::error::StoreError;
use crate::store::statement::sql;
use crate::store::tx::Backend;
use crate::store::tx::Tx;
use crate::store::{postgres, sqlite};

impl Tx {
    /// Keeps user locks from committing until this transaction ends, and waits for one
    /// being committed (PostgreSQL; a SQLite writer is alone anyway). Take it before any
    /// other hold: a lock takes it first too, so neither can wait on the other's rows.
    pub async fn hold_against_locks(&mut self) -> Result<(), StoreError> {
        match self.backend() {
            Backend::Sqlite => Ok(()),
            Backend::Postgres => postgres::hold_against_locks(self).await,
        }
    }

    /// Waits for the holders of [`Tx::hold_against_locks`] to commit and keeps new ones
    /// out until this transaction ends (taken by a user lock).
    pub(super) async fn exclude_holders(&mut self) -> Result<(), StoreError> {
        match self.backend() {
            Backend::Sqlite => Ok(()),
            Backend::Postgres => postgres::exclude_holders(self).await,
        }
    }

    /// What ends a `SELECT` that holds its rows until the transaction ends.
    fn row_lock(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => sqlite::ROW_LOCK,
            Backend::Postgres => postgres::ROW_LOCK,
        }
    }

    /// A request by id, kept from changing (revocation, expiry, extension) until this
    /// transaction ends.
    pub async fn hold_request(&mut self, id: &str) -> Result<Option<AccessRequest>, StoreError> {
        let lock = self.row_lock();
        let row: Option<RequestRow> = sql(format!(
            "SELECT {REQUEST_COLUMNS} FROM access_requests WHERE id = $1{lock}"
        ))
        .bind(id)
        .fetch_optional(self)
        .await?;
        row.map(AccessRequest::try_from).transpose()
    }

    /// Keeps a session from ending (logout, lock) until this transaction ends; read it
    /// afterwards with [`Tx::session`], which then sees every end committed before.
    pub async fn hold_session(&mut self, id: &str) -> Result<(), StoreError> {
        let lock = self.row_lock();
        let _: Option<(String,)> = sql(format!("SELECT id FROM sessions WHERE id = $1{lock}"))
            .bind(id)
            .fetch_optional(self)
            .await?;
        Ok(())
    }
}
