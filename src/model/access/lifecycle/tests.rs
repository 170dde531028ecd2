use std::time::Duration;

use chrono::{DateTime, Utc};
use proptest::prelude::*;

use crate::model::access::lifecycle::{denial_reason, TransitionRefusal};
use crate::model::access::{AccessRequest, NewRequest, Review, Start, State, Terms, Verdict};
use crate::model::audit::EventKind;

fn terms(approvals: u32, denials: u32, max_extensions: u32) -> Terms {
    Terms {
        approvals,
        denials,
        activation_window: Duration::from_secs(900),
        max_duration: Duration::from_secs(4 * 3600),
        max_extensions,
        extension: Duration::from_secs(3600),
    }
}

fn request(t: Terms, start: Start, now: DateTime<Utc>) -> AccessRequest {
    AccessRequest::create(
        NewRequest {
            id: "r1".into(),
            requester_id: "alice".into(),
            requester_name: "alice@example.com".into(),
            resource: "aws:prod".into(),
            role: "admin".into(),
            reason: Some("because".into()),
            ticket: None,
            duration: Duration::from_secs(3600),
            pending_timeout: Duration::from_secs(3600),
            terms: t,
        },
        start,
        now,
    )
}

fn review(who: &str, verdict: Verdict, at: DateTime<Utc>) -> Review {
    Review {
        reviewer_id: who.into(),
        reviewer_name: who.into(),
        verdict,
        comment: None,
        at,
    }
}

fn secs(s: i64) -> chrono::Duration {
    chrono::Duration::seconds(s)
}

#[test]
fn two_approvals_then_activation_then_expiry() {
    let t0 = Utc::now();
    let mut r = request(terms(2, 1, 1), Start::Pending, t0);
    let mut reviews = vec![];
    let first = review("bob", Verdict::Approve, t0);
    assert_eq!(r.review(&reviews, &first, t0), Ok(None));
    reviews.push(first);
    let second = review("carol", Verdict::Approve, t0 + secs(10));
    assert_eq!(
        r.review(&reviews, &second, t0 + secs(10))
            .unwrap()
            .unwrap()
            .to,
        State::Approved
    );
    assert_eq!(
        r.activate("bob", t0 + secs(20)),
        Err(TransitionRefusal::NotRequester("activate"))
    );
    r.activate("alice", t0 + secs(20)).unwrap();
    assert_eq!(r.expires_at, Some(t0 + secs(20) + secs(3600)));
    assert_eq!(r.due(t0 + secs(3620)), Some("access ended"));
    assert_eq!(
        r.extend("alice", Duration::from_secs(60), t0 + secs(3620)),
        Err(TransitionRefusal::Overdue("access ended"))
    );
    assert_eq!(
        r.expire(t0 + secs(3620)).unwrap().event,
        EventKind::GrantExpired
    );
    assert_eq!(r.state, State::Expired);
}

#[test]
fn the_requester_never_reviews_and_nobody_reviews_twice() {
    let t0 = Utc::now();
    let mut r = request(terms(1, 1, 0), Start::Pending, t0);
    assert_eq!(
        r.review(&[], &review("alice", Verdict::Approve, t0), t0),
        Err(TransitionRefusal::SelfReview)
    );
    let mut r2 = request(terms(2, 2, 0), Start::Pending, t0);
    let earlier = vec![review("bob", Verdict::Approve, t0)];
    assert_eq!(
        r2.review(&earlier, &review("bob", Verdict::Approve, t0), t0),
        Err(TransitionRefusal::AlreadyReviewed)
    );
    assert_eq!(r.state, State::Pending);
}

#[test]
fn a_denial_ends_it_even_after_approvals_and_before_activation() {
    let t0 = Utc::now();
    let mut r = request(terms(1, 1, 0), Start::Pending, t0);
    let approve = review("bob", Verdict::Approve, t0);
    r.review(&[], &approve, t0).unwrap();
    assert_eq!(r.state, State::Approved);
    let deny = review("carol", Verdict::Deny, t0);
    assert_eq!(
        r.review(&[approve], &deny, t0).unwrap().unwrap().to,
        State::Denied
    );
    assert_eq!(
        r.activate("alice", t0),
        Err(TransitionRefusal::WrongState("denied", "activated"))
    );
}

