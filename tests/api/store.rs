//! One store suite, run against SQLite and against PostgreSQL (a fresh database per test).

use chrono::{DateTime, Duration, Utc};
use latchkey::model::access::{
    AccessRequest, NewRequest, RequestFilter, Review, Start, State, Terms, Verdict,
};
use latchkey::model::audit::checkpoint::Checkpoint;
use latchkey::model::audit::{AuditEvent, EventKind};
use latchkey::model::domain::{from_ms, to_ms, Identity, Lock, Principal, Session};
use latchkey::model::policy::decide::Ask;
use latchkey::model::policy::permit;
use latchkey::model::policy::permit::{Administer, Admins, Permit, RequestAccess, ReviewRequest};
use latchkey::model::policy::subject::Who;
use latchkey::model::policy::Policy;
use latchkey::store::{Confirmation, Issuance, NewDeny, Store};

use crate::helpers::fresh_postgres;

/// Permits, made the only way there is: by the policy's own checks, here on a policy that
/// lets anyone request, review and administer the resources these tests write.
struct Permits {
    policy: Policy,
}

const PERMISSIVE_CATALOGUE: &str = r#"
[[resource]]
name = "db"
kind = "token"
description = "a database"
[[resource.role]]
name = "read"
default_duration = "1h"
max_duration = "4h"
[[resource]]
name = "web"
kind = "token"
description = "a web service"
[[resource.role]]
name = "read"
default_duration = "1h"
max_duration = "4h"
"#;

async fn permits() -> &'static Permits {
    static PERMITS: tokio::sync::OnceCell<Permits> = tokio::sync::OnceCell::const_new();
    PERMITS
        .get_or_init(|| async {
            let dir = tempfile::tempdir().unwrap();
            let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
            std::fs::copy(src.join("model.conf"), dir.path().join("model.conf")).unwrap();
            std::fs::write(dir.path().join("catalogue.toml"), PERMISSIVE_CATALOGUE).unwrap();
            std::fs::write(
                dir.path().join("policy.csv"),
                "p, *, *, request, allow\np, *, *, review, allow\np, *, broker, admin, allow\n",
            )
            .unwrap();
            Permits {
                policy: Policy::load(dir.path()).await.unwrap(),
            }
        })
        .await
}

impl Permits {
    fn request(&self, r: &AccessRequest) -> Permit<RequestAccess> {
        let who = Who {
            name: &r.requester_name,
            user_id: &r.requester_id,
            groups: &[],
        };
        let ask = Ask {
            resource: r.resource.clone(),
            role: Some(r.role.clone()),
            duration: None,
            reason: r.reason.clone(),
            ticket: None,
            breakglass: false,
        };
        let (decision, permit) = permit::request(&self.policy, &who, &ask);
        permit.unwrap_or_else(|| panic!("refused: {:?}", decision.explanation))
    }

    fn review(&self, r: &AccessRequest, review: &Review) -> Permit<ReviewRequest> {
        let who = Who {
            name: &review.reviewer_name,
            user_id: &review.reviewer_id,
            groups: &[],
        };
        permit::review(
            &self.policy,
            &who,
            None,
            (&r.resource, &r.role),
            &r.requester_id,
            review.at,
        )
        .map(|(_, permit)| permit)
        .unwrap_or_else(|e| panic!("refused: {}", e.message))
    }

    fn admin(&self, user_id: &str) -> Permit<Administer> {
        let p = Principal {
            user_id: user_id.into(),
            subject: user_id.into(),
            email: None,
            name: None,
            groups: vec![],
            session_id: "s".into(),
            expires_at: Utc::now(),
            dev: false,
            auth_time: None,
            groups_claim_missing: None,
        };
        let none = Admins {
            groups: &[],
            users: &[],
        };
        permit::administer(&self.policy, none, &p)
            .expect("the policy makes everyone an administrator")
    }
}

fn identity(sub: &str) -> Identity {
    Identity {
        issuer: "https://idp.example.com".into(),
        subject: sub.into(),
        email: Some(format!("{sub}@example.com")),
        name: Some(sub.to_uppercase()),
        groups: vec!["eng".into()],
        auth_time: Some(Utc::now()),
    }
}

fn session(id: &str, who: &Identity) -> Session {
    let now = Utc::now();
    Session {
        id: id.into(),
        user_id: who.user_id(),
        kid: "kid-1".into(),
        dev: false,
        created_at: now,
        expires_at: now + Duration::hours(8),
        auth_time: who.auth_time,
        revoked_at: None,
        client_addr: Some("127.0.0.1".into()),
        user_agent: Some("test".into()),
    }
}

async fn sessions_round_trip(store: Store) {
    let alice = identity("alice");
    let s = session("s1", &alice);
    let mut tx = store.begin().await.unwrap();
    tx.upsert_user(&alice, Utc::now()).await.unwrap();
    tx.insert_session(&s).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let got = tx.session("s1").await.unwrap().unwrap();
    assert_eq!(got.session.id, "s1");
    assert_eq!(
        got.session.expires_at.timestamp_millis(),
        s.expires_at.timestamp_millis()
    );
    assert_eq!(got.groups, vec!["eng".to_string()]);
    assert_eq!(got.email.as_deref(), Some("alice@example.com"));
    assert!(!got.locked);
    assert!(tx.session("nope").await.unwrap().is_none());
    // A second login refreshes the user's groups.
    let mut changed = alice.clone();
    changed.groups = vec!["sre".into()];
    tx.upsert_user(&changed, Utc::now()).await.unwrap();
    assert_eq!(
        tx.session("s1").await.unwrap().unwrap().groups,
        vec!["sre".to_string()]
    );
    tx.commit().await.unwrap();
}

async fn revocation_happens_once(store: Store) {
    let alice = identity("alice");
    let mut tx = store.begin().await.unwrap();
    tx.upsert_user(&alice, Utc::now()).await.unwrap();
    tx.insert_session(&session("s1", &alice)).await.unwrap();
    assert!(tx.revoke_session("s1", "logout", Utc::now()).await.unwrap());
    assert!(!tx.revoke_session("s1", "logout", Utc::now()).await.unwrap());
    assert!(tx
        .session("s1")
        .await
        .unwrap()
        .unwrap()
        .session
        .revoked_at
        .is_some());
    tx.commit().await.unwrap();
}

async fn a_lock_ends_the_users_sessions_only(store: Store) {
    let (alice, bob) = (identity("alice"), identity("bob"));
    let mut tx = store.begin().await.unwrap();
    for (id, who) in [("a1", &alice), ("a2", &alice), ("b1", &bob)] {
        tx.upsert_user(who, Utc::now()).await.unwrap();
        tx.insert_session(&session(id, who)).await.unwrap();
    }
    let lock = Lock {
        identifier: "alice@example.com".into(),
        reason: None,
        locked_by: "admin".into(),
        locked_at: Utc::now(),
    };
    assert_eq!(
        tx.lock(&permits().await.admin(&lock.locked_by), &lock)
            .await
            .unwrap(),
        2
    );
    assert!(tx.session("a1").await.unwrap().unwrap().locked);
    assert!(!tx.session("b1").await.unwrap().unwrap().locked);
    assert!(tx
        .session("b1")
        .await
        .unwrap()
        .unwrap()
        .session
        .revoked_at
        .is_none());
    let found = tx
        .find_lock(&alice.lock_identifiers())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.locked_by, "admin");
    assert!(tx
        .find_lock(&bob.lock_identifiers())
        .await
        .unwrap()
        .is_none());
    // Locking by subject works too, and unlocking removes exactly that lock.
    let by_sub = Lock {
        identifier: "bob".into(),
        ..lock.clone()
    };
    assert_eq!(
        tx.lock(&permits().await.admin(&by_sub.locked_by), &by_sub)
            .await
            .unwrap(),
        1
    );
    assert!(tx
        .unlock(&permits().await.admin("admin"), "bob")
        .await
        .unwrap());
    assert!(!tx
        .unlock(&permits().await.admin("admin"), "bob")
        .await
        .unwrap());
    // An administrator's permit is their own: a lock recorded as someone else's is refused.
    let forged = Lock {
        locked_by: "mallory".into(),
        ..lock.clone()
    };
    let refused = tx.lock(&permits().await.admin("admin"), &forged).await;
    assert!(
        matches!(refused, Err(latchkey::store::StoreError::NotPermitted(_))),
        "{refused:?}"
    );
    assert!(tx
        .find_lock(&bob.lock_identifiers())
        .await
        .unwrap()
        .is_none());
    tx.commit().await.unwrap();
}

