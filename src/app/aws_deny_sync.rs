//! The worker that writes each role's deny policy to IAM: it drains `aws_deny_outbox`
//! (queued with the revocation or lock, so a crash or restart loses nothing), renders the
//! role's document from its live entries within the size budget, writes it (or deletes it
//! when nothing is left), and audits what it did: `aws.session_denied` when an entry first
//! holds at AWS, `aws.deny_removed` once every session it covered has expired, and
//! `aws.deny_failed` (once per entry) when IAM refused, could not be reached, or the entry
//! did not fit. A failed write is retried with backoff until it succeeds or every session
//! it was for has expired.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::adapters::providers::aws_deny;
use crate::adapters::providers::aws_deny::{Entry, Rendered, Target, POLICY_NAME};
use crate::adapters::providers::aws_iam::{IamClient, IamError};
use crate::app::core::Core;
use crate::app::error::ServiceError;
use crate::model::audit::{AuditEvent, EventKind, Origin, SYSTEM};
use crate::model::domain::{from_ms, to_ms};
use crate::store::{DenyOutboxRow, DenyRow, Tx};

/// How long a worker holds a role it is writing before another may take it: longer than
/// the three IAM calls of one write can take.
const LEASE: Duration = Duration::from_secs(120);
/// Longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How often the worker looks for due roles.
const POLL: Duration = Duration::from_millis(500);

/// The wait before attempt `attempts + 1`: 1 s, doubling, at most five minutes.
pub fn backoff(attempts: i64) -> Duration {
    let exp = attempts.clamp(0, 16) as u32;
    Duration::from_secs(2u64.saturating_pow(exp)).min(MAX_BACKOFF)
}

/// The worker that writes the queued denies to IAM: what it needs and nothing else.
#[derive(Clone)]
pub struct DenyWriter {
    pub(crate) core: Arc<Core>,
    pub(crate) iam: Arc<IamClient>,
}