#[test]
fn each_clock_runs_out_on_its_own() {
    let t0 = Utc::now();
    let mut pending = request(terms(1, 1, 0), Start::Pending, t0);
    assert_eq!(pending.due(t0 + secs(3599)), None);
    assert_eq!(
        pending.expire(t0 + secs(3600)).unwrap().event,
        EventKind::RequestExpired
    );
    let mut approved = request(terms(1, 1, 0), Start::Pending, t0);
    approved
        .review(&[], &review("bob", Verdict::Approve, t0), t0)
        .unwrap();
    // The activation window (15 minutes) counts from the approval, not the request.
    assert_eq!(
        approved.activate("alice", t0 + secs(900)),
        Err(TransitionRefusal::Overdue("not activated in time"))
    );
    assert!(approved.expire(t0 + secs(900)).is_some());
}

#[test]
fn extensions_are_capped_in_number_length_and_total() {
    let t0 = Utc::now();
    let mut r = request(terms(1, 1, 5), Start::AutoApproved, t0);
    assert_eq!(
        r.extend("alice", Duration::from_secs(7200), t0),
        Err(TransitionRefusal::ExtensionTooLong("1h".into()))
    );
    r.extend("alice", Duration::from_secs(3600), t0).unwrap();
    r.extend("alice", Duration::from_secs(3600), t0).unwrap();
    r.extend("alice", Duration::from_secs(3600), t0).unwrap();
    assert_eq!(
        r.extend("alice", Duration::from_secs(60), t0),
        Err(TransitionRefusal::OverCap("4h".into()))
    );
    let mut none = request(terms(1, 1, 0), Start::AutoApproved, t0);
    assert_eq!(
        none.extend("alice", Duration::from_secs(60), t0),
        Err(TransitionRefusal::NoExtensionsLeft(0))
    );
}

#[test]
fn the_extension_left_is_what_extend_would_accept() {
    let t0 = Utc::now();
    // 1h granted, 4h cap, extensions of at most 1h: two left, then the cap.
    let mut r = request(terms(1, 1, 5), Start::AutoApproved, t0);
    assert_eq!(r.extension_left(), Some(Duration::from_secs(3600)));
    for _ in 0..3 {
        let by = r.extension_left().unwrap();
        r.extend("alice", by, t0).unwrap();
    }
    assert_eq!(r.extension_left(), None);
    // None allowed by the role: nothing to suggest.
    let none = request(terms(1, 1, 0), Start::AutoApproved, t0);
    assert_eq!(none.extension_left(), None);
    // Used up.
    let mut once = request(terms(1, 1, 1), Start::AutoApproved, t0);
    once.extend("alice", Duration::from_secs(1800), t0).unwrap();
    assert_eq!(once.extension_left(), None);
    // Shorter than an hour: the role's own extension, not a guess.
    let mut short = terms(1, 1, 2);
    short.extension = Duration::from_secs(900);
    let mut r = request(short, Start::AutoApproved, t0);
    assert_eq!(r.extension_left(), Some(Duration::from_secs(900)));
    r.extend("alice", Duration::from_secs(900), t0).unwrap();
    // A pending request has nothing to extend.
    assert_eq!(
        request(terms(1, 1, 2), Start::Pending, t0).extension_left(),
        None
    );
}

#[test]
fn revocation_by_the_requester_or_an_administrator_only() {
    let t0 = Utc::now();
    let mut r = request(terms(1, 1, 0), Start::AutoApproved, t0);
    assert_eq!(
        r.revoke("mallory", "mallory", false, t0),
        Err(TransitionRefusal::NotAllowedToRevoke)
    );
    r.revoke("root", "root", true, t0).unwrap();
    assert_eq!(r.state, State::Revoked);
    assert_eq!(r.end_reason.as_deref(), Some("revoked by root"));
}

#[test]
fn break_glass_is_reviewed_after_the_fact_and_a_denial_ends_it() {
    let t0 = Utc::now();
    let mut r = request(terms(1, 1, 0), Start::Breakglass, t0);
    assert_eq!(r.state, State::Active);
    assert_eq!(
        r.review(&[], &review("alice", Verdict::Approve, t0), t0),
        Err(TransitionRefusal::SelfReview)
    );
    let ok = review("bob", Verdict::Approve, t0);
    assert_eq!(r.review(&[], &ok, t0), Ok(None));
    assert_eq!(r.state, State::Active);
    let no = review("carol", Verdict::Deny, t0);
    assert_eq!(
        r.review(&[ok], &no, t0).unwrap().unwrap().to,
        State::Revoked
    );
}