async fn a_login_attempt_is_taken_once_and_not_after_expiry(store: Store) {
    let now = Utc::now();
    let mut tx = store.begin().await.unwrap();
    tx.insert_login_attempt("l1", "n1", now + Duration::minutes(10), now, 100)
        .await
        .unwrap();
    tx.insert_login_attempt("l2", "n2", now - Duration::seconds(1), now, 100)
        .await
        .unwrap();
    assert_eq!(
        tx.take_login_attempt("l1", now).await.unwrap().as_deref(),
        Some("n1")
    );
    assert_eq!(tx.take_login_attempt("l1", now).await.unwrap(), None);
    assert_eq!(tx.take_login_attempt("l2", now).await.unwrap(), None);
    tx.commit().await.unwrap();
}

async fn an_id_token_is_marked_used_once(store: Store) {
    let now = Utc::now();
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .mark_id_token_used("h1", now + Duration::minutes(5), now)
        .await
        .unwrap());
    assert!(!tx
        .mark_id_token_used("h1", now + Duration::minutes(5), now)
        .await
        .unwrap());
    tx.commit().await.unwrap();
    // Two transactions racing for the same token: exactly one wins.
    let (a, b) = tokio::join!(
        async {
            let mut tx = store.begin().await.unwrap();
            let won = tx
                .mark_id_token_used("h2", now + Duration::minutes(5), now)
                .await
                .unwrap();
            tx.commit().await.map(|_| won)
        },
        async {
            let mut tx = store.begin().await.unwrap();
            let won = tx
                .mark_id_token_used("h2", now + Duration::minutes(5), now)
                .await
                .unwrap();
            tx.commit().await.map(|_| won)
        }
    );
    let wins = [a, b].into_iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(wins, 1);
}

async fn a_rolled_back_transaction_leaves_nothing(store: Store) {
    let alice = identity("alice");
    let mut tx = store.begin().await.unwrap();
    tx.upsert_user(&alice, Utc::now()).await.unwrap();
    tx.insert_session(&session("s1", &alice)).await.unwrap();
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    assert!(tx.session("s1").await.unwrap().is_none());
    tx.commit().await.unwrap();
}

async fn migrations_are_idempotent(store: Store) {
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
}

// ---- Every other family of store operations, each on both backends. ----

/// Now, to the millisecond the store keeps.
fn now_ms() -> DateTime<Utc> {
    from_ms(to_ms(Utc::now()))
}

fn terms() -> Terms {
    let mins = |m: u64| std::time::Duration::from_secs(m * 60);
    Terms {
        approvals: 1,
        denials: 1,
        activation_window: mins(10),
        max_duration: mins(120),
        max_extensions: 1,
        extension: mins(10),
    }
}

fn request(
    id: &str,
    requester: &str,
    resource: &str,
    start: Start,
    at: DateTime<Utc>,
) -> AccessRequest {
    AccessRequest::create(
        NewRequest {
            id: id.into(),
            requester_id: requester.into(),
            requester_name: format!("{requester}@example.com"),
            resource: resource.into(),
            role: "read".into(),
            reason: Some("because".into()),
            ticket: None,
            duration: std::time::Duration::from_secs(3600),
            pending_timeout: std::time::Duration::from_secs(900),
            terms: terms(),
        },
        start,
        at,
    )
}

fn review(who: &str, verdict: Verdict, at: DateTime<Utc>) -> Review {
    Review {
        reviewer_id: who.into(),
        reviewer_name: format!("{who}@example.com"),
        verdict,
        comment: Some(format!("{who} says so")),
        at,
    }
}

/// An audit event of `kind` about `subject` (the one place that builds events here). The
/// kind is given as the stored text: the store keeps whatever text it is handed.
fn event(kind: &str, subject: &str, at: DateTime<Utc>) -> AuditEvent {
    let mut e =
        AuditEvent::new(EventKind::RequestCreated, "alice", &Default::default(), at).unwrap();
    e.kind = kind.into();
    e.subject = Some(subject.into());
    e
}

fn issuance(
    id: &str,
    request_id: &str,
    kind: &'static str,
    at: DateTime<Utc>,
    mins: i64,
) -> Issuance {
    Issuance {
        id: id.into(),
        request_id: request_id.into(),
        kind,
        fingerprint: format!("fp-{id}"),
        issued_at: at,
        expires_at: at + Duration::minutes(mins),
    }
}

async fn an_access_request_round_trips_and_updates_only_from_its_version(store: Store) {
    let now = now_ms();
    let r = request("r1", "u-alice", "db", Start::Pending, now);
    let mut tx = store.begin().await.unwrap();
    tx.insert_request(&permits().await.request(&r), &r, Some("key-1"))
        .await
        .unwrap();
    assert_eq!(tx.request("r1").await.unwrap().as_ref(), Some(&r));
    assert!(tx.request("nope").await.unwrap().is_none());
    let by_key = tx.request_by_key("u-alice", "key-1").await.unwrap();
    assert_eq!(by_key.map(|r| r.id).as_deref(), Some("r1"));
    assert!(tx.request_by_key("u-bob", "key-1").await.unwrap().is_none());
    // The same key for another requester is no conflict.
    let bobs = request("r3", "u-bob", "db", Start::Pending, now);
    tx.insert_request(&permits().await.request(&bobs), &bobs, Some("key-1"))
        .await
        .unwrap();
    // A permit is for its requester and resource: one made for alice's request does not
    // record bob's, nor a request of hers for another resource.
    let alices = permits().await.request(&r);
    let other = request("r4", "u-alice", "web", Start::Pending, now);
    for forged in [&bobs, &other] {
        let refused = tx.insert_request(&alices, forged, None).await;
        assert!(
            matches!(refused, Err(latchkey::store::StoreError::NotPermitted(_))),
            "{refused:?}"
        );
    }
    // An update applies once per version read: a writer holding the old version loses.
    let mut approved = r.clone();
    approved.state = State::Approved;
    approved.decided_at = Some(now);
    approved.activation_deadline = Some(now + Duration::minutes(10));
    assert!(tx.update_request(&approved).await.unwrap());
    assert!(!tx.update_request(&approved).await.unwrap());
    let stored = tx.request("r1").await.unwrap().unwrap();
    assert_eq!(stored.state, State::Approved);
    assert_eq!(stored.version, r.version + 1);
    assert_eq!(stored.activation_deadline, approved.activation_deadline);
    tx.commit().await.unwrap();
    // The same key twice for one requester is refused, and the refusal leaves nothing.
    let mut tx = store.begin().await.unwrap();
    let twin = request("r2", "u-alice", "db", Start::Pending, now);
    assert!(tx
        .insert_request(&permits().await.request(&twin), &twin, Some("key-1"))
        .await
        .is_err());
    drop(tx);
    let mut tx = store.begin_read().await.unwrap();
    assert!(tx.request("r2").await.unwrap().is_none());
}

