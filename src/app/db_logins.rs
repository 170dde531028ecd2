//! The worker that ends grants' database logins. Woken the moment a change that ends a
//! grant commits (and polling besides, for grants that simply run out, and for other
//! replicas' changes), it takes each login due (queued with the change, or whose grant is
//! no longer live, or whose user is locked, or whose making was abandoned) and ends it on
//! its database: `NOLOGIN`, every session terminated, memberships revoked, role dropped, or
//! left disabled when it owns objects. It audits `db.sessions_terminated` (with the count),
//! `db.login_dropped` or `db.login_disabled`, and `db.cleanup_failed` (with the SQLSTATE)
//! once per run of failures, retrying with backoff while the database cannot be reached.
//! It also moves `VALID UNTIL` of logins whose grant was extended, and every minute looks
//! on each database for its own logins that came back after they were dropped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::adapters::providers::postgres::{Ended, PgError, Postgres};
use crate::app::aws_deny_sync::backoff;
use crate::app::core::Core;
use crate::app::error::ServiceError;
use crate::model::audit::{AuditEvent, EventKind, Origin, SYSTEM};
use crate::model::domain::{from_ms, to_ms};
use crate::model::policy::db::DbConnection;
use crate::store::DueLogin;

/// How often the worker looks for due logins when nothing wakes it.
pub const POLL: Duration = Duration::from_millis(200);
/// How long a worker holds a login it is ending: past the longest the steps can take.
const LEASE: Duration = Duration::from_secs(60);
/// How often each database is searched for logins that came back.
const SCAN: Duration = Duration::from_secs(60);

/// What the worker needs and nothing else.
#[derive(Clone)]
pub struct LoginReaper {
    pub(crate) core: Arc<Core>,
    pub(crate) postgres: Arc<Postgres>,
}

