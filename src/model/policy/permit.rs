//! Proof of an authorization decision. Each write that acts for a person takes a
//! [`Permit`] for what it writes: recording a request (`Tx::insert_request`), recording
//! a review (`Tx::insert_review`), and the administrator's acts (`Tx::lock`,
//! `Tx::unlock`, `Keyring::rotate`). A permit is made only here, by the check that
//! decides it, so a write path the policy did not allow does not compile — rather than
//! relying on every caller to remember the check (the approach of lldap's access-control
//! handlers). The store then checks that the permit is for the row it writes (its
//! principal and object), so a permit for one thing never writes another.
//!
//! What needs no permit, and why: the requester's own acts on their own request
//! (activate, extend, cancel) are decided by the access lifecycle from the request's
//! requester, and so is revoking it (an administrator's revocation is decided there from
//! whether the caller holds the administrator's permit); expiry is the clock's; issuing
//! a credential is held to an active grant in the issuance's own transaction.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};

use crate::model::domain::Principal;
use crate::model::policy::decide::{decide, Ask, Decision, Outcome};
use crate::model::policy::review::{may_review, ReviewRefusal};
use crate::model::policy::subject::{object, Who};
use crate::model::policy::{Action, Policy};

mod sealed {
    pub trait Sealed {}
}

/// What a permit allows. Sealed: the acts are this module's.
pub trait Act: sealed::Sealed {
    /// The act, in words (for errors and logs).
    const NAME: &'static str;
}

/// Record an access request (auto-approved, break-glass or pending).
#[derive(Debug)]
pub enum RequestAccess {}
/// Record a review of someone else's request.
#[derive(Debug)]
pub enum ReviewRequest {}
/// Act as an administrator of the broker.
#[derive(Debug)]
pub enum Administer {}

impl sealed::Sealed for RequestAccess {}
impl sealed::Sealed for ReviewRequest {}
impl sealed::Sealed for Administer {}
impl Act for RequestAccess {
    const NAME: &'static str = "request access";
}
impl Act for ReviewRequest {
    const NAME: &'static str = "review";
}
impl Act for Administer {
    const NAME: &'static str = "administer";
}

/// The decision that `who` may do `A` on `object`. Neither `Clone` nor constructible
/// outside this module.
#[derive(Debug)]
pub struct Permit<A: Act> {
    who: String,
    object: String,
    act: PhantomData<A>,
}

impl<A: Act> Permit<A> {
    fn new(who: &str, object: String) -> Self {
        Self {
            who: who.to_string(),
            object,
            act: PhantomData,
        }
    }

    /// The user id the decision is for.
    pub fn who(&self) -> &str {
        &self.who
    }

    /// What it is about: `resource#role`, or `broker` for an administrator.
    pub fn object(&self) -> &str {
        &self.object
    }

    /// Whether this permit is for `who` doing its act on `object`.
    pub fn covers(&self, who: &str, object: &str) -> bool {
        self.who == who && self.object == object
    }

    /// Why a write with this permit was refused: it is for something else.
    pub fn mismatch(&self, who: &str, object: &str) -> String {
        format!(
            "a permit to {} {} for {} was presented for {object} by {who}",
            A::NAME,
            self.object,
            self.who
        )
    }
}

/// Decides a request ([`decide`]) and, unless it is refused, permits recording it.
pub fn request(
    policy: &Policy,
    who: &Who<'_>,
    ask: &Ask,
) -> (Decision, Option<Permit<RequestAccess>>) {
    let d = decide(policy, who, ask);
    let permit = match (&d.outcome, &d.role) {
        (Outcome::Refused, _) | (_, None) => None,
        (_, Some(role)) => Some(Permit::new(who.user_id, object(&ask.resource, role))),
    };
    (d, permit)
}

/// Whether `who` may review a request for `resource#role` made by `requester_id`
/// ([`may_review`]): the reviewers in words, and the permit to record the review.
pub fn review(
    policy: &Policy,
    who: &Who<'_>,
    auth_time: Option<DateTime<Utc>>,
    (resource, role): (&str, &str),
    requester_id: &str,
    now: DateTime<Utc>,
) -> Result<(String, Permit<ReviewRequest>), ReviewRefusal> {
    let reviewers = may_review(policy, who, auth_time, resource, role, requester_id, now)?;
    Ok((reviewers, Permit::new(who.user_id, object(resource, role))))
}

/// Who administers the broker besides the policy's `admin` on `broker`: the configured
/// groups and users.
#[derive(Debug, Clone, Copy)]
pub struct Admins<'a> {
    /// Groups whose members are administrators.
    pub groups: &'a [String],
    /// Users (user id, subject or email) who are.
    pub users: &'a [String],
}

/// The object of the administrator's permit.
pub const BROKER: &str = "broker";

/// Whether the policy (`admin` on `broker`) or the configuration makes `p` an administrator.
pub fn is_admin(policy: &Policy, admins: Admins<'_>, p: &Principal) -> bool {
    if policy
        .check(p.policy_name(), &p.groups, BROKER, Action::Admin)
        .allowed
    {
        return true;
    }
    p.groups.iter().any(|g| admins.groups.contains(g))
        || admins.users.iter().any(|u| {
            *u == p.user_id
                || *u == p.subject
                || p.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(u))
        })
}

/// The administrator's permit, if `p` is one ([`is_admin`]).
pub fn administer(
    policy: &Policy,
    admins: Admins<'_>,
    p: &Principal,
) -> Option<Permit<Administer>> {
    is_admin(policy, admins, p).then(|| Permit::new(&p.user_id, BROKER.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permit_covers_only_its_principal_and_object() {
        let p: Permit<ReviewRequest> = Permit::new("u1", "db:events#read".into());
        assert!(p.covers("u1", "db:events#read"));
        assert!(!p.covers("u2", "db:events#read"));
        assert!(!p.covers("u1", "db:events#admin"));
        assert!(p
            .mismatch("u2", "aws:prod#admin")
            .contains("permit to review db:events#read for u1"));
    }
}