async fn reviews_are_one_per_reviewer_and_read_oldest_first(store: Store) {
    let now = now_ms();
    let mut tx = store.begin().await.unwrap();
    let r1 = request("r1", "u-alice", "db", Start::Pending, now);
    let permits = permits().await;
    tx.insert_request(&permits.request(&r1), &r1, None)
        .await
        .unwrap();
    let later = review("bob", Verdict::Deny, now + Duration::seconds(5));
    let first = review("carol", Verdict::Approve, now);
    let reviewed = |rv: &Review| permits.review(&r1, rv);
    assert!(tx
        .insert_review(&reviewed(&later), &r1, &later)
        .await
        .unwrap());
    assert!(tx
        .insert_review(&reviewed(&first), &r1, &first)
        .await
        .unwrap());
    // A second review by the same reviewer is not recorded, whatever it says.
    let changed = review("bob", Verdict::Approve, now);
    assert!(!tx
        .insert_review(&reviewed(&changed), &r1, &changed)
        .await
        .unwrap());
    // A permit is for its reviewer and its request's resource and role only.
    let mallory = review("mallory", Verdict::Approve, now);
    let elsewhere = request("r9", "u-alice", "web", Start::Pending, now);
    let refused = tx.insert_review(&reviewed(&later), &r1, &mallory).await;
    assert!(
        matches!(refused, Err(latchkey::store::StoreError::NotPermitted(_))),
        "{refused:?}"
    );
    let refused = tx
        .insert_review(&reviewed(&mallory), &elsewhere, &mallory)
        .await;
    assert!(
        matches!(refused, Err(latchkey::store::StoreError::NotPermitted(_))),
        "{refused:?}"
    );
    let got = tx.reviews("r1").await.unwrap();
    assert_eq!(got, vec![first, later]);
    assert!(tx.reviews("nope").await.unwrap().is_empty());
    tx.commit().await.unwrap();
}

async fn requests_are_listed_newest_first_and_found_when_due(store: Store) {
    let t0 = now_ms() - Duration::hours(1);
    let at = |m: i64| t0 + Duration::minutes(m);
    let mut tx = store.begin().await.unwrap();
    let pending = request("p", "u-alice", "db", Start::Pending, at(0));
    let active = request("a", "u-alice", "db", Start::AutoApproved, at(1));
    let bobs = request("b", "u-bob", "db", Start::Pending, at(2));
    for r in [&pending, &active, &bobs] {
        tx.insert_request(&permits().await.request(r), r, None)
            .await
            .unwrap();
    }
    let ids = |rs: Vec<AccessRequest>| rs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = tx.list_requests(None, &[], 10).await.unwrap();
    assert_eq!(ids(all), ["b", "a", "p"]);
    let alices = tx.list_requests(Some("u-alice"), &[], 10).await.unwrap();
    assert_eq!(ids(alices), ["a", "p"]);
    let live = tx.list_requests(None, &[State::Active, State::Approved], 10);
    assert_eq!(ids(live.await.unwrap()), ["a"]);
    assert_eq!(
        ids(tx.list_requests(None, &[], 2).await.unwrap()),
        ["b", "a"]
    );
    // Pending for 15 minutes from t0 and t0+2: only the first has run out at t0+16.
    let due = tx.due_requests(at(16), 10).await.unwrap();
    assert_eq!(ids(due), ["p"]);
    // Active for an hour from t0+1.
    assert_eq!(
        ids(tx.due_requests(at(62), 10).await.unwrap()),
        ["p", "a", "b"]
    );
    assert_eq!(ids(tx.due_requests(at(62), 1).await.unwrap()), ["p"]);
    tx.commit().await.unwrap();
}

async fn requests_are_found_by_id_prefix_and_by_filter(store: Store) {
    let t0 = now_ms() - Duration::hours(1);
    let at = |m: i64| t0 + Duration::minutes(m);
    let mut tx = store.begin().await.unwrap();
    let a = request(
        "3f2a9c1b-7e4d-4c2a-9b1e-0123456789ab",
        "u-alice",
        "db",
        Start::AutoApproved,
        at(0),
    );
    let b = request(
        "3f2a9c1b-7f00-4c2a-9b1e-0123456789ab",
        "u-bob",
        "web",
        Start::Pending,
        at(1),
    );
    let c = request(
        "aa000000-0000-4000-8000-000000000000",
        "u-bob",
        "db",
        Start::AutoApproved,
        at(2),
    );
    for r in [&a, &b, &c] {
        tx.insert_request(&permits().await.request(r), r, None)
            .await
            .unwrap();
    }
    let ids = |rs: Vec<AccessRequest>| {
        rs.into_iter()
            .map(|r| r.id[..2].to_string())
            .collect::<Vec<_>>()
    };
    // Dashes in the stored id do not count: the prefix is its hex digits.
    let both = tx.requests_by_prefix("3f2a9c1b7", 10).await.unwrap();
    assert_eq!(both.len(), 2);
    let one = tx.requests_by_prefix("3f2a9c1b7e", 10).await.unwrap();
    assert_eq!(
        one.into_iter().map(|r| r.id).collect::<Vec<_>>(),
        [a.id.as_str()]
    );
    assert!(tx
        .requests_by_prefix("3f2a9d", 10)
        .await
        .unwrap()
        .is_empty());
    // A wildcard is never a prefix.
    assert!(tx.requests_by_prefix("%", 10).await.unwrap().is_empty());
    assert!(tx.requests_by_prefix("3f_", 10).await.unwrap().is_empty());
    let find = |f: RequestFilter<'static>| f;
    let all = tx
        .find_requests(&find(RequestFilter::default()), 10)
        .await
        .unwrap();
    assert_eq!(ids(all), ["aa", "3f", "3f"]);
    // By user id or by name.
    let bobs = RequestFilter {
        user: Some("u-bob"),
        ..Default::default()
    };
    assert_eq!(tx.find_requests(&bobs, 10).await.unwrap().len(), 2);
    let by_name = RequestFilter {
        user: Some("u-alice@example.com"),
        ..Default::default()
    };
    assert_eq!(tx.find_requests(&by_name, 10).await.unwrap()[0].id, a.id);
    let on_db = RequestFilter {
        resource: Some("db"),
        state: Some(State::Active),
        ..Default::default()
    };
    assert_eq!(tx.find_requests(&on_db, 10).await.unwrap().len(), 2);
    let pending = RequestFilter {
        state: Some(State::Pending),
        ..Default::default()
    };
    assert_eq!(tx.find_requests(&pending, 10).await.unwrap()[0].id, b.id);
    // Active now: a's hour from t0 is over at t0+61; c's (from t0+2) is not.
    let live = RequestFilter {
        live_at: Some(at(61)),
        ..Default::default()
    };
    let live = tx.find_requests(&live, 10).await.unwrap();
    assert_eq!(
        live.into_iter().map(|r| r.id).collect::<Vec<_>>(),
        [c.id.as_str()]
    );
    tx.commit().await.unwrap();
}

