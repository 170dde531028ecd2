//! Transitions of an access request. Each checks the clocks first: a request whose
//! clock has run out must be expired (see [`AccessRequest::due`]) before anything else.

use std::time::Duration;

use crate::model::access::{add, AccessRequest, Review, State, Verdict};
use crate::model::audit::EventKind;
use chrono::{DateTime, Utc};

mod refusal;
pub use refusal::{Change, TransitionRefusal};

/// Longest comment a denial's end reason repeats (the review keeps all of it).
const DENIAL_COMMENT_CHARS: usize = 200;

/// `denied by carol@example.com: "use staging"`: who, and why in their words (on one
/// line, clipped), so the requester sees the reason wherever the end is shown.
fn denial_reason(review: &Review) -> String {
    let comment = review.comment.as_deref().map(str::trim).unwrap_or("");
    if comment.is_empty() {
        return format!("denied by {}", review.reviewer_name);
    }
    let one_line: String = comment.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut clipped: String = one_line.chars().take(DENIAL_COMMENT_CHARS).collect();
    if clipped.len() < one_line.len() {
        clipped.push('…');
    }
    format!("denied by {}: {clipped:?}", review.reviewer_name)
}

impl AccessRequest {
    /// Which clock has run out at `now`, if any.
    pub fn due(&self, now: DateTime<Utc>) -> Option<&'static str> {
        match self.state {
            State::Pending if now >= self.pending_until => Some("not decided in time"),
            State::Approved if self.activation_deadline.is_some_and(|d| now >= d) => {
                Some("not activated in time")
            }
            State::Active if self.expires_at.is_some_and(|e| now >= e) => Some("access ended"),
            _ => None,
        }
    }

    fn end(&mut self, to: State, reason: String, now: DateTime<Utc>) {
        self.state = to;
        self.ended_at = Some(now);
        self.end_reason = Some(reason);
    }

    fn check_live(&self, now: DateTime<Utc>) -> Result<(), TransitionRefusal> {
        match self.due(now) {
            Some(why) => Err(TransitionRefusal::Overdue(why)),
            None => Ok(()),
        }
    }

    /// Expires the request if a clock has run out.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Option<Change> {
        let why = self.due(now)?;
        let from = self.state;
        let event = match from {
            State::Active => EventKind::GrantExpired,
            _ => EventKind::RequestExpired,
        };
        self.end(State::Expired, why.to_string(), now);
        Some(Change {
            event,
            from,
            to: State::Expired,
        })
    }

    /// Counts distinct reviewers per verdict, never the requester.
    pub fn tally(&self, reviews: &[Review]) -> (u32, u32) {
        let mut seen = std::collections::HashSet::new();
        let (mut approvals, mut denials) = (0, 0);
        for r in reviews
            .iter()
            .filter(|r| r.reviewer_id != self.requester_id)
        {
            if seen.insert(r.reviewer_id.as_str()) {
                match r.verdict {
                    Verdict::Approve => approvals += 1,
                    Verdict::Deny => denials += 1,
                }
            }
        }
        (approvals, denials)
    }

    /// Records the effect of `review` given the `earlier` ones. Accepted while pending or
    /// approved-but-not-active: a denial threshold ends the request even after approvals.
    pub fn review(
        &mut self,
        earlier: &[Review],
        review: &Review,
        now: DateTime<Utc>,
    ) -> Result<Option<Change>, TransitionRefusal> {
        if review.reviewer_id == self.requester_id {
            return Err(TransitionRefusal::SelfReview);
        }
        if earlier.iter().any(|r| r.reviewer_id == review.reviewer_id) {
            return Err(TransitionRefusal::AlreadyReviewed);
        }
        if self.breakglass {
            return Ok(self.review_after_the_fact(review, now));
        }
        self.check_live(now)?;
        if !matches!(self.state, State::Pending | State::Approved) {
            return Err(TransitionRefusal::WrongState(
                self.state.as_str(),
                "reviewed",
            ));
        }
        let mut all = earlier.to_vec();
        all.push(review.clone());
        let (approvals, denials) = self.tally(&all);
        let from = self.state;
        if denials >= self.terms.denials {
            self.decided_at = Some(now);
            self.end(State::Denied, denial_reason(review), now);
            return Ok(Some(Change {
                event: EventKind::RequestDenied,
                from,
                to: State::Denied,
            }));
        }
        if from == State::Pending && approvals >= self.terms.approvals {
            self.state = State::Approved;
            self.decided_at = Some(now);
            self.activation_deadline = Some(add(now, self.terms.activation_window));
            return Ok(Some(Change {
                event: EventKind::RequestApproved,
                from,
                to: State::Approved,
            }));
        }
        Ok(None)
    }

    /// Break-glass is reviewed after the fact, in any state; a denial of live access ends it.
    fn review_after_the_fact(&mut self, review: &Review, now: DateTime<Utc>) -> Option<Change> {
        if review.verdict == Verdict::Deny && self.state == State::Active && self.due(now).is_none()
        {
            self.end(
                State::Revoked,
                format!("break-glass denied on review by {}", review.reviewer_name),
                now,
            );
            return Some(Change {
                event: EventKind::GrantRevoked,
                from: State::Active,
                to: State::Revoked,
            });
        }
        None
    }

    /// The requester starts the access; it lasts `duration` from now.
    pub fn activate(
        &mut self,
        actor_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Change, TransitionRefusal> {
        self.check_live(now)?;
        if self.state != State::Approved {
            return Err(TransitionRefusal::WrongState(
                self.state.as_str(),
                "activated",
            ));
        }
        if actor_id != self.requester_id {
            return Err(TransitionRefusal::NotRequester("activate"));
        }
        self.state = State::Active;
        self.activated_at = Some(now);
        self.expires_at = Some(add(now, self.duration));
        Ok(Change {
            event: EventKind::GrantActivated,
            from: State::Approved,
            to: State::Active,
        })
    }

    /// The requester extends live access by `by`, within the role's caps.
    pub fn extend(
        &mut self,
        actor_id: &str,
        by: Duration,
        now: DateTime<Utc>,
    ) -> Result<Change, TransitionRefusal> {
        self.check_live(now)?;
        if self.state != State::Active {
            return Err(TransitionRefusal::WrongState(
                self.state.as_str(),
                "extended",
            ));
        }
        if actor_id != self.requester_id {
            return Err(TransitionRefusal::NotRequester("extend"));
        }
        if self.extensions_used >= self.terms.max_extensions {
            return Err(TransitionRefusal::NoExtensionsLeft(self.extensions_used));
        }
        if by.is_zero() || by > self.terms.extension {
            return Err(TransitionRefusal::ExtensionTooLong(
                crate::model::duration::format(self.terms.extension),
            ));
        }
        let (Some(start), Some(end)) = (self.activated_at, self.expires_at) else {
            return Err(TransitionRefusal::WrongState(
                self.state.as_str(),
                "extended",
            ));
        };
        let new_end = add(end, by);
        if new_end - start
            > chrono::Duration::from_std(self.terms.max_duration).unwrap_or(chrono::Duration::MAX)
        {
            return Err(TransitionRefusal::OverCap(crate::model::duration::format(
                self.terms.max_duration,
            )));
        }
        self.expires_at = Some(new_end);
        self.extensions_used += 1;
        Ok(Change {
            event: EventKind::GrantExtended,
            from: State::Active,
            to: State::Active,
        })
    }

    /// The longest extension [`extend`](Self::extend) would still accept, in whole minutes:
    /// none when the grant is not active, its extensions are used up, or its total cap
    /// leaves less than a minute. What a hint may suggest, and nothing more.
    pub fn extension_left(&self) -> Option<Duration> {
        if self.state != State::Active || self.extensions_used >= self.terms.max_extensions {
            return None;
        }
        let (start, end) = (self.activated_at?, self.expires_at?);
        let used = (end - start).to_std().unwrap_or_default();
        let room = self
            .terms
            .max_duration
            .saturating_sub(used)
            .min(self.terms.extension);
        let minutes = Duration::from_secs(room.as_secs() / 60 * 60);
        (!minutes.is_zero()).then_some(minutes)
    }

    /// The requester withdraws a request that is not yet active.
    pub fn cancel(
        &mut self,
        actor_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Change, TransitionRefusal> {
        self.check_live(now)?;
        if !matches!(self.state, State::Pending | State::Approved) {
            return Err(TransitionRefusal::WrongState(
                self.state.as_str(),
                "cancelled",
            ));
        }
        if actor_id != self.requester_id {
            return Err(TransitionRefusal::NotRequester("cancel"));
        }
        let from = self.state;
        self.end(State::Cancelled, "cancelled by the requester".into(), now);
        Ok(Change {
            event: EventKind::RequestCancelled,
            from,
            to: State::Cancelled,
        })
    }

    /// Ends an approved or active grant early: the requester or an administrator.
    pub fn revoke(
        &mut self,
        actor_id: &str,
        actor_name: &str,
        is_admin: bool,
        now: DateTime<Utc>,
    ) -> Result<Change, TransitionRefusal> {
        self.check_live(now)?;
        if !matches!(self.state, State::Approved | State::Active) {
            return Err(TransitionRefusal::WrongState(
                self.state.as_str(),
                "revoked",
            ));
        }
        if actor_id != self.requester_id && !is_admin {
            return Err(TransitionRefusal::NotAllowedToRevoke);
        }
        let from = self.state;
        self.end(State::Revoked, format!("revoked by {actor_name}"), now);
        Ok(Change {
            event: EventKind::GrantRevoked,
            from,
            to: State::Revoked,
        })
    }
}

#[cfg(test)]
mod tests;