/// Ends due logins until the task is aborted.
pub async fn run(reaper: LoginReaper) {
    let mut next_scan = Instant::now() + Duration::from_secs(5);
    let mut behind_after = Instant::now();
    loop {
        let now = Utc::now();
        if let Err(e) = reap(&reaper, now).await {
            tracing::error!(error = %e, "database logins: the store failed; retrying");
        }
        if Instant::now() >= behind_after {
            if let Err(e) = extend(&reaper, now).await {
                tracing::warn!(error = %e, "database logins: VALID UNTIL not moved; retrying in 5 s");
                behind_after = Instant::now() + Duration::from_secs(5);
            }
        }
        if Instant::now() >= next_scan {
            scan(&reaper).await;
            next_scan = Instant::now() + SCAN;
        }
        tokio::select! {
            _ = reaper.core.logins_due.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Every connection of the catalogue, by target.
fn connections(core: &Core) -> BTreeMap<String, DbConnection> {
    crate::app::db_check::databases(core)
        .into_iter()
        .map(|(target, (conn, _))| (target, conn))
        .collect()
}

/// The connection a login was made through: its role's, else any to its database.
fn connection_of(core: &Core, d: &DueLogin) -> Option<DbConnection> {
    let policy = core.policy.current();
    let own = policy
        .catalogue
        .role(&d.login.resource, &d.login.role)
        .and_then(|(_, role)| role.db.as_ref())
        .map(|db| db.connection.clone())
        .filter(|c| c.target == d.login.target);
    own.or_else(|| connections(core).remove(&d.login.target))
}

/// Why a due login ends, for the audit log.
fn cause(d: &DueLogin, now: DateTime<Utc>) -> String {
    if let Some(c) = &d.login.end_cause {
        return c.clone();
    }
    match d.grant_state.as_str() {
        _ if d.locked => "user.locked".into(),
        "revoked" => "grant.revoked".into(),
        "active" if d.grant_end.is_some_and(|e| e > to_ms(now)) => {
            // Only an abandoned making is due with its grant live.
            "making_abandoned".into()
        }
        "active" | "expired" => "grant.expired".into(),
        "" => "grant_missing".into(),
        other => format!("grant.{other}"),
    }
}

/// Ends every login due at `now`; returns how many were attempted.
pub async fn reap(reaper: &LoginReaper, now: DateTime<Utc>) -> Result<usize, ServiceError> {
    let mut tx = reaper.core.store.begin_read().await?;
    let due = tx.db_logins_due(now, 20).await?;
    tx.commit().await?;
    let mut attempted = 0;
    for d in due {
        let mut tx = reaper.core.store.begin().await?;
        let until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        let claimed = tx.db_login_claim(d.login.id, now, until).await?;
        tx.commit().await?;
        if claimed {
            attempted += 1;
            end_one(reaper, &d, now).await?;
        }
    }
    Ok(attempted)
}

fn event(d: &DueLogin, kind: EventKind, at: DateTime<Utc>) -> Result<AuditEvent, ServiceError> {
    Ok(
        AuditEvent::new(kind, SYSTEM, &Origin::default(), at)?.about(
            &d.login.request_id,
            &d.login.resource,
            &d.login.role,
        ),
    )
}

async fn end_one(
    reaper: &LoginReaper,
    d: &DueLogin,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let l = &d.login;
    let cause = cause(d, now);
    let result = match connection_of(&reaper.core, d) {
        Some(conn) => reaper.postgres.end_login(&conn, &l.login).await,
        None => Err(PgError::Refused {
            target: l.target.clone(),
            sqlstate: String::new(),
            message: format!(
                "the catalogue no longer names a connection to {}; put it back (or end {} by hand)",
                l.target, l.login
            ),
        }),
    };
    let at = Utc::now();
    let mut tx = reaper.core.store.begin().await?;
    match result {
        Ok(o) => {
            let base = json!({ "login": l.login, "target": l.target, "cause": cause,
                "queued_ms": l.end_queued_at.map(|q| (at - from_ms(q)).num_milliseconds()) });
            if o.terminated > 0 {
                let mut details = base.clone();
                details["count"] = o.terminated.into();
                tx.append_audit(&event(d, EventKind::DbSessionsTerminated, at)?.details(details))
                    .await?;
            }
            let (kind, state, outcome) = match &o.ended {
                Ended::Dropped => (EventKind::DbLoginDropped, "dropped", None),
                Ended::Gone => (
                    EventKind::DbLoginDropped,
                    "dropped",
                    Some("it was already gone".to_string()),
                ),
                Ended::Disabled(why) => (
                    EventKind::DbLoginDisabled,
                    "disabled",
                    Some(format!(
                        "it owns objects, so it is left NOLOGIN without memberships: {why}"
                    )),
                ),
            };
            let mut details = base;
            details["revoked"] = json!(o.revoked);
            details["already_gone"] = (o.ended == Ended::Gone).into();
            let e = event(d, kind, at)?
                .outcome("success", outcome)
                .details(details);
            tx.append_audit(&e).await?;
            tx.db_login_ended(l.id, state, &cause, o.terminated, at)
                .await?;
            tracing::info!(login = %l.login, target = %l.target, terminated = o.terminated, state, "database login ended");
        }
        Err(e) => {
            let wait = backoff(l.attempts);
            tracing::warn!(login = %l.login, target = %l.target, error = %e, retry_in = ?wait, "database login not ended; will retry");
            if !l.failure_reported {
                let failed = event(d, EventKind::DbCleanupFailed, at)?
                    .outcome("failure", Some(e.to_string()))
                    .details(
                        json!({ "login": l.login, "target": l.target, "cause": cause,
                        "code": e.code(), "sqlstate": e.sqlstate(), "retrying": true }),
                    );
                tx.append_audit(&failed).await?;
            }
            let next = at + chrono::Duration::from_std(wait).unwrap_or_default();
            tx.db_login_retry(l.id, next, &e.to_string()).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Moves `VALID UNTIL` of live logins whose grant was extended.
async fn extend(reaper: &LoginReaper, now: DateTime<Utc>) -> Result<(), ServiceError> {
    let mut tx = reaper.core.store.begin_read().await?;
    let behind = tx.db_logins_behind(now, 20).await?;
    tx.commit().await?;
    let conns = connections(&reaper.core);
    for (l, end) in behind {
        let Some(conn) = conns.get(&l.target) else {
            continue;
        };
        reaper
            .postgres
            .set_valid_until(conn, &l.login, from_ms(end))
            .await?;
        let mut tx = reaper.core.store.begin().await?;
        tx.db_login_valid_until(l.id, from_ms(end)).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Looks on each database for the broker's logins: one recorded as dropped that is there
/// again is ended again; one never recorded is reported (another broker's, or made by hand
/// with the prefix), never touched.
pub async fn scan(reaper: &LoginReaper) {
    for (target, conn) in connections(&reaper.core) {
        let found = match reaper.postgres.logins(&conn).await {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(%target, error = %e, "database logins: not scanned");
                continue;
            }
        };
        let recorded = async {
            let mut tx = reaper.core.store.begin_read().await?;
            let r = tx.db_logins_on(&target).await?;
            tx.commit().await?;
            Ok::<_, crate::store::StoreError>(r.into_iter().collect::<BTreeMap<_, _>>())
        };
        let Ok(recorded) = recorded.await else {
            continue;
        };
        for login in found {
            match recorded.get(&login).map(String::as_str) {
                Some("dropped") => {
                    tracing::warn!(%target, %login, "a dropped login is back on its database; ending it again");
                    if let Ok(mut tx) = reaper.core.store.begin().await {
                        if tx.db_login_reopen(&target, &login).await.is_ok() {
                            let _ = tx.commit().await;
                        }
                    }
                    reaper.core.logins_due.notify_one();
                }
                Some(_) => {}
                None => {
                    tracing::warn!(%target, %login, "a login with the broker's prefix that this broker never made; left alone")
                }
            }
        }
    }
}