async fn the_live_grant_that_lasts_longest_is_found(store: Store) {
    let now = now_ms();
    let mut tx = store.begin().await.unwrap();
    let short = request(
        "short",
        "u-alice",
        "db",
        Start::AutoApproved,
        now - Duration::minutes(30),
    );
    let long = request("long", "u-alice", "db", Start::Breakglass, now);
    let other = request("other", "u-alice", "web", Start::AutoApproved, now);
    for r in [&short, &long, &other] {
        tx.insert_request(&permits().await.request(r), r, None)
            .await
            .unwrap();
    }
    let found = tx.active_grant("u-alice", "db", now).await.unwrap();
    assert_eq!(found.map(|r| r.id).as_deref(), Some("long"));
    let later = now + Duration::hours(2);
    assert!(tx
        .active_grant("u-alice", "db", later)
        .await
        .unwrap()
        .is_none());
    assert!(tx.active_grant("u-bob", "db", now).await.unwrap().is_none());
    // The gate's view: the latest activated grant whatever its state, and issuances.
    let latest = tx.latest_grant("u-alice", "db").await.unwrap();
    assert_eq!(latest.map(|r| r.id).as_deref(), Some("long"));
    assert!(tx.latest_grant("u-alice", "nope").await.unwrap().is_none());
    tx.insert_issuance(&issuance("i1", "long", "gate", now, 15))
        .await
        .unwrap();
    let grant = tx.issuance_grant("i1", "gate").await.unwrap();
    assert_eq!(grant.as_deref(), Some("long"));
    assert!(tx.issuance_grant("i1", "aws").await.unwrap().is_none());
    // An issuance names an existing grant, and its id is used once.
    assert!(tx
        .insert_issuance(&issuance("i1", "long", "gate", now, 15))
        .await
        .is_err());
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .insert_issuance(&issuance("i2", "nope", "gate", now, 15))
        .await
        .is_err());
}

async fn the_gate_reads_the_states_of_many_grants_and_sessions(store: Store) {
    let now = now_ms();
    let alice = identity("alice");
    let mut tx = store.begin().await.unwrap();
    tx.upsert_user(&alice, now).await.unwrap();
    let mut ids = Vec::new();
    let mut sessions = Vec::new();
    // More than one statement's worth (500) of ids.
    for i in 0..520 {
        let r = request(&format!("r{i}"), "u-alice", "db", Start::AutoApproved, now);
        tx.insert_request(&permits().await.request(&r), &r, None)
            .await
            .unwrap();
        ids.push(r.id);
        let s = session(&format!("s{i}"), &alice);
        tx.insert_session(&s).await.unwrap();
        sessions.push(s.id);
    }
    tx.revoke_session("s7", "logout", now).await.unwrap();
    ids.push("unknown".into());
    sessions.push("unknown".into());
    let grants = tx.grant_states(&ids).await.unwrap();
    assert_eq!(grants.len(), 520);
    assert!(grants
        .iter()
        .all(|(_, state, until)| state == "active" && until.is_some()));
    let states = tx.session_states(&sessions).await.unwrap();
    assert_eq!(states.len(), 520);
    let revoked: Vec<_> = states
        .iter()
        .filter(|s| s.1.is_some())
        .map(|s| &s.0)
        .collect();
    assert_eq!(revoked, ["s7"]);
    assert!(tx.grant_states(&[]).await.unwrap().is_empty());
    tx.commit().await.unwrap();
}

async fn holds_read_what_they_hold(store: Store) {
    let now = now_ms();
    let alice = identity("alice");
    let mut tx = store.begin().await.unwrap();
    tx.upsert_user(&alice, now).await.unwrap();
    tx.insert_session(&session("s1", &alice)).await.unwrap();
    let r = request("r1", "u-alice", "db", Start::AutoApproved, now);
    tx.insert_request(&permits().await.request(&r), &r, None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.hold_against_locks().await.unwrap();
    assert_eq!(tx.hold_request("r1").await.unwrap(), Some(r));
    assert!(tx.hold_request("nope").await.unwrap().is_none());
    tx.hold_session("s1").await.unwrap();
    tx.hold_session("nope").await.unwrap();
    tx.commit().await.unwrap();
}

async fn a_lock_waits_for_an_issuance_holding_against_locks(store: Store) {
    // PostgreSQL orders these with an advisory lock; SQLite writers are alone anyway.
    let alice = identity("alice");
    let mut tx = store.begin().await.unwrap();
    tx.upsert_user(&alice, Utc::now()).await.unwrap();
    tx.insert_session(&session("s1", &alice)).await.unwrap();
    tx.commit().await.unwrap();
    let mut holder = store.begin().await.unwrap();
    holder.hold_against_locks().await.unwrap();
    let locker = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            let lock = Lock {
                identifier: "alice".into(),
                reason: None,
                locked_by: "admin".into(),
                locked_at: Utc::now(),
            };
            let ended = tx
                .lock(&permits().await.admin(&lock.locked_by), &lock)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            ended
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!locker.is_finished(), "the lock waits for the holder");
    let held = holder.session("s1").await.unwrap().unwrap();
    assert!(held.session.revoked_at.is_none() && !held.locked);
    holder.commit().await.unwrap();
    assert_eq!(locker.await.unwrap(), 1);
}

async fn users_are_found_by_id_email_and_lock_identifier(store: Store) {
    let now = now_ms();
    let mut alice = identity("alice");
    alice.email = Some("Alice@Example.com".into());
    let bob = identity("bob");
    let mut tx = store.begin().await.unwrap();
    tx.upsert_user(&alice, now).await.unwrap();
    tx.upsert_user(&bob, now).await.unwrap();
    let got = tx.user_by_id(&alice.user_id()).await.unwrap().unwrap();
    assert_eq!((got.subject.as_str(), got.locked), ("alice", false));
    assert_eq!(got.groups, ["eng"]);
    assert_eq!(got.issuer, "https://idp.example.com");
    assert!(tx.user_by_id("nope").await.unwrap().is_none());
    let by_email = tx.users_by_email("alice@example.COM").await.unwrap();
    assert_eq!(by_email.len(), 1);
    assert_eq!(by_email[0].id, alice.user_id());
    assert!(tx
        .users_by_email("carol@example.com")
        .await
        .unwrap()
        .is_empty());
    for name in [alice.user_id(), "alice".into(), "ALICE@example.com".into()] {
        let named = tx.users_named(&name).await.unwrap();
        assert_eq!(named, [(alice.user_id(), alice.email.clone())], "{name}");
    }
    let profile = tx.user_profile(&bob.user_id()).await.unwrap().unwrap();
    assert_eq!(profile.email.as_deref(), Some("bob@example.com"));
    assert_eq!(
        (profile.subject.as_str(), profile.groups),
        ("bob", vec!["eng".to_string()])
    );
    assert!(tx.user_profile("nope").await.unwrap().is_none());
    // A lock by subject shows on the user, and among the identifiers the gate polls.
    let lock = Lock {
        identifier: "alice".into(),
        reason: Some("left".into()),
        locked_by: "admin".into(),
        locked_at: now,
    };
    tx.lock(&permits().await.admin(&lock.locked_by), &lock)
        .await
        .unwrap();
    assert!(
        tx.user_by_id(&alice.user_id())
            .await
            .unwrap()
            .unwrap()
            .locked
    );
    assert_eq!(tx.lock_identifiers().await.unwrap(), ["alice"]);
    let found = tx
        .find_lock(&alice.lock_identifiers())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, lock);
    tx.commit().await.unwrap();
}