#[derive(Debug, Clone)]
enum Op {
    Wait(i64),
    Review(usize, bool),
    Activate(usize),
    Extend(usize, u64),
    Cancel(usize),
    Revoke(usize, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0i64..2500).prop_map(Op::Wait),
        (0usize..5, any::<bool>()).prop_map(|(a, b)| Op::Review(a, b)),
        (0usize..5).prop_map(Op::Activate),
        (0usize..5, 1u64..7200).prop_map(|(a, s)| Op::Extend(a, s)),
        (0usize..5).prop_map(Op::Cancel),
        (0usize..5, any::<bool>()).prop_map(|(a, b)| Op::Revoke(a, b)),
    ]
}

const PEOPLE: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever happens, in any order and at any time: no grant without its thresholds
    /// (or auto-approval or break-glass), no self-review, nobody counted twice, no grant
    /// past its cap, a denial always ends it, and what has ended stays ended.
    #[test]
    fn the_lifecycle_keeps_its_rules(
        approvals in 1u32..4, denials in 1u32..3, max_ext in 0u32..3,
        start in prop_oneof![Just(Start::Pending), Just(Start::Pending), Just(Start::AutoApproved), Just(Start::Breakglass)],
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let t0 = Utc::now();
        let mut now = t0;
        let mut r = request(terms(approvals, denials, max_ext), start, t0);
        let mut reviews: Vec<Review> = vec![];
        for op in ops {
            let before = r.state;
            if let Op::Wait(s) = op {
                now += secs(s);
                continue;
            }
            r.expire(now);
            if r.state.is_terminal() {
                let frozen = r.clone();
                let _ = r.activate("alice", now);
                let _ = r.extend("alice", Duration::from_secs(60), now);
                let _ = r.cancel("alice", now);
                let _ = r.revoke("alice", "alice", true, now);
                if !r.breakglass {
                    let _ = r.review(&reviews, &review("bob", Verdict::Deny, now), now);
                }
                prop_assert_eq!(&r, &frozen);
                continue;
            }
            match op {
                Op::Wait(_) => {}
                Op::Review(who, approve) => {
                    let v = if approve { Verdict::Approve } else { Verdict::Deny };
                    let new = review(PEOPLE[who], v, now);
                    if r.review(&reviews, &new, now).is_ok() {
                        reviews.push(new);
                    }
                }
                Op::Activate(who) => { let _ = r.activate(PEOPLE[who], now); }
                Op::Extend(who, s) => { let _ = r.extend(PEOPLE[who], Duration::from_secs(s), now); }
                Op::Cancel(who) => { let _ = r.cancel(PEOPLE[who], now); }
                Op::Revoke(who, admin) => { let _ = r.revoke(PEOPLE[who], PEOPLE[who], admin, now); }
            }
            let (yes, no) = r.tally(&reviews);
            prop_assert!(reviews.iter().all(|rv| rv.reviewer_id != "alice"), "self-review recorded");
            let mut ids: Vec<_> = reviews.iter().map(|rv| rv.reviewer_id.clone()).collect();
            ids.sort();
            ids.dedup();
            prop_assert_eq!(ids.len(), reviews.len(), "a human counted twice");
            if r.activated_at.is_some() {
                prop_assert!(r.auto_approved || r.breakglass || yes >= approvals, "active without its approvals");
                let span = r.expires_at.unwrap() - r.activated_at.unwrap();
                prop_assert!(span <= secs(4 * 3600), "grant longer than its cap: {span}");
            }
            if no >= denials && !r.breakglass {
                prop_assert_eq!(r.state, State::Denied);
            }
            if before.is_terminal() {
                prop_assert_eq!(r.state, before);
            }
        }
    }
}

#[test]
fn a_denial_says_who_and_why_on_one_clipped_line() {
    let review = |comment: Option<&str>| Review {
        reviewer_id: "carol".into(),
        reviewer_name: "carol@example.com".into(),
        verdict: Verdict::Deny,
        comment: comment.map(Into::into),
        at: Utc::now(),
    };
    assert_eq!(denial_reason(&review(None)), "denied by carol@example.com");
    assert_eq!(
        denial_reason(&review(Some("  "))),
        "denied by carol@example.com"
    );
    assert_eq!(
        denial_reason(&review(Some("use\n  staging"))),
        r#"denied by carol@example.com: "use staging""#
    );
    let long = "x".repeat(500);
    let said = denial_reason(&review(Some(&long)));
    assert!(
        said.ends_with("…\"") && said.chars().count() < 260,
        "{said}"
    );
}
