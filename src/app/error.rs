//! Why an operation of the application layer failed.

use crate::adapters::auth::oidc::IdTokenError;
use crate::adapters::auth::session::SessionTokenError;
use crate::adapters::keys::KeyError;
use crate::store::StoreError;

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
    /// A typed request id is a prefix of several requests the caller may see.
    #[error("{typed} could mean {} requests; name one: {}", .candidates.len(), .candidates.iter().map(|c| c.line()).collect::<Vec<_>>().join("; "))]
    AmbiguousRequestId {
        /// What was typed.
        typed: String,
        /// The requests it could mean (only those the caller may see).
        candidates: Vec<crate::model::wire::RequestCandidate>,
    },
    /// A typed request id is too short to be a prefix.
    #[error("a request id prefix needs at least {0} hex digits")]
    RequestIdTooShort(usize),
    /// `view=all` asked by someone who may see only their own requests.
    #[error("only administrators, audit readers and reviewers may list others' requests; yours are `view=mine`")]
    ViewAllForbidden,
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
    /// The grant ends too soon for the shortest credential the provider issues; `next`
    /// says what may help, within what the grant's terms allow.
    #[error("the grant ends in less than {minimum}; {next}")]
    GrantEndingSoon {
        /// The grant.
        grant: String,
        /// The provider's shortest credential.
        minimum: String,
        /// What to do next: extend by what the terms still allow, or request again.
        next: String,
    },
    /// The provider refused or failed; nothing was issued.
    #[error(transparent)]
    Aws(#[from] crate::adapters::providers::aws::AwsError),
    /// A database refused or failed; nothing was issued.
    #[error(transparent)]
    Db(#[from] crate::adapters::providers::postgres::PgError),
    /// An SSH certificate was refused; nothing was issued.
    #[error(transparent)]
    Ssh(#[from] crate::app::ssh_refusal::SshRefusal),
    /// The grant's login is still being made by another call.
    #[error("the login of grant {0} is still being made; try again in a moment")]
    DbLoginBusy(String),
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

/// A token that could not be minted fails as its cause does (no id: `Random`; signing:
/// `Sign`).
impl From<crate::adapters::mint::MintError> for ServiceError {
    fn from(e: crate::adapters::mint::MintError) -> Self {
        use crate::adapters::mint::MintError;
        match e {
            MintError::Random(e) => ServiceError::Random(e),
            MintError::Sign(e) => ServiceError::Sign(e),
        }
    }
}
