//! Persistence through sqlx: SQLite embedded by default, PostgreSQL for several replicas.
//!
//! A service opens a [`Tx`] ([`Store::begin`] or [`Store::begin_read`]), calls the store
//! functions on it (methods of [`Tx`], one file per family of tables) and commits once;
//! the audit events queued on it are chained and written in that commit.
//!
//! Each method holds its SQL, written once for both backends: both read `$N`
//! placeholders, and a [`statement`] binds its arguments to whichever connection the
//! transaction holds and decodes rows through `sqlx::FromRow`, derived once for both.
//! Where the backends differ (connecting, migrations, the audit head's lock, row locks,
//! SQLite's one-row pages), the family's method asks [`Tx`] which backend it is on and
//! calls into [`sqlite`] or [`postgres`], which hold all backend-specific SQL.
//!
//! Adding a table: a migration in both `migrations/sqlite/` and `migrations/postgres/`
//! (never edit one already applied), then one file here with its row struct
//! (`#[derive(sqlx::FromRow)]`, times as `i64` milliseconds turned into domain types at
//! this border) and an `impl Tx` block of methods that call `statement::sql(…)`, and its
//! `mod` line below. Its tests go in `tests/api/store.rs`, which runs each on both backends.

mod access;
mod audit_chain;
pub mod audit_guard;
mod audit_log;
mod audit_row;
mod aws;
mod begin;
mod broker_keys;
mod checkpoints;
mod db_logins;
mod error;
mod gate;
mod hold;
mod issuances;
mod leases;
mod listen;
mod locks;
mod permitted;
mod pool;
pub mod postgres;
mod reviews;
mod sessions;
mod slack_links;
mod slack_outbox;
pub mod sqlite;
mod ssh_certs;
mod statement;
mod tx;
mod users;

pub use audit_guard::AuditGuard;
pub use audit_log::ExportedAccess;
pub use aws::{DenyOutboxRow, DenyRow, NewDeny, SessionGrant};
pub use broker_keys::KeyRow;
pub use db_logins::{DbLoginRow, DueLogin, NewLogin};
pub use error::StoreError;
pub use issuances::Issuance;
pub use leases::Fence;
pub use listen::{GateListener, Heard, CHANNEL as GATE_CHANNEL};
pub use pool::{PgStore, SqliteStore, Store};
pub use sessions::SessionRecord;
pub use slack_links::Confirmation;
pub use slack_outbox::{OutboxRow, SlackMessage};
pub use ssh_certs::{NewCert, RevokedCert};
pub use tx::Tx;
pub use users::{UserProfile, UserRecord};
