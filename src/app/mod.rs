//! The broker's operations, one transaction each, with their audit events. No HTTP here;
//! handlers call these.
//!
//! - `login`: log in (OIDC, development), authenticate a session token, log out.
//! - `devmode`: ending development sessions on a broker started without `--dev`.
//! - [`admin`]: lock and unlock users, rotate keys.
//! - `access`: create requests (decided by the policy), activate, extend, cancel, revoke, sweep.
//! - `review`: approve and deny; one request with its reviews; the lists.
//! - `error_class`: the refusal class and stable code of each [`ServiceError`].
//! - `credentials`: broker tokens and AWS sessions inside active grants.
//! - `issuance`: handing a minted credential out only if its grant, session and user still stand.
//! - `aws_deny`: queues the denial at AWS of the sessions of a revoked grant or a locked user.
//! - [`aws_deny_sync`]: the worker that writes those denies to IAM and removes them when spent.
//! - [`audit`]: checkpoints, verification, following and exporting the audit log.
//! - `audit_check`: the log since the newest checkpoint still holds, before signing and at start.
//! - [`slack`]: Slack approvals: one-time codes that link a Slack user to the caller, the
//!   outbox of notifications, Approve and Deny clicks, the slash command, fresh logins.
//! - [`gate`]: admissions through the gate, the streams it holds open and ends when their
//!   grant ends, the live events service's tokens.
//! - [`audit_verify`]: verifying the live log or a bundle; [`export`]: evidence bundles;
//!   [`audit_feed`]: following the log.

mod access;
pub mod admin;
pub mod audit;
mod audit_check;
pub mod audit_feed;
pub mod audit_verify;
mod aws_deny;
pub mod aws_deny_sync;
mod credentials;
mod devmode;
mod error_class;
pub mod export;
pub mod gate;
mod issuance;
mod login;
mod review;
pub mod slack;

use std::sync::Arc;

use crate::adapters::auth::oidc::{IdTokenError, IdTokenVerifier};
use crate::adapters::auth::session::SessionTokenError;
use crate::adapters::keys::{KeyError, Keyring};
use crate::config::Config;
use crate::model::domain::Principal;
use crate::model::policy::{Action, PolicyHandle};
use crate::store::{Store, StoreError};

pub use crate::model::domain::ClientInfo;
pub use access::RequestView;
pub use credentials::IssuedToken;
pub(crate) use issuance::{Ended, Holder, Minted};
pub use issuance::{InFlight, Pause};
pub use login::{BrowserLogin, IssuedSession, DEV_ISSUER};
pub use slack::LinkCode;

/// The broker's core: configuration, storage, keys and the provider's verifier.
pub struct Broker {
    /// Validated configuration.
    pub config: Config,
    /// Storage.
    pub store: Store,
    /// Signing keys.
    pub keyring: Keyring,
    /// ID token verifier; `None` when no provider is configured (development mode only).
    pub verifier: Option<IdTokenVerifier>,
    /// The policy in force.
    pub policy: PolicyHandle,
    /// AWS STS.
    pub aws: crate::adapters::providers::aws::AwsProvider,
    /// AWS IAM, where revoked sessions are denied.
    pub iam: crate::adapters::providers::aws_iam::IamClient,
    /// Signs audit checkpoints and evidence manifests.
    pub audit_key: crate::adapters::keys::audit::AuditKey,
    /// Outbound HTTP (hooks, the checkpoint sink).
    pub http: reqwest::Client,
    /// The Slack Web API; `None` when Slack is not configured.
    pub slack: Option<crate::adapters::slack::api::SlackApi>,
    /// The gate: open streams and recent admissions.
    pub gate: crate::app::gate::Gate,
    /// A test seam: pauses where something is granted on an earlier read (unset here).
    pub in_flight: InFlight,
}

/// A shared handle to the broker.
pub type SharedBroker = Arc<Broker>;