async fn development_sessions_end_together_and_pending_logins_are_capped(store: Store) {
    let now = now_ms();
    let alice = identity("alice");
    let mut tx = store.begin().await.unwrap();
    tx.upsert_user(&alice, now).await.unwrap();
    let dev = Session {
        dev: true,
        ..session("d1", &alice)
    };
    let expired = Session {
        dev: true,
        expires_at: now - Duration::minutes(1),
        ..session("d2", &alice)
    };
    for s in [&dev, &expired, &session("s1", &alice)] {
        tx.insert_session(s).await.unwrap();
    }
    let ended = tx.revoke_dev_sessions("dev mode off", now).await.unwrap();
    assert_eq!(ended, [("d1".to_string(), alice.user_id())]);
    assert!(tx
        .revoke_dev_sessions("dev mode off", now)
        .await
        .unwrap()
        .is_empty());
    // At most two pending attempts; expired ones make room.
    let soon = now + Duration::minutes(5);
    assert!(tx
        .insert_login_attempt("l1", "n1", soon, now, 2)
        .await
        .unwrap());
    let gone = now + Duration::seconds(1);
    assert!(tx
        .insert_login_attempt("l2", "n2", gone, now, 2)
        .await
        .unwrap());
    assert!(!tx
        .insert_login_attempt("l3", "n3", soon, now, 2)
        .await
        .unwrap());
    let later = now + Duration::seconds(2);
    assert!(tx
        .insert_login_attempt("l3", "n3", soon, later, 2)
        .await
        .unwrap());
    assert_eq!(
        tx.take_login_attempt("l3", later).await.unwrap().as_deref(),
        Some("n3")
    );
    // An ID token whose replay window ended may be marked again.
    assert!(tx.mark_id_token_used("h", now, now).await.unwrap());
    assert!(tx.mark_id_token_used("h", soon, later).await.unwrap());
    tx.commit().await.unwrap();
}

async fn audit_events_are_chained_in_commit_order_and_read_back(store: Store) {
    let t0 = now_ms();
    let mut tx = store.begin_read().await.unwrap();
    assert_eq!(tx.audit_head().await.unwrap(), None);
    assert_eq!(tx.audit_last_seq().await.unwrap(), 0);
    assert!(tx.append_audit(&event("x.read", "r1", t0)).await.is_err());
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    let (seq, hash) = tx.lock_audit_head().await.unwrap();
    assert_eq!(
        (seq, hash.as_str()),
        (0, latchkey::model::audit::chain::GENESIS)
    );
    for (i, subject) in ["r1", "r2", "r1"].iter().enumerate() {
        let e = event("request.created", subject, t0 + Duration::seconds(i as i64));
        tx.append_audit(&e).await.unwrap();
    }
    tx.commit().await.unwrap();
    // A rolled-back append leaves no trace.
    let mut tx = store.begin().await.unwrap();
    tx.append_audit(&event("request.created", "r3", t0))
        .await
        .unwrap();
    drop(tx);
    // An event made at an earlier time than the last takes the last one's time.
    let mut tx = store.begin().await.unwrap();
    tx.append_audit(&event("request.created", "r2", t0))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin_read().await.unwrap();
    let all = tx.audit_events(None, 0, 100).await.unwrap();
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(all[3].at, t0 + Duration::seconds(2));
    let mut verifier = latchkey::model::audit::chain::ChainVerifier::new(
        1,
        latchkey::model::audit::chain::GENESIS,
        vec![],
    );
    verifier.push(&all).unwrap();
    assert_eq!(
        tx.audit_head().await.unwrap(),
        Some((4, all[3].hash.clone()))
    );
    assert_eq!(tx.audit_last_seq().await.unwrap(), 4);
    let seqs = |es: Vec<AuditEvent>| es.into_iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(tx.audit_events(Some("r1"), 0, 100).await.unwrap()),
        [1, 3]
    );
    assert_eq!(seqs(tx.audit_events(None, 2, 1).await.unwrap()), [3]);
    assert_eq!(
        seqs(tx.audit_events_between(Some("r2"), 1, 3, 10).await.unwrap()),
        [2]
    );
    assert_eq!(
        seqs(tx.audit_events_between(None, 2, 3, 10).await.unwrap()),
        [2, 3]
    );
    assert!(tx.audit_events(None, 4, 10).await.unwrap().is_empty());
    let range = tx
        .audit_seq_range(t0, t0 + Duration::seconds(2))
        .await
        .unwrap();
    assert_eq!(range, Some((1, 2)));
    let none = tx
        .audit_seq_range(t0 - Duration::hours(1), t0)
        .await
        .unwrap();
    assert_eq!(none, None);
    // Every event has been chained: nothing for the legacy pass to do.
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.chain_legacy_events().await.unwrap(), 0);
    tx.commit().await.unwrap();
}

async fn a_thousand_events_and_more_are_written_in_one_commit(store: Store) {
    let t0 = now_ms();
    let mut tx = store.begin().await.unwrap();
    for i in 0..1203 {
        tx.append_audit(&event("request.created", &format!("r{i}"), t0))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = store.begin_read().await.unwrap();
    let all = tx.audit_events(None, 0, 2000).await.unwrap();
    assert_eq!(all.len(), 1203);
    let mut verifier = latchkey::model::audit::chain::ChainVerifier::new(
        1,
        latchkey::model::audit::chain::GENESIS,
        vec![],
    );
    verifier.push(&all).unwrap();
    assert_eq!(all[1202].subject.as_deref(), Some("r1202"));
}

async fn events_from_before_the_chain_are_chained_once(store: Store) {
    for seq in 1..=3 {
        let at = 1_700_000_000_000_i64 + seq;
        let insert = format!(
            "INSERT INTO audit_events (seq, id, type, at, actor, outcome, details)
             VALUES ({seq}, 'legacy-{seq}', 'request.created', {at}, 'alice', 'success', '{{}}')"
        );
        crate::audit::sql(&store, &insert).await;
    }
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.chain_legacy_events().await.unwrap(), 3);
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.chain_legacy_events().await.unwrap(), 0);
    tx.append_audit(&event("request.created", "r1", now_ms()))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin_read().await.unwrap();
    let all = tx.audit_events(None, 0, 10).await.unwrap();
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    let mut verifier = latchkey::model::audit::chain::ChainVerifier::new(
        1,
        latchkey::model::audit::chain::GENESIS,
        vec![],
    );
    verifier.push(&all).unwrap();
}

