//! The refusal vocabulary: every refusal the broker makes is a stable code (`no_active_grant`,
//! `session_expired`, …) with a [`Class`] saying what kind of "no" it is. Pure: the HTTP
//! status of a class is chosen only in `http::error`, the CLI's exit code only in `cli`.

/// What kind of refusal a code is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// No credential, or one that is invalid or has ended.
    Unauthenticated,
    /// Known, but not allowed.
    Forbidden,
    /// Nothing by that name.
    NotFound,
    /// Not in the state the change needs, or changed under us.
    Conflict,
    /// The request itself is wrong: its input, its path, its body.
    Invalid,
    /// Too many at once or too often.
    TooMany,
    /// The broker cannot do it right now (its audit log, a dependency it waits on); try again.
    Unavailable,
    /// A service the broker relies on (the identity provider, AWS, an upstream) failed.
    UpstreamFailed,
    /// An upstream did not answer in time.
    UpstreamTimeout,
    /// The broker itself failed; the answer never echoes internal text.
    Internal,
}
