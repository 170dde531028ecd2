//! Who may pass the gate: a bearer credential (a session token, or a broker token for the
//! resource's audience) whose human holds an active grant on the resource and is not
//! locked. An admission is remembered for [`CACHE_FOR`] so that a busy upstream does
//! not cost two database reads per request. The cache never outlives an end: every end
//! this replica commits forgets the admissions it touches at once, and the store poll
//! (every 400 ms) reads back the grant, session and locks behind every remembered
//! admission and forgets what ended elsewhere; if the poll fails, everything is forgotten.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use chrono::{DateTime, Utc};

use crate::access::{AccessRequest, State};
use crate::policy::{Kind, Resource, UpstreamAuth};

/// How long an admission is reused before it is checked in full again (ends reach it
/// sooner: see the module's documentation).
pub const CACHE_FOR: Duration = Duration::from_secs(30);
/// Admissions kept at most (a flood of distinct tokens cannot grow memory without bound).
const CACHE_MAX: usize = 50_000;

/// A principal admitted to a resource inside a grant.
#[derive(Debug, Clone)]
pub struct Admission {
    /// User id.
    pub user_id: String,
    /// Identifiers a lock may name: user id, subject, email.
    pub user_keys: Vec<String>,
    /// Email.
    pub email: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// The session the credential belongs to, when it is a session token.
    pub session_id: Option<String>,
    /// The grant.
    pub grant_id: String,
    /// The role.
    pub role: String,
    /// The resource.
    pub resource: String,
    /// When the grant ends.
    pub grant_ends: DateTime<Utc>,
    /// The upstream base URL.
    pub upstream: String,
    /// The identity assertion for the upstream.
    pub assertion: String,
    /// Its expiry.
    pub assertion_expires: DateTime<Utc>,
    /// `Authorization` for the upstream, when the resource wants one (livestream).
    pub upstream_bearer: Option<String>,
}

/// Why the gate refused, with the status and stable code the API answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 401, 403, 404, 400 or 503.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// For people.
    pub message: String,
}

impl Refusal {
    /// A refusal.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 403 for a grant that is not (or no longer) active.
    pub fn no_grant(resource: &str, latest: Option<&AccessRequest>, now: DateTime<Utc>) -> Self {
        let hint = format!("request one: latchkey request {resource} --reason \"…\"");
        let ran_out = latest.is_some_and(|g| {
            g.state == State::Expired
                || (g.state == State::Active && g.expires_at.is_none_or(|e| e <= now))
        });
        match latest.map(|g| g.state) {
            _ if ran_out => Self::new(
                StatusCode::FORBIDDEN,
                "grant_expired",
                format!("your grant on {resource} has expired; {hint}"),
            ),
            Some(State::Revoked) => Self::new(
                StatusCode::FORBIDDEN,
                "grant_revoked",
                format!("your grant on {resource} was revoked; {hint}"),
            ),
            _ => Self::new(
                StatusCode::FORBIDDEN,
                "no_active_grant",
                format!("you have no active grant for {resource}; {hint}"),
            ),
        }
    }
}

/// The gated resource named `name`, or why it cannot be passed.
pub fn gated(resource: Option<&Resource>, name: &str) -> Result<(Resource, String), Refusal> {
    let r = resource.ok_or_else(|| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "unknown_resource",
            format!("there is no resource {name:?}"),
        )
    })?;
    match (&r.kind, &r.upstream) {
        (Kind::Http, Some(u)) => Ok((r.clone(), u.clone())),
        _ => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "not_gated",
            format!("{name} is not an http resource; the gate serves http resources only"),
        )),
    }
}

/// Whether the gate must mint a livestream token for this resource.
pub fn wants_livestream(r: &Resource) -> bool {
    r.upstream_auth == UpstreamAuth::Livestream
}

/// Admissions by (credential fingerprint, resource), with when they were checked.
type Entries = HashMap<(String, String), (Instant, Arc<Admission>)>;

/// Recent admissions by credential fingerprint and resource.
#[derive(Default)]
pub struct AdmissionCache {
    entries: Mutex<Entries>,
}

impl AdmissionCache {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A fresh admission of this credential to this resource, if one is remembered.
    pub fn get(&self, print: &str, resource: &str, now: DateTime<Utc>) -> Option<Arc<Admission>> {
        let key = (print.to_string(), resource.to_string());
        let mut entries = self.lock();
        match entries.get(&key) {
            Some((at, a))
                if at.elapsed() < CACHE_FOR
                    && a.grant_ends > now
                    && a.assertion_expires - now > chrono::Duration::seconds(10) =>
            {
                Some(a.clone())
            }
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Remembers an admission.
    pub fn put(&self, print: String, a: Arc<Admission>) {
        let mut entries = self.lock();
        if entries.len() >= CACHE_MAX {
            entries.retain(|_, (at, _)| at.elapsed() < CACHE_FOR);
            if entries.len() >= CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert((print, a.resource.clone()), (Instant::now(), a));
    }

    /// Forgets every admission matching `which`.
    pub fn forget(&self, which: impl Fn(&Admission) -> bool) {
        self.lock().retain(|_, (_, a)| !which(a));
    }

    /// Grants, sessions and users behind the remembered admissions (for the poll).
    pub fn live(&self) -> Vec<Arc<Admission>> {
        self.lock().values().map(|(_, a)| a.clone()).collect()
    }
}
