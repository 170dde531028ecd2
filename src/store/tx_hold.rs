//! [`Tx`] operations that hold what a credential or session is about to be handed out
//! on: read again, and kept from changing until the transaction ends (see
//! `hold_queries`). Only meaningful in a write transaction ([`super::Store::begin`]).

use super::{StoreError, Tx};
use crate::access::AccessRequest;

impl Tx {
    /// Keeps user locks from committing until this transaction ends, and waits for one
    /// being committed (PostgreSQL; a SQLite writer is alone anyway). Take it before any
    /// other hold: a lock takes it first too, so neither can wait on the other's rows.
    pub async fn hold_against_locks(&mut self) -> Result<(), StoreError> {
        dispatch!(self, hold_against_locks())
    }

    /// A request by id, kept from changing (revocation, expiry, extension) until this
    /// transaction ends.
    pub async fn hold_request(&mut self, id: &str) -> Result<Option<AccessRequest>, StoreError> {
        dispatch!(self, hold_request(id))
    }

    /// Keeps a session from ending (logout, lock) until this transaction ends; read it
    /// afterwards with [`Tx::session`], which then sees every end committed before.
    pub async fn hold_session(&mut self, id: &str) -> Result<(), StoreError> {
        dispatch!(self, hold_session(id))
    }
}
