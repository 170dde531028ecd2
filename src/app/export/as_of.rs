//! The state of a request at one instant, the end of an export's period: read the same
//! way by every file of a bundle and by its report, so they agree.

use chrono::{DateTime, Utc};

use crate::model::access::{AccessRequest, State};

/// When a request's access ended, as of `at`: its recorded end, or the expiry of its
/// grant if that came first (the expiry worker records an expiry a little after it
/// happens). `None` while it goes on at `at`.
pub fn ended_by(r: &AccessRequest, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let expiry = r.activated_at.and(r.expires_at);
    let end = match (r.ended_at, expiry) {
        (Some(ended), Some(expiry)) => Some(ended.min(expiry)),
        (ended, expiry) => ended.or(expiry),
    };
    end.filter(|t| *t <= at)
}

/// How a request's access ended by `at` (see [`ended_by`]): its recorded state, or
/// `expired` for a grant past its expiry that the worker has not closed yet.
pub(super) fn ended_as(r: &AccessRequest, at: DateTime<Utc>) -> &'static str {
    match r.ended_at {
        Some(t) if t <= at => r.state.as_str(),
        _ => State::Expired.as_str(),
    }
}

/// The state a request was in at `at` (the end of the period). Every file and the
/// report read it from here, so they agree.
pub fn state_at(r: &AccessRequest, at: DateTime<Utc>) -> &'static str {
    if ended_by(r, at).is_some() {
        ended_as(r, at)
    } else if r.activated_at.is_some_and(|t| t < at) {
        State::Active.as_str()
    } else if r.decided_at.is_some_and(|t| t < at) {
        State::Approved.as_str()
    } else {
        State::Pending.as_str()
    }
}

/// Whether `r` was an active grant at `at`: [`state_at`] says `active`.
pub fn held_at(r: &AccessRequest, at: DateTime<Utc>) -> bool {
    state_at(r, at) == State::Active.as_str()
}
