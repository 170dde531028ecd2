//! What runs beside the server: the policy watcher, the sweeper, the checkpointer, and
//! the one-time chaining of audit events from before the chain.

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;

use crate::service::{Broker, SharedBroker};
use crate::store::Store;

/// Reloads the policy on SIGHUP and when its files change. A broken policy is refused
/// with the reason in the log, and the previous one stays in force.
pub(super) async fn watch_policy(broker: SharedBroker) {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut seen = broker.policy.modified();
    loop {
        let by_signal = tokio::select! {
            _ = async { match hup.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending::<()>().await } } => true,
            _ = tokio::time::sleep(Duration::from_secs(2)) => false,
        };
        let modified = broker.policy.modified();
        if !by_signal && modified == seen {
            continue;
        }
        seen = modified;
        let before = broker.policy.current().hash.clone();
        let written = match broker.policy.reload().await {
            Ok(Some(p)) => {
                tracing::info!(hash = %p.hash, by_signal, "policy reloaded");
                let mut details = broker.policy.provenance();
                details["hash"] = serde_json::json!(p.hash);
                details["previous_hash"] = serde_json::json!(before);
                details["trigger"] =
                    serde_json::json!(if by_signal { "SIGHUP" } else { "file change" });
                audit_policy(&broker, "policy.reloaded", "success", None, details).await
            }
            Ok(None) => Ok(()),
            Err(e) => {
                tracing::error!(error = %e, "policy refused; the previous policy stays in force");
                let mut details = broker.policy.provenance();
                details["hash_in_force"] = serde_json::json!(before);
                details["trigger"] =
                    serde_json::json!(if by_signal { "SIGHUP" } else { "file change" });
                audit_policy(
                    &broker,
                    "policy.reloaded",
                    "refused",
                    Some(e.to_string()),
                    details,
                )
                .await
            }
        };
        if let Err(e) = written {
            tracing::error!(error = %e, "could not audit the policy reload");
        }
    }
}

pub(super) async fn audit_policy(
    broker: &Broker,
    kind: &str,
    outcome: &str,
    reason: Option<String>,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    let event =
        crate::audit::AuditEvent::new(kind, crate::audit::SYSTEM, &Default::default(), Utc::now())
            .outcome(outcome, reason)
            .details(details);
    let mut tx = broker.store.begin().await?;
    tx.append_audit(&event).await?;
    tx.commit().await?;
    Ok(())
}

/// Chains audit events written before the chain existed, before anything else writes.
pub(super) async fn chain_legacy_events(store: &Store) -> anyhow::Result<usize> {
    let mut tx = store.begin().await?;
    let n = tx
        .chain_legacy_events()
        .await
        .context("chaining earlier audit events")?;
    tx.commit().await?;
    Ok(n)
}

/// Signs a checkpoint every interval, also when nothing happened, and retries sending
/// the ones the sink has not taken.
pub(super) async fn checkpoint_forever(broker: SharedBroker) {
    use crate::service::audit::CheckpointTrigger;
    let mut tick = tokio::time::interval(broker.config.audit.checkpoint_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = broker
            .checkpoint(CheckpointTrigger::Interval, Utc::now())
            .await
        {
            tracing::error!(error = %e, "audit checkpoint failed; retrying at the next interval");
        }
    }
}

/// Expires overdue requests and grants every second, and closes the gate's idle upstream
/// connections once they have been idle too long.
pub(super) async fn sweep_forever(broker: SharedBroker) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        broker.gate.pool.prune();
        match broker.sweep(Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "expired overdue requests and grants"),
            Err(e) => tracing::error!(error = %e, "sweep failed; retrying"),
        }
    }
}
