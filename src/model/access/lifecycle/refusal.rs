//! What a transition reports: the change it made (for the audit log), or why it was
//! refused, with a stable code and a class.

use serde::Serialize;

use crate::model::access::State;
use crate::model::audit::EventKind;
use crate::model::refusal::Class;

/// What a transition did, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The audit event the change writes.
    pub event: EventKind,
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
}

/// Why a transition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionRefusal {
    /// A clock ran out; the request must be expired first.
    #[error("this request's time has run out ({0})")]
    Overdue(&'static str),
    /// The request is in the wrong state for this.
    #[error("the request is {0}, so it cannot be {1}")]
    WrongState(&'static str, &'static str),
    /// Only the requester may do this.
    #[error("only the requester may {0} this request")]
    NotRequester(&'static str),
    /// The requester reviewing their own request.
    #[error("a requester never reviews their own request")]
    SelfReview,
    /// The same human reviewing twice.
    #[error("you have already reviewed this request")]
    AlreadyReviewed,
    /// No extensions left.
    #[error("no extensions left ({0} used)")]
    NoExtensionsLeft(u32),
    /// The extension asked is longer than one extension may be.
    #[error("an extension may be at most {0}")]
    ExtensionTooLong(String),
    /// The extension would take the grant past its maximum duration.
    #[error("the grant may last at most {0} in all")]
    OverCap(String),
    /// Only the requester or an administrator may revoke.
    #[error("only the requester or an administrator may revoke this grant")]
    NotAllowedToRevoke,
}

impl TransitionRefusal {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            TransitionRefusal::Overdue(_) => "request_expired",
            TransitionRefusal::WrongState(..) => "wrong_state",
            TransitionRefusal::NotRequester(_) => "not_requester",
            TransitionRefusal::SelfReview => "self_review",
            TransitionRefusal::AlreadyReviewed => "already_reviewed",
            TransitionRefusal::NoExtensionsLeft(_) => "no_extensions_left",
            TransitionRefusal::ExtensionTooLong(_) => "extension_too_long",
            TransitionRefusal::OverCap(_) => "over_maximum_duration",
            TransitionRefusal::NotAllowedToRevoke => "not_allowed_to_revoke",
        }
    }

    /// What kind of refusal it is.
    pub fn class(&self) -> Class {
        use TransitionRefusal as R;
        match self {
            R::Overdue(_) | R::WrongState(..) | R::AlreadyReviewed => Class::Conflict,
            R::NotRequester(_) | R::SelfReview | R::NotAllowedToRevoke => Class::Forbidden,
            R::NoExtensionsLeft(_) | R::ExtensionTooLong(_) | R::OverCap(_) => Class::Invalid,
        }
    }
}
