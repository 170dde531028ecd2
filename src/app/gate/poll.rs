//! The store poll: every [`POLL`], and at once when the listener hears of an end or
//! reconnects (see `fanout`), the grants, sessions and users behind open streams and
//! remembered admissions are read back, and whatever ended (on another replica, or by
//! its clock) is ended here too. Nothing is read while nothing is open, except a ping
//! when the database has otherwise been silent for a while (see `reach`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::app::gate::revocation::{End, Liveness, POLL};
use crate::app::gate::state::Gate;
use crate::app::services::Gatekeeper;
use crate::model::domain::to_ms;
use crate::model::gate::admission_rules::Admission;
use crate::store::StoreError;

/// How long the database may be silent before an idle poll pings it (the listener's
/// heartbeat, every 500 ms, usually speaks first).
const SILENCE_BEFORE_PING: std::time::Duration = std::time::Duration::from_secs(1);

/// Polls until the keeper stops.
pub async fn poll_forever(keeper: Gatekeeper) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = keeper.gate.wake.notified() => {}
        }
        if let Err(e) = poll_once(&keeper).await {
            // Fail closed: without the poll, remembered admissions could outlive an end
            // committed elsewhere; each is checked in full again.
            keeper.gate.admissions.forget(|_| true);
            tracing::error!(error = %e, "gate poll failed; admissions forgotten; retrying");
        }
    }
}

/// One poll: what is open, its ends read back in one transaction, and whatever ended
/// ended here too.
pub async fn poll_once(keeper: &Gatekeeper) -> Result<(), StoreError> {
    let gate = &keeper.gate;
    let streams = gate.hub.snapshot();
    let admitted = gate.admissions.live();
    if streams.is_empty() && admitted.is_empty() {
        // Nothing to read back; but the cut-off rule needs to know the database answers
        // when the listener, which usually says so, cannot.
        if gate.reach.bounded() && gate.reach.silent_for() > SILENCE_BEFORE_PING {
            keeper.core.store.ping().await?;
            gate.reach.contact();
        }
        return Ok(());
    }
    let (grants, sessions) = watched(&streams, &admitted);
    let now = Utc::now();
    let mut tx = keeper.core.store.begin_read().await?;
    let grant_states = tx.grant_states(&grants).await?;
    let session_states = tx.session_states(&sessions).await?;
    let locks = tx.lock_identifiers().await?;
    tx.commit().await?;
    gate.reach.contact();
    end_grants(gate, &grants, &grant_states, now);
    end_sessions(gate, &sessions, &session_states, now);
    end_locked(gate, &streams, &admitted, &locks);
    Ok(())
}

/// The grants and the sessions behind open streams and remembered admissions, each once.
fn watched(streams: &[Liveness], admitted: &[Arc<Admission>]) -> (Vec<String>, Vec<String>) {
    let grants: BTreeSet<String> = streams
        .iter()
        .map(|s| s.grant_id.clone())
        .chain(admitted.iter().map(|a| a.grant_id.clone()))
        .collect();
    let sessions: BTreeSet<String> = streams
        .iter()
        .filter_map(|s| s.session_id.clone())
        .chain(admitted.iter().filter_map(|a| a.session_id.clone()))
        .collect();
    (grants.into_iter().collect(), sessions.into_iter().collect())
}

/// Ends each watched grant the store no longer shows active and unexpired.
fn end_grants(
    gate: &Gate,
    grants: &[String],
    grant_states: &[(String, String, Option<i64>)],
    now: DateTime<Utc>,
) {
    let known: HashMap<&str, (&str, Option<i64>)> = grant_states
        .iter()
        .map(|(id, state, exp)| (id.as_str(), (state.as_str(), *exp)))
        .collect();
    for id in grants {
        let end = match known.get(id.as_str()) {
            None => Some(End::GrantEnded),
            Some(("active", Some(exp))) if *exp > to_ms(now) => None,
            Some(("active", _)) => Some(End::Expired),
            Some((state, _)) => Some(End::of_state(state)),
        };
        if let Some(why) = end {
            gate.end_grant(id, why);
        }
    }
}

/// Ends each watched session the store no longer shows unrevoked and unexpired.
fn end_sessions(
    gate: &Gate,
    sessions: &[String],
    session_states: &[(String, Option<i64>, i64)],
    now: DateTime<Utc>,
) {
    let live_sessions: HashSet<&str> = session_states
        .iter()
        .filter(|(_, revoked, exp)| revoked.is_none() && *exp > to_ms(now))
        .map(|(id, _, _)| id.as_str())
        .collect();
    for id in sessions
        .iter()
        .filter(|s| !live_sessions.contains(s.as_str()))
    {
        gate.end_session(id);
    }
}

/// Ends the users named by a lock who have something open here.
fn end_locked(gate: &Gate, streams: &[Liveness], admitted: &[Arc<Admission>], locks: &[String]) {
    // Only the locks that name someone open here: each end is also kept for the checks
    // in flight (see the cache), and most locks name nobody with an open stream.
    let open: HashSet<String> = streams
        .iter()
        .flat_map(|s| s.user_keys.iter())
        .chain(admitted.iter().flat_map(|a| a.user_keys.iter()))
        .map(|k| k.to_lowercase())
        .collect();
    for identifier in locks.iter().filter(|l| open.contains(&l.to_lowercase())) {
        gate.end_user(identifier);
    }
}