/// Drains the outbox until the task is aborted.
pub async fn run(writer: DenyWriter) {
    loop {
        match drain(&writer, Utc::now()).await {
            Ok(0) => tokio::time::sleep(POLL).await,
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "AWS deny outbox: the database or the generator failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Writes every role due at `now`; returns how many were attempted.
pub async fn drain(writer: &DenyWriter, now: DateTime<Utc>) -> Result<usize, ServiceError> {
    let mut tx = writer.core.store.begin_read().await?;
    let due = tx.aws_deny_due(now, 20).await?;
    tx.commit().await?;
    let mut attempted = 0;
    for row in due {
        let mut tx = writer.core.store.begin().await?;
        let until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        let claimed = tx.aws_deny_claim(row.id, now, until).await?;
        tx.commit().await?;
        if claimed {
            attempted += 1;
            sync_role(writer, &row, now).await?;
        }
    }
    Ok(attempted)
}

fn entry(d: &DenyRow) -> Option<Entry> {
    let target = match (d.kind.as_str(), d.issued_before) {
        ("request", _) => Target::Request(d.value.clone()),
        ("identity", Some(before)) => Target::Identity {
            source_identity: d.value.clone(),
            issued_before: from_ms(before),
        },
        _ => return None,
    };
    Some(Entry {
        id: d.id,
        target,
        written: d.written_at.is_some(),
    })
}

/// Makes IAM hold `document` as the role's deny policy (none: no policy). Reads it back
/// first, so an unchanged document is not written again and one removed or edited by
/// someone else is put back.
async fn write(iam: &IamClient, role_arn: &str, document: Option<&str>) -> Result<(), IamError> {
    match document {
        None => iam
            .delete_role_policy(role_arn, POLICY_NAME)
            .await
            .map(drop),
        Some(doc) => {
            let current = iam.get_role_policy(role_arn, POLICY_NAME).await?;
            if current.is_some_and(|c| aws_deny::same(&c, doc)) {
                return Ok(());
            }
            iam.put_role_policy(role_arn, POLICY_NAME, doc).await
        }
    }
}

async fn sync_role(
    writer: &DenyWriter,
    row: &DenyOutboxRow,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let mut tx = writer.core.store.begin_read().await?;
    let rows = tx.aws_denies(&row.role_arn).await?;
    tx.commit().await?;
    let (expired, live): (Vec<DenyRow>, Vec<DenyRow>) =
        rows.into_iter().partition(|d| d.lasts_until <= to_ms(now));
    let entries: Vec<Entry> = live.iter().filter_map(entry).collect();
    let rendered = aws_deny::render(&entries, writer.core.config.aws.deny_policy_max_chars);
    let result = write(&writer.iam, &row.role_arn, rendered.document.as_deref()).await;
    let mut tx = writer.core.store.begin().await?;
    match result {
        Ok(()) => {
            let budget = writer.core.config.aws.deny_policy_max_chars;
            written(&mut tx, row, &live, &rendered, budget, now).await?;
            removed(&mut tx, &expired, rendered.document.is_none(), now).await?;
            let next = live.iter().map(|d| d.lasts_until).min().map(from_ms);
            tx.aws_deny_done(row.id, row.gen, next).await?;
        }
        Err(e) => {
            let wait = backoff(row.attempts);
            tracing::warn!(role = %row.role_arn, error = %e, attempts = row.attempts + 1, retry_in = ?wait, "AWS deny not written; will retry");
            for d in live
                .iter()
                .filter(|d| d.written_at.is_none() && !d.failure_reported)
            {
                let event = audited(d, EventKind::AwsDenyFailed, now)?
                    .outcome("failure", Some(e.to_string()))
                    .details(json!({ "role_arn": d.role_arn, "policy_name": POLICY_NAME, "code": e.code(),
                        "target": target(d), "retrying": true, "lasts_until": from_ms(d.lasts_until) }));
                tx.append_audit(&event).await?;
                tx.aws_deny_failure_reported(d.id).await?;
            }
            // What never held and whose sessions have all expired has nothing left to do.
            let never: Vec<DenyRow> = expired
                .iter()
                .filter(|d| d.written_at.is_none())
                .cloned()
                .collect();
            removed(&mut tx, &never, false, now).await?;
            if live.is_empty() && never.len() == expired.len() {
                tx.aws_deny_done(row.id, row.gen, None).await?;
            } else {
                let next = now + chrono::Duration::from_std(wait).unwrap_or_default();
                tx.aws_deny_retry(row.id, row.gen, next, &e.to_string())
                    .await?;
            }
        }
    }
    Ok(tx.commit().await?)
}

/// Audits the entries that now hold at AWS for the first time, and those left out.
async fn written(
    tx: &mut Tx,
    row: &DenyOutboxRow,
    live: &[DenyRow],
    rendered: &Rendered,
    budget: usize,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    for d in live {
        if rendered.included.contains(&d.id) && d.written_at.is_none() {
            let latency = (now - from_ms(d.created_at)).num_milliseconds();
            let event = audited(d, EventKind::AwsSessionDenied, now)?.details(json!({
                "role_arn": d.role_arn, "policy_name": POLICY_NAME, "target": target(d),
                "cause": d.cause, "lasts_until": from_ms(d.lasts_until), "queued_ms": latency,
                "attempts": row.attempts + 1, "policy_chars": rendered.size,
            }));
            tx.append_audit(&event).await?;
            tx.aws_deny_written(d.id, now).await?;
        } else if rendered.left_out.contains(&d.id) && !d.failure_reported {
            let event = audited(d, EventKind::AwsDenyFailed, now)?
                .outcome("failure", Some(format!("the role's deny policy is full ({} of {budget} characters); this deny is written once older ones expire", rendered.size)))
                .details(json!({ "role_arn": d.role_arn, "policy_name": POLICY_NAME, "code": "does_not_fit",
                    "target": target(d), "retrying": true, "lasts_until": from_ms(d.lasts_until) }));
            tx.append_audit(&event).await?;
            tx.aws_deny_failure_reported(d.id).await?;
        }
    }
    Ok(())
}

/// Removes the entries every session of which has expired, and audits each.
async fn removed(
    tx: &mut Tx,
    expired: &[DenyRow],
    policy_deleted: bool,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    for d in expired {
        if !tx.aws_deny_remove(d.id, now).await? {
            continue;
        }
        let details = json!({ "role_arn": d.role_arn, "policy_name": POLICY_NAME, "target": target(d),
            "lasts_until": from_ms(d.lasts_until), "policy_deleted": policy_deleted });
        let event = match d.written_at {
            Some(_) => audited(d, EventKind::AwsDenyRemoved, now)?.details(details),
            // It never held: say so, it is the one case where a session outlived its grant.
            None => audited(d, EventKind::AwsDenyFailed, now)?
                .outcome(
                    "failure",
                    Some("every session this deny was for expired before IAM accepted it".into()),
                )
                .details(details),
        };
        tx.append_audit(&event).await?;
    }
    Ok(())
}

fn target(d: &DenyRow) -> serde_json::Value {
    match d.kind.as_str() {
        "request" => json!({ "session_tag": "latchkey:request", "value": d.value }),
        _ => json!({ "source_identity": d.value, "issued_before": d.issued_before.map(from_ms) }),
    }
}

fn audited(
    d: &DenyRow,
    kind: EventKind,
    now: DateTime<Utc>,
) -> Result<AuditEvent, crate::model::random::RandomError> {
    let event = AuditEvent::new(kind, SYSTEM, &Origin::default(), now)?;
    Ok(match (&d.resource, &d.role) {
        (Some(resource), Some(role)) => event.about(&d.subject, resource, role),
        _ => {
            let mut event = event;
            event.subject = Some(d.subject.clone());
            event
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let waits: Vec<u64> = (0..12).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    }
}
