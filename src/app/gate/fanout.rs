//! Revocations across replicas: each replica listens on PostgreSQL's notification channel
//! (see `store::listen`) and, on every notification and after every reconnect, wakes the
//! poll at once, which re-reads the state behind everything open here (payloads are
//! hints, never the truth). The poll keeps its own clock as the fallback. A round trip
//! every [`HEARTBEAT`] finds a half-open connection, which would otherwise go silent
//! for good. And the watchdog here fails closed when the database has been silent too
//! long (see `reach`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use crate::app::gate::revocation::End;
use crate::app::services::Gatekeeper;
use crate::store::{GateListener, Heard};

/// How often the listener's connection is proven alive by a round trip.
pub const HEARTBEAT: Duration = Duration::from_millis(500);
/// How long a heartbeat may take before the connection counts as dead.
const HEARTBEAT_WAIT: Duration = Duration::from_secs(1);
/// The longest pause between attempts to listen again.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// How often the watchdog looks at the database's silence.
const WATCHDOG: Duration = Duration::from_millis(100);

/// Listens until the keeper stops; returns at once on SQLite.
pub async fn listen_forever(keeper: Gatekeeper) {
    let gate = &keeper.gate;
    let mut backoff = Duration::from_millis(50);
    loop {
        let Some(listener) = keeper.core.store.gate_listener(&gate.listener).await else {
            return;
        };
        let outcome = match listener {
            Ok(mut l) => {
                backoff = Duration::from_millis(50);
                resync(&keeper);
                listen(&keeper, &mut l).await
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = outcome {
            tracing::warn!(why = %e, "gate listener lost its database connection; the poll carries on; listening again");
        }
        // Whatever is notified until the next LISTEN is lost: `resync` reads it back then.
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// LISTEN holds (again): the database answered, and what was missed is read back now.
fn resync(keeper: &Gatekeeper) {
    let gate = &keeper.gate;
    gate.reach.contact();
    gate.fanout.resyncs.fetch_add(1, Ordering::Relaxed);
    gate.wake.notify_one();
}

/// Hears notifications until the connection fails, proving it alive between them.
/// Returns why the connection was given up.
async fn listen(keeper: &Gatekeeper, l: &mut GateListener) -> Result<(), String> {
    let gate = &keeper.gate;
    let mut beat = Instant::now() + HEARTBEAT;
    loop {
        match tokio::time::timeout_at(beat, l.next()).await {
            Ok(Ok(Heard::Hint(what))) => {
                gate.reach.contact();
                gate.fanout.hints.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(what = %what, "gate notified of an end");
                gate.wake.notify_one();
            }
            // sqlx reconnected and listens again; what was sent meanwhile is lost.
            Ok(Ok(Heard::Resync)) => resync(keeper),
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => {
                match tokio::time::timeout(HEARTBEAT_WAIT, l.ping()).await {
                    Ok(Ok(())) => gate.reach.contact(),
                    Ok(Err(e)) => return Err(e.to_string()),
                    Err(_) => {
                        return Err("its heartbeat went unanswered (a half-open connection)".into())
                    }
                }
                beat = Instant::now() + HEARTBEAT;
            }
        }
    }
}

/// Fails closed while the database is silent past the bound: every stream closes with
/// `store_unreachable`, every remembered admission is forgotten (so that nothing a
/// revocation missed during the silence is reused after it). Returns at once on SQLite.
pub async fn watch_forever(keeper: Gatekeeper) {
    let gate = &keeper.gate;
    if !gate.reach.bounded() {
        return;
    }
    let mut tick = tokio::time::interval(WATCHDOG);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !gate.reach.is_cut() {
            continue;
        }
        if gate.reach.declare() {
            gate.admissions.forget(|_| true);
            tracing::error!(silent_ms = gate.reach.silent_for().as_millis() as u64, "the database has been unreachable past gate.cutoff_after: the gate admits nobody and closes its streams");
        }
        let n = gate.hub.end_where(End::StoreUnreachable, |_| true);
        if n > 0 {
            tracing::warn!(streams = n, "gated streams closed: database unreachable");
        }
    }
}
