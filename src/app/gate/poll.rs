//! The store poll: every [`POLL`], the grants, sessions and users behind open streams and
//! remembered admissions are read back, and whatever ended (on another replica, or by
//! its clock) is ended here too. Nothing is read while nothing is open.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::Utc;

use crate::app::gate::revocation::{End, POLL};
use crate::app::services::Gatekeeper;
use crate::model::domain::to_ms;
use crate::store::StoreError;

/// Polls until the keeper stops.
pub async fn poll_forever(keeper: Gatekeeper) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = poll_once(&keeper).await {
            // Fail closed: without the poll, remembered admissions could outlive an end
            // committed elsewhere; each is checked in full again.
            keeper.gate.admissions.forget(|_| true);
            tracing::error!(error = %e, "gate poll failed; admissions forgotten; retrying");
        }
    }
}

/// One poll.
pub async fn poll_once(keeper: &Gatekeeper) -> Result<(), StoreError> {
    let gate = &keeper.gate;
    let streams = gate.hub.snapshot();
    let admitted = gate.admissions.live();
    if streams.is_empty() && admitted.is_empty() {
        return Ok(());
    }
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
    let grants: Vec<String> = grants.into_iter().collect();
    let sessions: Vec<String> = sessions.into_iter().collect();
    let now = Utc::now();
    let mut tx = keeper.core.store.begin_read().await?;
    let grant_states = tx.grant_states(&grants).await?;
    let session_states = tx.session_states(&sessions).await?;
    let locks = tx.lock_identifiers().await?;
    tx.commit().await?;
    let known: HashMap<&str, (&str, Option<i64>)> = grant_states
        .iter()
        .map(|(id, state, exp)| (id.as_str(), (state.as_str(), *exp)))
        .collect();
    for id in &grants {
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
    Ok(())
}