async fn an_export_reports_the_requests_alive_in_its_period(store: Store) {
    let t0 = now_ms() - Duration::days(2);
    let at = |h: i64| t0 + Duration::hours(h);
    let mut tx = store.begin().await.unwrap();
    let before = request("before", "u-alice", "db", Start::AutoApproved, at(0));
    let mut ended = before.clone();
    ended.state = State::Revoked;
    ended.ended_at = Some(at(1));
    let inside = request("inside", "u-alice", "db", Start::Pending, at(10));
    let after = request("after", "u-alice", "db", Start::Pending, at(30));
    for r in [&before, &inside, &after] {
        tx.insert_request(&permits().await.request(r), r, None)
            .await
            .unwrap();
    }
    assert!(tx.update_request(&ended).await.unwrap());
    for rv in [
        review("bob", Verdict::Approve, at(11)),
        review("carol", Verdict::Deny, at(25)),
    ] {
        let permit = permits().await.review(&inside, &rv);
        tx.insert_review(&permit, &inside, &rv).await.unwrap();
    }
    tx.insert_issuance(&issuance("i1", "inside", "aws", at(12), 15))
        .await
        .unwrap();
    tx.insert_issuance(&issuance("i2", "inside", "aws", at(26), 15))
        .await
        .unwrap();
    let out = tx.export_access(at(5), at(24)).await.unwrap();
    let ids: Vec<_> = out.requests.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["inside"]);
    assert_eq!(out.reviews.len(), 1);
    assert_eq!(
        (
            out.reviews[0].0.as_str(),
            out.reviews[0].1.reviewer_id.as_str()
        ),
        ("inside", "bob")
    );
    assert_eq!(out.issuances.get("inside"), Some(&1));
    let wide = tx.export_access(at(0), at(48)).await.unwrap();
    let ids: Vec<_> = wide.requests.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["before", "inside", "after"]);
    assert_eq!(wide.issuances.get("inside"), Some(&2));
    tx.commit().await.unwrap();
}

fn checkpoint(number: i64, events: i64, at: DateTime<Utc>) -> Checkpoint {
    Checkpoint {
        number,
        events,
        head_hash: format!("head-{events}"),
        at,
        prev: (number > 1).then(|| format!("cp-{}", number - 1)),
        kid: "kid".into(),
        signature: format!("sig-{number}"),
        delivered: false,
    }
}

async fn checkpoints_are_kept_in_order_with_their_delivery(store: Store) {
    let now = now_ms();
    let mut tx = store.begin().await.unwrap();
    assert!(tx.last_checkpoint().await.unwrap().is_none());
    assert_eq!(tx.checkpoints_around(1).await.unwrap(), (None, None));
    for (n, events) in [(1, 0), (2, 10), (3, 25)] {
        tx.insert_checkpoint(&checkpoint(n, events, now))
            .await
            .unwrap();
    }
    assert_eq!(
        tx.last_checkpoint().await.unwrap(),
        Some(checkpoint(3, 25, now))
    );
    let numbers = |cs: Vec<Checkpoint>| cs.into_iter().map(|c| c.number).collect::<Vec<_>>();
    assert_eq!(numbers(tx.checkpoints_between(2, 9).await.unwrap()), [2, 3]);
    let (before, after) = tx.checkpoints_around(10).await.unwrap();
    assert_eq!(
        (before.map(|c| c.number), after.map(|c| c.number)),
        (Some(1), Some(2))
    );
    let (before, after) = tx.checkpoints_around(26).await.unwrap();
    assert_eq!(
        (before.map(|c| c.number), after.map(|c| c.number)),
        (Some(3), None)
    );
    assert_eq!(
        numbers(tx.undelivered_checkpoints().await.unwrap()),
        [1, 2, 3]
    );
    tx.mark_checkpoint_delivery(1, Some(now), None)
        .await
        .unwrap();
    tx.mark_checkpoint_delivery(2, None, Some("sink down"))
        .await
        .unwrap();
    assert_eq!(numbers(tx.undelivered_checkpoints().await.unwrap()), [2, 3]);
    let first = tx.checkpoints_between(1, 1).await.unwrap();
    assert!(first[0].delivered);
    tx.commit().await.unwrap();
    // A number is signed once.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.insert_checkpoint(&checkpoint(3, 30, now)).await.is_err());
}

fn deny<'a>(
    value: &'a str,
    lasts_until: DateTime<Utc>,
    issued_before: Option<DateTime<Utc>>,
) -> NewDeny<'a> {
    NewDeny {
        role_arn: "arn:aws:iam::1:role/db",
        kind: if issued_before.is_some() {
            "identity"
        } else {
            "request"
        },
        value,
        issued_before,
        lasts_until,
        subject: "r1",
        resource: Some("db"),
        role: Some("read"),
        cause: "grant.revoked",
    }
}

async fn aws_denies_merge_and_their_outbox_is_leased(store: Store) {
    let now = now_ms();
    let ms = |t: DateTime<Utc>| to_ms(t);
    let mut tx = store.begin().await.unwrap();
    let until = now + Duration::hours(1);
    tx.aws_deny_enqueue(&deny("r1", until, None), now)
        .await
        .unwrap();
    // The same target again: the later end wins, a sooner one is ignored.
    tx.aws_deny_enqueue(&deny("r1", until + Duration::hours(1), None), now)
        .await
        .unwrap();
    tx.aws_deny_enqueue(&deny("r1", now + Duration::minutes(1), None), now)
        .await
        .unwrap();
    let who = deny("alice", until, Some(now));
    tx.aws_deny_enqueue(&who, now).await.unwrap();
    let rows = tx.aws_denies("arn:aws:iam::1:role/db").await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].value.as_str(), rows[0].lasts_until),
        ("r1", ms(until + Duration::hours(1)))
    );
    assert_eq!(
        (rows[1].kind.as_str(), rows[1].issued_before),
        ("identity", Some(ms(now)))
    );
    assert!(tx.aws_denies("arn:other").await.unwrap().is_empty());
    // One outbox row per role, bumped by every enqueue, leased to one worker at a time.
    let due = tx.aws_deny_due(now, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    let job = due[0].clone();
    assert_eq!((job.gen, job.attempts), (3, 0));
    assert!(tx
        .aws_deny_due(now - Duration::seconds(1), 10)
        .await
        .unwrap()
        .is_empty());
    let lease = now + Duration::minutes(1);
    assert!(tx.aws_deny_claim(job.id, now, lease).await.unwrap());
    assert!(!tx.aws_deny_claim(job.id, now, lease).await.unwrap());
    assert!(tx.aws_deny_due(now, 10).await.unwrap().is_empty());
    // A failure: due again later, the lease released, the attempt counted.
    let retry_at = now + Duration::seconds(30);
    tx.aws_deny_retry(job.id, job.gen, retry_at, "throttled")
        .await
        .unwrap();
    let again = tx.aws_deny_due(retry_at, 10).await.unwrap();
    assert_eq!(
        (again[0].attempts, again[0].last_error.as_deref()),
        (1, Some("throttled"))
    );
    assert_eq!(again[0].next_at, ms(retry_at));
    // Written: recorded once, and a failure reported once.
    tx.aws_deny_written(rows[0].id, now).await.unwrap();
    tx.aws_deny_written(rows[0].id, now + Duration::minutes(5))
        .await
        .unwrap();
    tx.aws_deny_failure_reported(rows[1].id).await.unwrap();
    let rows = tx.aws_denies("arn:aws:iam::1:role/db").await.unwrap();
    assert_eq!(rows[0].written_at, Some(ms(now)));
    assert!(rows[1].failure_reported && rows[1].written_at.is_none());
    // A later lock of the same identity must be written (and reported) again.
    tx.aws_deny_enqueue(&deny("alice", until, Some(now + Duration::seconds(1))), now)
        .await
        .unwrap();
    let rows = tx.aws_denies("arn:aws:iam::1:role/db").await.unwrap();
    assert!(!rows[1].failure_reported);
    tx.commit().await.unwrap();
}

