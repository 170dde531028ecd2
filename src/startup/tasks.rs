//! What runs beside the server: the lease of the periodic jobs, the policy watcher, the
//! sweeper, the checkpointer, and the one-time chaining of audit events from before the chain.

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;

use std::sync::Arc;

use crate::app::{Access, App, Audit, Core};
use crate::model::audit::EventKind;
use crate::store::Store;

/// Reloads the policy on SIGHUP and when its files change. A broken policy is refused
/// with the reason in the log, and the previous one stays in force.
pub(super) async fn watch_policy(core: Arc<Core>) {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut seen = core.policy.modified();
    loop {
        let by_signal = tokio::select! {
            _ = async { match hup.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending::<()>().await } } => true,
            _ = tokio::time::sleep(Duration::from_secs(2)) => false,
        };
        let modified = core.policy.modified();
        if !by_signal && modified == seen {
            continue;
        }
        seen = modified;
        let before = core.policy.current().hash.clone();
        let written = match core.policy.reload().await {
            Ok(Some(p)) => {
                tracing::info!(hash = %p.hash, by_signal, "policy reloaded");
                let mut details = core.policy.provenance();
                details["hash"] = serde_json::json!(p.hash);
                details["previous_hash"] = serde_json::json!(before);
                details["trigger"] =
                    serde_json::json!(if by_signal { "SIGHUP" } else { "file change" });
                audit_policy(&core, EventKind::PolicyReloaded, "success", None, details).await
            }
            Ok(None) => Ok(()),
            Err(e) => {
                tracing::error!(error = %e, "policy refused; the previous policy stays in force");
                let mut details = core.policy.provenance();
                details["hash_in_force"] = serde_json::json!(before);
                details["trigger"] =
                    serde_json::json!(if by_signal { "SIGHUP" } else { "file change" });
                audit_policy(
                    &core,
                    EventKind::PolicyReloaded,
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
    core: &Core,
    kind: EventKind,
    outcome: &str,
    reason: Option<String>,
    mut details: serde_json::Value,
) -> anyhow::Result<()> {
    // Which replica runs it: with several on one database, each audits its own policy.
    details["replica"] = serde_json::json!(core.replica.id);
    let event = crate::model::audit::AuditEvent::new(
        kind,
        crate::model::audit::SYSTEM,
        &Default::default(),
        Utc::now(),
    )?
    .outcome(outcome, reason)
    .details(details);
    let mut tx = core.store.begin().await?;
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

/// Signs a checkpoint every interval, also when nothing happened, and once
/// `audit.checkpoint_every_events` events were appended since the last one; retries
/// sending the ones the sink has not taken. Stops signing once the log is found broken.
pub(super) async fn checkpoint_forever(audit: Audit) {
    use crate::app::audit::CheckpointTrigger;
    let mut tick = tokio::time::interval(audit.core.config.audit.checkpoint_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let guard = audit.core.store.audit_guard().clone();
    let every = audit.core.config.audit.checkpoint_every_events;
    loop {
        let trigger = tokio::select! {
            _ = tick.tick() => CheckpointTrigger::Interval,
            () = guard.appended() => {
                let head = guard.known_head().map_or(0, |h| h.0);
                let signed = guard.known_checkpoint().map_or(0, |c| c.events);
                if head - signed < every {
                    continue;
                }
                CheckpointTrigger::Events
            }
        };
        if guard.is_broken() {
            continue;
        }
        // The interval's checkpoint is the leader's; one for events is decided under the
        // chain head's lock, so whichever replica comes first signs it, once.
        let fence = match trigger {
            CheckpointTrigger::Interval => match audit.core.fence() {
                Some(fence) => fence,
                None => continue,
            },
            _ => crate::store::Fence::Sole,
        };
        if let Err(e) = audit.checkpoint_fenced(trigger, Utc::now(), &fence).await {
            tracing::error!(error = %e, ?trigger, "audit checkpoint failed; retrying later");
        }
    }
}

/// Signs the events since the last checkpoint before the broker stops, and hands the sink
/// any checkpoint still undelivered. A failure is tried again a few times: a lost
/// shutdown checkpoint leaves the tail since the last one unprotected.
pub(super) async fn checkpoint_at_shutdown(audit: &Audit) {
    use crate::app::audit::CheckpointTrigger;
    const ATTEMPTS: u32 = 3;
    for attempt in 1..=ATTEMPTS {
        if audit.core.store.audit_guard().is_broken() {
            return;
        }
        match audit
            .checkpoint(CheckpointTrigger::Shutdown, Utc::now())
            .await
        {
            Ok(Some(cp)) => {
                return tracing::info!(
                    number = cp.number,
                    events = cp.events,
                    "audit checkpoint signed at shutdown"
                )
            }
            // Nothing new to sign; one signed earlier may not have reached the sink yet.
            Ok(None) => return audit.deliver_checkpoints().await,
            Err(e) if attempt < ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "audit checkpoint at shutdown failed; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => tracing::error!(error = %e, "audit checkpoint at shutdown failed"),
        }
    }
}

/// Why the broker refuses to start on this log, with each range in doubt and what to do.
pub(super) fn refusal(report: &crate::app::audit_verify::Report) -> String {
    let mut out = String::from(
        "the audit log is shorter than, or disagrees with, a signed checkpoint: refusing to start",
    );
    for p in &report.problems {
        out.push_str(&format!("\n  {}: {} ({})", p.range(), p.message, p.code));
    }
    out.push_str(&format!("\n{}", crate::store::audit_guard::WHAT_TO_DO));
    out
}

/// Expires overdue requests and grants every second, and closes the gate's idle upstream
/// connections once they have been idle too long.
pub(super) async fn sweep_forever(access: Access) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        access.gate.pool.prune();
        // A broken log refuses every change: nothing to expire until an operator acts.
        if access.core.store.audit_guard().is_broken() {
            continue;
        }
        // One replica sweeps: the leader of the periodic jobs.
        let Some(fence) = access.core.fence() else {
            continue;
        };
        match access.sweep_fenced(Utc::now(), &fence).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "expired overdue requests and grants"),
            Err(e) => tracing::error!(error = %e, "sweep failed; retrying"),
        }
    }
}

/// The broker's background tasks, in the order they are stopped.
pub(super) async fn spawn_background(
    app: &App,
    dev_source: Option<tokio::net::TcpListener>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let core = &app.core;
    // The lease first, so the sweeper and the checkpointer find it taken, if it was free.
    if let Err(e) = core.renew_lease().await {
        tracing::error!(error = %e, "taking the periodic jobs' lease failed; retrying");
    }
    let lease = tokio::spawn(crate::app::lease::hold_forever(core.clone()));
    let reloader = tokio::spawn(watch_policy(core.clone()));
    let sweeper = tokio::spawn(sweep_forever(app.access.clone()));
    let checkpointer = tokio::spawn(checkpoint_forever(app.audit.clone()));
    let feed = core
        .config
        .audit
        .event_sink
        .clone()
        .map(|sink| tokio::spawn(crate::app::audit_feed::run(core.store.clone(), sink)));
    // Slack's outbox drains in the background: Slack being slow or down blocks nothing.
    let slack = app
        .slack
        .api
        .clone()
        .map(|api| tokio::spawn(crate::app::slack::notify::run(app.slack.clone(), api)));
    // Denies of revoked AWS sessions: queued with the revocation, written from here.
    let aws_denies = tokio::spawn(crate::app::aws_deny_sync::run(app.deny_writer.clone()));
    let gate_poll = tokio::spawn(crate::app::gate::poll::poll_forever(app.gatekeeper.clone()));
    // Other replicas' ends, heard at once on PostgreSQL; and failing closed when cut off.
    let gate_listener = tokio::spawn(crate::app::gate::fanout::listen_forever(
        app.gatekeeper.clone(),
    ));
    let gate_cutoff = tokio::spawn(crate::app::gate::fanout::watch_forever(
        app.gatekeeper.clone(),
    ));
    // Database logins of ended grants: woken with the change that ends them, polled besides.
    let db_logins = tokio::spawn(crate::app::db_logins::run(app.login_reaper.clone()));
    // The broker's role on each database holds what it needs (logged; never blocks a start).
    let reaper = app.login_reaper.clone();
    let db_check = tokio::spawn(async move {
        crate::app::db_check::check_and_log(&reaper.core, &reaper.postgres).await
    });
    // Keys another replica rotated: a cheap poll of their version row.
    let keys = app.admin.shared_keys.clone().map(|shared| {
        let a = &app.admin;
        tokio::spawn(shared.follow(a.core.store.clone(), a.keyring.clone(), a.ssh_ca.clone()))
    });
    let dev_source =
        dev_source.map(|l| crate::edges::gate::devsource::spawn_dev(l, dev_assertion_check(app)));
    [
        Some(lease),
        Some(reloader),
        Some(sweeper),
        Some(checkpointer),
        feed,
        slack,
        keys,
    ]
    .into_iter()
    .flatten()
    .chain([
        gate_poll,
        gate_listener,
        gate_cutoff,
        aws_denies,
        db_logins,
        db_check,
    ])
    .chain(dev_source)
    .collect()
}

/// The development live-events source accepts the gate's own identity assertions.
fn dev_assertion_check(app: &App) -> crate::edges::gate::devsource::AssertionCheck {
    let admin = app.admin.clone();
    Some(Arc::new(move |a: &str| {
        serde_json::from_value(admin.keyring.jwks(Utc::now())).is_ok_and(|jwks| {
            crate::adapters::assertion::verify(
                &jwks,
                &admin.core.config.public_url,
                crate::edges::gate::devsource::DEV_AUDIENCE,
                a,
            )
            .is_ok()
        })
    }))
}
