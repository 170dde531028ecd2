//! The broker's operations, one transaction each, with their audit events. No HTTP here;
//! handlers call these.
//!
//! - `login`: log in through the OpenID provider (browser login, device flow).
//! - `login_dev`: the development login, on a development broker only.
//! - `session_open`: opening a session for a logged-in identity; auditing refused logins.
//! - `session_auth`: authenticate a session token, log out.
//! - `devmode`: ending development sessions on a broker started without `--dev`.
//! - [`admin`]: lock and unlock users, rotate keys.
//! - [`shared_keys`]: the keys every replica shares through the database, sealed; imported
//!   from disk once, reloaded when another replica rotates them.
//! - `access_create`: create requests (decided by the policy, refusals audited).
//! - `access`: activate, extend, cancel, revoke, sweep; a request's view and audit events.
//! - `review`: approve and deny; one request with its reviews; the lists.
//! - `error_class`: the refusal class and stable code of each [`ServiceError`].
//! - `credentials`: broker tokens inside active grants; what every credential shares.
//! - `credentials_aws`: AWS sessions inside active grants, through AssumeRole.
//! - `credentials_db`: PostgreSQL logins inside active grants, one per grant, made on first use.
//! - [`db_check`]: the start-up check of the broker's role on each database; the development databases.
//! - [`db_logins`]: the worker that ends those logins (sessions terminated, role dropped) when their grant ends.
//! - `credentials_ssh`: OpenSSH user certificates inside active grants, signed by the broker's CA.
//! - [`ssh_krl`]: the CA keys hosts trust and the revocation list they read (the last one kept in `krl_cache`); rotating the CA.
//! - `ssh_refusal`: why a certificate is not issued, with its stable code.
//! - `issuance`: handing a minted credential out only if its grant, session and user still stand.
//! - `aws_deny`: queues the denial at AWS of the sessions of a revoked grant or a locked user.
//! - [`aws_deny_sync`]: the worker that writes those denies to IAM and removes them when spent.
//! - [`replica`]: this process among the replicas: its identity, the lease of the periodic jobs;
//!   [`lease`]: taking, renewing and checking that lease.
//! - [`audit`]: checkpoints, verification, following the audit log.
//! - `audit_export`: exporting an evidence bundle, with its checkpoint and its audit event.
//! - `audit_check`: the log since the newest checkpoint still holds, before signing and at start.
//! - `audit_findings`: what that check finds wrong, each problem in words with its range.
//! - [`slack`]: Slack approvals: one-time codes that link a Slack user to the caller, the
//!   outbox of notifications, Approve and Deny clicks, the slash command, fresh logins.
//! - [`gate`]: admissions through the gate, the streams it holds open and ends when their
//!   grant ends, the live events service's tokens.
//! - [`audit_verify`]: verifying the live log or a bundle; [`export`]: evidence bundles;
//!   [`audit_feed`]: following the log.

mod access;
mod access_create;
pub mod admin;
pub mod audit;
mod audit_check;
mod audit_export;
pub mod audit_feed;
mod audit_findings;
pub mod audit_verify;
mod aws_deny;
pub mod aws_deny_sync;
mod core;
mod credentials;
mod credentials_aws;
mod credentials_db;
pub mod credentials_ssh;
pub mod db_check;
pub mod db_logins;
mod devmode;
mod error;
mod error_class;
pub mod export;
pub mod gate;
mod in_flight;
mod issuance;
mod krl_cache;
pub mod lease;
mod login;
mod login_dev;
pub mod readiness;
pub mod replica;
mod request_find;
mod review;
pub mod services;
mod session_auth;
mod session_open;
pub mod shared_keys;
pub mod slack;
pub mod ssh_krl;
mod ssh_refusal;

pub use crate::app::core::Core;
pub use crate::app::error::ServiceError;
pub use crate::app::services::{
    Access, Admin, App, Audit, Credentials, Gatekeeper, Parts, Sessions, Slack,
};
pub use crate::model::domain::ClientInfo;
pub use access::RequestView;
pub use credentials::IssuedToken;
pub use issuance::{InFlight, Pause};
pub use login::BrowserLogin;
pub use login_dev::DEV_ISSUER;
pub use session_open::IssuedSession;
pub use slack::LinkCode;