async fn an_aws_deny_outbox_row_is_released_or_removed_by_its_generation(store: Store) {
    let now = now_ms();
    let until = now + Duration::minutes(30);
    let mut tx = store.begin().await.unwrap();
    tx.aws_deny_enqueue(&deny("r1", until, None), now)
        .await
        .unwrap();
    let job = tx.aws_deny_due(now, 10).await.unwrap().remove(0);
    assert!(tx
        .aws_deny_claim(job.id, now, now + Duration::minutes(1))
        .await
        .unwrap());
    // Queued again while being written: done with the old generation keeps it.
    tx.aws_deny_enqueue(&deny("r2", until, None), now)
        .await
        .unwrap();
    tx.aws_deny_done(job.id, job.gen, None).await.unwrap();
    let still = tx.aws_deny_due(now, 10).await.unwrap();
    assert_eq!(still.len(), 1);
    // Done with the current generation and an entry left: due at its end.
    let current = still[0].clone();
    tx.aws_deny_done(current.id, current.gen, Some(until))
        .await
        .unwrap();
    assert!(tx.aws_deny_due(now, 10).await.unwrap().is_empty());
    let later = tx.aws_deny_due(until, 10).await.unwrap();
    assert_eq!((later[0].id, later[0].attempts), (current.id, 0));
    // Entries go only once they ran out; then the row goes with nothing left.
    let rows = tx.aws_denies("arn:aws:iam::1:role/db").await.unwrap();
    assert!(!tx.aws_deny_remove(rows[0].id, now).await.unwrap());
    assert!(tx.aws_deny_remove(rows[0].id, until).await.unwrap());
    assert!(!tx.aws_deny_remove(rows[0].id, until).await.unwrap());
    tx.aws_deny_done(current.id, current.gen, None)
        .await
        .unwrap();
    assert!(tx.aws_deny_due(until, 10).await.unwrap().is_empty());
    tx.commit().await.unwrap();
}

async fn a_locked_users_grants_with_live_aws_sessions_are_found(store: Store) {
    let now = now_ms();
    let alice = identity("alice");
    let mut tx = store.begin().await.unwrap();
    tx.upsert_user(&alice, now).await.unwrap();
    let live = request("live", &alice.user_id(), "db", Start::AutoApproved, now);
    let mut ended = request("ended", &alice.user_id(), "db", Start::AutoApproved, now);
    let gone = request("gone", &alice.user_id(), "db", Start::Pending, now);
    for r in [&live, &ended, &gone] {
        tx.insert_request(&permits().await.request(r), r, None)
            .await
            .unwrap();
    }
    ended.state = State::Revoked;
    ended.ended_at = Some(now);
    tx.update_request(&ended).await.unwrap();
    tx.insert_issuance(&issuance("i1", "ended", "aws", now, 30))
        .await
        .unwrap();
    tx.insert_issuance(&issuance("i2", "ended", "aws", now, 45))
        .await
        .unwrap();
    tx.insert_issuance(&issuance("i3", "gone", "gate", now, 60))
        .await
        .unwrap();
    let until = tx.aws_sessions_until("ended").await.unwrap();
    assert_eq!(until, Some(now + Duration::minutes(45)));
    assert_eq!(tx.aws_sessions_until("gone").await.unwrap(), None);
    for name in ["ALICE@example.com", "alice"] {
        let mut grants = tx.aws_session_grants(name, now).await.unwrap();
        grants.sort_by(|a, b| a.id.cmp(&b.id));
        let ids: Vec<_> = grants.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["ended", "live"], "{name}");
        assert_eq!(
            grants[0].sessions_until,
            Some(to_ms(now + Duration::minutes(45)))
        );
        assert_eq!(
            (grants[1].state.as_str(), grants[1].sessions_until),
            ("active", None)
        );
    }
    let later = now + Duration::hours(2);
    assert!(tx
        .aws_session_grants("alice", later)
        .await
        .unwrap()
        .iter()
        .all(|g| g.id == "live"));
    assert!(tx.aws_session_grants("bob", now).await.unwrap().is_empty());
    tx.commit().await.unwrap();
}

async fn the_slack_outbox_dedupes_claims_and_retries(store: Store) {
    let now = now_ms();
    let mut tx = store.begin().await.unwrap();
    for id in ["r1", "r2"] {
        let r = request(id, "u-alice", "db", Start::Pending, now);
        tx.insert_request(&permits().await.request(&r), &r, None)
            .await
            .unwrap();
    }
    tx.slack_enqueue("message:r1", "r1", "message", now)
        .await
        .unwrap();
    tx.slack_enqueue("dm:r2:approved", "r2", "dm", now)
        .await
        .unwrap();
    tx.slack_enqueue("message:r1", "r1", "message", now)
        .await
        .unwrap();
    let due = tx.slack_due(now, 10).await.unwrap();
    let rows: Vec<_> = due
        .iter()
        .map(|r| (r.dedupe.as_str(), r.kind.as_str(), r.gen))
        .collect();
    assert_eq!(
        rows,
        [("message:r1", "message", 1), ("dm:r2:approved", "dm", 0)]
    );
    assert_eq!(tx.slack_due(now, 1).await.unwrap().len(), 1);
    let (msg, dm) = (due[0].clone(), due[1].clone());
    // One sender holds a claimed row until its lease runs out.
    let lease = now + Duration::seconds(30);
    assert!(tx.slack_claim(msg.id, now, lease).await.unwrap());
    assert!(!tx.slack_claim(msg.id, now, lease).await.unwrap());
    assert_eq!(tx.slack_due(now, 10).await.unwrap().len(), 1);
    // Enqueued again while held: due, yet still its sender's (no second post meanwhile).
    tx.slack_enqueue("message:r1", "r1", "message", now)
        .await
        .unwrap();
    assert!(!tx.slack_claim(msg.id, now, lease).await.unwrap());
    assert_eq!(tx.slack_due(now, 10).await.unwrap().len(), 1);
    // The lease run out: another sender may take it.
    assert!(tx
        .slack_claim(msg.id, lease, lease + Duration::seconds(30))
        .await
        .unwrap());
    // Sent, but enqueued again meanwhile: released, to be sent again.
    assert!(!tx.slack_sent(msg.id, msg.gen).await.unwrap());
    assert_eq!(tx.slack_due(now, 10).await.unwrap().len(), 2);
    assert!(tx.slack_sent(msg.id, msg.gen + 1).await.unwrap());
    // A failure: due again at next_at, the attempt counted.
    let retry_at = now + Duration::minutes(1);
    tx.slack_retry(dm.id, dm.gen, retry_at, "rate limited")
        .await
        .unwrap();
    assert!(tx.slack_due(now, 10).await.unwrap().is_empty());
    let again = tx.slack_due(retry_at, 10).await.unwrap();
    assert_eq!((again[0].id, again[0].attempts), (dm.id, 1));
    tx.slack_drop(dm.id).await.unwrap();
    assert!(tx.slack_due(retry_at, 10).await.unwrap().is_empty());
    // The announcement: recorded once, then where it was posted.
    assert!(tx.slack_message("r1").await.unwrap().is_none());
    tx.slack_announce("r1", true).await.unwrap();
    tx.slack_announce("r1", false).await.unwrap();
    let m = tx.slack_message("r1").await.unwrap().unwrap();
    assert!(m.first_request && m.channel.is_none() && m.ts.is_none());
    tx.slack_message_posted("r1", "C1", "123.456")
        .await
        .unwrap();
    let m = tx.slack_message("r1").await.unwrap().unwrap();
    assert_eq!(
        (m.channel.as_deref(), m.ts.as_deref()),
        (Some("C1"), Some("123.456"))
    );
    tx.commit().await.unwrap();
}