/// Why an operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The ID token failed verification.
    #[error(transparent)]
    IdToken(#[from] IdTokenError),
    /// This ID token was already exchanged for a session.
    #[error("this ID token was already used to log in; log in again")]
    IdTokenReplayed,
    /// The browser login is unknown, used or expired.
    #[error("this login attempt is unknown, already used or expired; run `latchkey login` again")]
    LoginAttemptInvalid,
    /// No identity provider is configured.
    #[error("this broker has no identity provider configured")]
    NoProvider,
    /// The development login is off.
    #[error("the development login is accepted only by a server started with `latchkey serve --dev` on loopback")]
    DevLoginDisabled,
    /// The user is locked.
    #[error("this user is locked by an administrator")]
    UserLocked,
    /// No or a bad session token.
    #[error("{0}")]
    Unauthenticated(#[from] SessionTokenError),
    /// The session was ended (logout, lock).
    #[error("this session has ended; run `latchkey login`")]
    SessionRevoked,
    /// A development session presented to a broker not in development mode.
    #[error("this is a development session and this broker is not in development mode; run `latchkey login`")]
    DevSessionRefused,
    /// Too many browser logins are pending; they expire after ten minutes.
    #[error("too many logins are in progress; try again in a few minutes")]
    TooManyPendingLogins,
    /// The principal may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Input was wrong.
    #[error("{0}")]
    BadRequest(String),
    /// Nothing by that name.
    #[error("{0}")]
    NotFound(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Key handling failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
    /// The policy refused a request; the decision says why and what would make it possible.
    #[error("{}", .0.explanation.last().map(String::as_str).unwrap_or("refused by the policy"))]
    Refused(Box<crate::model::policy::decide::Decision>),
    /// The caller may not review this request.
    #[error("{}", .0.message)]
    ReviewRefused(crate::model::policy::review::ReviewRefusal),
    /// The request's state or rules do not allow this.
    #[error(transparent)]
    Lifecycle(#[from] crate::model::access::lifecycle::TransitionRefusal),
    /// No active grant: the message names the command that would request one.
    #[error("you have no active grant for {resource}; request one: {command}")]
    NoActiveGrant {
        /// The resource.
        resource: String,
        /// The command that would request it.
        command: String,
    },
    /// The grant ends too soon for the shortest credential the provider issues.
    #[error(
        "the grant ends in less than {minimum}; extend it first: latchkey extend {grant} --for 1h"
    )]
    GrantEndingSoon {
        /// The grant.
        grant: String,
        /// The provider's shortest credential.
        minimum: String,
    },
    /// The provider refused or failed; nothing was issued.
    #[error(transparent)]
    Aws(#[from] crate::adapters::providers::aws::AwsError),
    /// The request kept changing under us.
    #[error("the request changed concurrently; try again")]
    Conflict,
    /// An evidence bundle could not be written.
    #[error("the evidence export failed: {0}")]
    Export(String),
    /// The operating system's random number generator failed: no identifier was made.
    #[error(transparent)]
    Random(#[from] crate::model::random::RandomError),
}

impl Broker {
    /// The name policy lines use for a principal: the verified email, else the user id.
    pub fn policy_name(p: &Principal) -> &str {
        p.email.as_deref().unwrap_or(&p.user_id)
    }

    /// Whether the policy (`admin` on `broker`) or the configuration makes this principal an administrator.
    pub fn is_admin(&self, p: &Principal) -> bool {
        if self
            .policy
            .current()
            .check(Self::policy_name(p), &p.groups, "broker", Action::Admin)
            .allowed
        {
            return true;
        }
        let admin = &self.config.admin;
        p.groups.iter().any(|g| admin.groups.contains(g))
            || admin.users.iter().any(|u| {
                *u == p.user_id
                    || *u == p.subject
                    || p.email
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(u))
            })
    }

    fn require_admin(&self, p: &Principal, what: &str) -> Result<(), ServiceError> {
        if self.is_admin(p) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "only an administrator may {what}; administrators are those the policy allows `admin` on `broker`, and the configured groups {:?} and users {:?}",
                self.config.admin.groups, self.config.admin.users
            )))
        }
    }
}