async fn slack_bindings_prefer_a_code_and_codes_are_taken_once(store: Store) {
    let now = now_ms();
    let (alice, bob) = (identity("alice"), identity("bob"));
    let mut tx = store.begin().await.unwrap();
    tx.upsert_user(&alice, now).await.unwrap();
    tx.upsert_user(&bob, now).await.unwrap();
    assert!(tx.slack_binding("U1").await.unwrap().is_none());
    assert!(tx
        .slack_bind("U1", &alice.user_id(), "email", now)
        .await
        .unwrap());
    assert!(!tx
        .slack_bind("U1", &alice.user_id(), "email", now)
        .await
        .unwrap());
    let bound = tx.slack_binding("U1").await.unwrap();
    assert_eq!(bound, Some((alice.user_id(), "email".to_string())));
    let later = now + Duration::seconds(1);
    assert!(tx
        .slack_bind("U2", &alice.user_id(), "code", now)
        .await
        .unwrap());
    assert!(tx
        .slack_bind("U3", &alice.user_id(), "email", later)
        .await
        .unwrap());
    assert_eq!(
        tx.slack_user_of(&alice.user_id()).await.unwrap().as_deref(),
        Some("U2")
    );
    assert!(tx.slack_user_of(&bob.user_id()).await.unwrap().is_none());
    // Rebinding a Slack user to someone else is a change.
    assert!(tx
        .slack_bind("U1", &bob.user_id(), "code", later)
        .await
        .unwrap());
    assert_eq!(
        tx.slack_user_of(&bob.user_id()).await.unwrap().as_deref(),
        Some("U1")
    );
    // Link codes: taken once, never after they expire.
    let soon = now + Duration::minutes(10);
    tx.slack_insert_link_code("c1", &alice.user_id(), soon)
        .await
        .unwrap();
    tx.slack_insert_link_code("c2", &alice.user_id(), now)
        .await
        .unwrap();
    assert_eq!(
        tx.slack_take_link_code("c1", now).await.unwrap(),
        Some(alice.user_id())
    );
    assert!(tx.slack_take_link_code("c1", now).await.unwrap().is_none());
    assert!(tx.slack_take_link_code("c2", now).await.unwrap().is_none());
    // A click is handled once; a day later its key is forgotten.
    assert!(tx.slack_first_click("k1", now).await.unwrap());
    assert!(!tx.slack_first_click("k1", now).await.unwrap());
    let next_day = now + Duration::days(1) + Duration::seconds(1);
    assert!(tx.slack_first_click("k1", next_day).await.unwrap());
    tx.commit().await.unwrap();
}

async fn a_slack_confirmation_is_taken_once_before_it_expires(store: Store) {
    let now = now_ms();
    let alice = identity("alice");
    let mut tx = store.begin().await.unwrap();
    tx.upsert_user(&alice, now).await.unwrap();
    let r = request("r1", "u-bob", "db", Start::Pending, now);
    tx.insert_request(&permits().await.request(&r), &r, None)
        .await
        .unwrap();
    let confirmation = |id: &str, state: &str, mins: i64| Confirmation {
        id: id.into(),
        state: state.into(),
        request_id: "r1".into(),
        verdict: "approve".into(),
        slack_user_id: "U1".into(),
        user_id: alice.user_id(),
        nonce: format!("nonce-{id}"),
        pkce_verifier: format!("pkce-{id}"),
        expires_at: to_ms(now + Duration::minutes(mins)),
        comment: Some(format!("because {id}")),
    };
    tx.slack_insert_confirmation(&confirmation("f1", "st1", 10))
        .await
        .unwrap();
    tx.slack_insert_confirmation(&confirmation("f2", "st2", -1))
        .await
        .unwrap();
    let got = tx.slack_confirmation("f1", now).await.unwrap().unwrap();
    assert_eq!(
        (
            got.state.as_str(),
            got.nonce.as_str(),
            got.pkce_verifier.as_str()
        ),
        ("st1", "nonce-f1", "pkce-f1")
    );
    assert!(tx.slack_confirmation("f2", now).await.unwrap().is_none());
    assert!(tx.slack_confirmation("nope", now).await.unwrap().is_none());
    let taken = tx
        .slack_take_confirmation("st1", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (taken.id.as_str(), taken.expires_at),
        ("f1", to_ms(now + Duration::minutes(10)))
    );
    assert!(tx
        .slack_take_confirmation("st1", now)
        .await
        .unwrap()
        .is_none());
    assert!(tx
        .slack_take_confirmation("st2", now)
        .await
        .unwrap()
        .is_none());
    tx.commit().await.unwrap();
}

macro_rules! store_suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let url = format!("sqlite://{}", dir.path().join("t.db").display());
                    let store = latchkey::store::Store::connect(&url).await.unwrap();
                    store.migrate().await.unwrap();
                    super::$case(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(db) = crate::helpers::fresh_postgres().await else { return };
                    let store = latchkey::store::Store::connect(&db.url).await.unwrap();
                    store.migrate().await.unwrap();
                    super::$case(store.clone()).await;
                    store.close().await;
                    db.drop_db().await;
                }
            )*
        }
    };
}

store_suite!(
    sessions_round_trip,
    revocation_happens_once,
    a_lock_ends_the_users_sessions_only,
    a_login_attempt_is_taken_once_and_not_after_expiry,
    an_id_token_is_marked_used_once,
    a_rolled_back_transaction_leaves_nothing,
    migrations_are_idempotent,
    an_access_request_round_trips_and_updates_only_from_its_version,
    reviews_are_one_per_reviewer_and_read_oldest_first,
    requests_are_listed_newest_first_and_found_when_due,
    requests_are_found_by_id_prefix_and_by_filter,
    the_live_grant_that_lasts_longest_is_found,
    the_gate_reads_the_states_of_many_grants_and_sessions,
    holds_read_what_they_hold,
    users_are_found_by_id_email_and_lock_identifier,
    development_sessions_end_together_and_pending_logins_are_capped,
    audit_events_are_chained_in_commit_order_and_read_back,
    a_thousand_events_and_more_are_written_in_one_commit,
    events_from_before_the_chain_are_chained_once,
    an_export_reports_the_requests_alive_in_its_period,
    checkpoints_are_kept_in_order_with_their_delivery,
    aws_denies_merge_and_their_outbox_is_leased,
    an_aws_deny_outbox_row_is_released_or_removed_by_its_generation,
    a_locked_users_grants_with_live_aws_sessions_are_found,
    the_slack_outbox_dedupes_claims_and_retries,
    slack_bindings_prefer_a_code_and_codes_are_taken_once,
    a_slack_confirmation_is_taken_once_before_it_expires,
    a_lock_waits_for_an_issuance_holding_against_locks,
);

#[tokio::test]
async fn the_broker_runs_on_postgresql() {
    let Some(db) = fresh_postgres().await else {
        return;
    };
    let app = crate::helpers::spawn_app(crate::helpers::Options {
        dev: true,
        database_url: Some(db.url.clone()),
        ..Default::default()
    })
    .await;
    let token = app.dev_login("alice@example.com", &["eng"]).await;
    let ready: serde_json::Value = app.get("/readyz", None).await.json().await.unwrap();
    assert_eq!(ready["database"], "postgres");
    assert_eq!(
        app.get("/v1/session", Some(&token)).await.status(),
        reqwest::StatusCode::OK
    );
    app.stop().await.unwrap();
    db.drop_db().await;
}
