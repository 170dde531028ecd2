//! The Slack outbox. A request change that Slack should show is written to
//! `slack_outbox` in the same transaction as the change, so it can never be lost or seen
//! before the change commits; a background worker drains it, rendering each message from
//! the request's state at sending time, with exponential backoff (and Slack's own
//! `Retry-After`). A Slack outage delays messages and blocks nothing; a restart resumes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::adapters::slack::api::{SlackApi, SlackError};
use crate::adapters::slack::blocks;
use crate::adapters::slack::blocks::MessageView;
use crate::app::services::Slack;
use crate::model::access::{AccessRequest, Review, State};
use crate::store::{OutboxRow, SlackMessage, StoreError, Tx, UserRecord};

/// How long a worker holds a row it is sending before another may take it.
const LEASE: Duration = Duration::from_secs(60);
/// Longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// A notification still unsent after this long is dropped, with an error in the log.
const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::hours(24);
/// How often the worker looks for due rows.
const POLL: Duration = Duration::from_millis(250);

/// Queues the first message of a request that needs a human (or tells of break-glass).
pub async fn announce(
    tx: &mut Tx,
    r: &AccessRequest,
    first_request: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.slack_announce(&r.id, first_request).await?;
    tx.slack_enqueue(&format!("message:{}", r.id), &r.id, "message", now)
        .await
}

/// Queues an update of an announced request's message and, when `decided`, a direct
/// message to the requester. Nothing for requests Slack never showed.
pub async fn changed(
    tx: &mut Tx,
    r: &AccessRequest,
    decided: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if tx.slack_message(&r.id).await?.is_none() {
        return Ok(());
    }
    tx.slack_enqueue(&format!("message:{}", r.id), &r.id, "message", now)
        .await?;
    if decided && matches!(r.state, State::Approved | State::Denied | State::Active) {
        let key = format!("dm:{}:{}", r.id, r.state.as_str());
        tx.slack_enqueue(&key, &r.id, "dm", now).await?;
    }
    Ok(())
}

/// Why one row was not sent.
enum Failure {
    /// Try again later (after at least this long, if Slack said).
    Retry(SlackError),
    /// It can never be sent; drop it.
    Drop(String),
    /// The database failed.
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl From<SlackError> for Failure {
    fn from(e: SlackError) -> Self {
        Failure::Retry(e)
    }
}

/// The wait before attempt `attempts + 1`.
pub fn backoff(attempts: i64, error: &SlackError) -> Duration {
    if let SlackError::RateLimited(after) = error {
        return *after;
    }
    let exp = attempts.clamp(0, 16) as u32;
    Duration::from_secs(2u64.saturating_pow(exp)).min(MAX_BACKOFF)
}

/// Drains the outbox until the task is aborted.
pub async fn run(slack: Slack, api: SlackApi) {
    loop {
        match drain(&slack, &api, Utc::now()).await {
            Ok(0) => tokio::time::sleep(POLL).await,
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "Slack outbox: database failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Sends what is due at `now`; returns how many rows were attempted.
pub async fn drain(slack: &Slack, api: &SlackApi, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let mut tx = slack.core.store.begin_read().await?;
    let due = tx.slack_due(now, 20).await?;
    tx.commit().await?;
    let mut attempted = 0;
    for row in due {
        let mut tx = slack.core.store.begin().await?;
        let until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        let claimed = tx.slack_claim(row.id, now, until).await?;
        tx.commit().await?;
        if !claimed {
            continue;
        }
        attempted += 1;
        let result = send(slack, api, &row).await;
        let mut tx = slack.core.store.begin().await?;
        match result {
            Ok(()) => {
                tx.slack_sent(row.id, row.gen).await?;
            }
            Err(Failure::Drop(why)) => {
                tracing::warn!(request = %row.request_id, kind = %row.kind, why = %why, "Slack notification dropped");
                tx.slack_drop(row.id).await?;
            }
            Err(Failure::Retry(e)) => {
                let age = now - crate::model::domain::from_ms(row.created_at);
                if age > GIVE_UP_AFTER {
                    tracing::error!(request = %row.request_id, kind = %row.kind, error = %e, attempts = row.attempts + 1, "Slack notification given up after 24h");
                    tx.slack_drop(row.id).await?;
                } else {
                    let wait = backoff(row.attempts, &e);
                    tracing::warn!(request = %row.request_id, kind = %row.kind, error = %e, retry_in = ?wait, "Slack notification failed; will retry");
                    let next = now + chrono::Duration::from_std(wait).unwrap_or_default();
                    tx.slack_retry(row.id, row.gen, next, &e.to_string())
                        .await?;
                }
            }
            Err(Failure::Store(e)) => {
                // Leave the lease to run out; the row is tried again then.
                tracing::error!(request = %row.request_id, error = %e, "Slack outbox: database failed while sending");
            }
        }
        tx.commit().await?;
    }
    Ok(attempted)
}

/// Sends one row: a direct message to the requester, or the request's channel message
/// (posted the first time, updated after), rendered from what the store holds now.
async fn send(slack: &Slack, api: &SlackApi, row: &OutboxRow) -> Result<(), Failure> {
    let Some(config) = slack.core.config.slack.as_ref() else {
        return Err(Failure::Drop("Slack is not configured".into()));
    };
    let held = read_row_subject(slack, row).await?;
    let Some(r) = held.request else {
        return Err(Failure::Drop("no such request".into()));
    };
    if row.kind == "dm" {
        return send_dm(api, &r, held.requester_slack, held.requester).await;
    }
    let Some(message) = held.message else {
        return Err(Failure::Drop("the request was never announced".into()));
    };
    let (text, blocks) = render_message(slack, &r, &held.reviews, message.first_request);
    match (message.channel, message.ts) {
        (Some(channel), Some(ts)) => match api.update(&channel, &ts, &text, &blocks).await {
            Err(SlackError::Refused(code))
                if matches!(code.as_str(), "message_not_found" | "cant_update_message") =>
            {
                Err(Failure::Drop(format!("chat.update: {code}")))
            }
            other => Ok(other?),
        },
        _ => {
            let channel = config
                .channel_for(&r.resource)
                .ok_or_else(|| Failure::Drop(format!("no Slack channel for {}", r.resource)))?;
            let (channel, ts) = api.post_message(channel, &text, &blocks).await?;
            let mut tx = slack.core.store.begin().await?;
            tx.slack_message_posted(&r.id, &channel, &ts).await?;
            tx.commit().await?;
            Ok(())
        }
    }
}

/// What the store holds now for one outbox row.
struct RowSubject {
    request: Option<AccessRequest>,
    reviews: Vec<Review>,
    message: Option<SlackMessage>,
    /// For a direct message: the requester's linked Slack user.
    requester_slack: Option<String>,
    /// For a direct message to a requester with no linked Slack user: their record.
    requester: Option<UserRecord>,
}

/// Reads, in one transaction, the request of a row, its reviews and message and, for a
/// direct message, how to reach the requester.
async fn read_row_subject(slack: &Slack, row: &OutboxRow) -> Result<RowSubject, StoreError> {
    let mut tx = slack.core.store.begin_read().await?;
    let request = tx.request(&row.request_id).await?;
    let reviews = tx.reviews(&row.request_id).await?;
    let message = tx.slack_message(&row.request_id).await?;
    let requester_slack = match &request {
        Some(r) if row.kind == "dm" => tx.slack_user_of(&r.requester_id).await?,
        _ => None,
    };
    let requester = match &request {
        Some(r) if row.kind == "dm" && requester_slack.is_none() => {
            tx.user_by_id(&r.requester_id).await?
        }
        _ => None,
    };
    tx.commit().await?;
    Ok(RowSubject {
        request,
        reviews,
        message,
        requester_slack,
        requester,
    })
}

/// Tells the requester of a decision, directly: their linked Slack user, else the one
/// Slack finds by their email.
async fn send_dm(
    api: &SlackApi,
    r: &AccessRequest,
    requester_slack: Option<String>,
    requester: Option<UserRecord>,
) -> Result<(), Failure> {
    let slack_user = match requester_slack {
        Some(u) => u,
        None => {
            let email = requester
                .and_then(|u| u.email)
                .ok_or_else(|| Failure::Drop("the requester has no email".into()))?;
            api.lookup_by_email(&email)
                .await?
                .map(|u| u.id)
                .ok_or_else(|| Failure::Drop("the requester has no Slack account".into()))?
        }
    };
    let text = blocks::decided_text(r);
    let body = json!([{"type": "section", "text": {"type": "mrkdwn", "text": text}}]);
    api.post_message(&slack_user, &text, &body).await?;
    Ok(())
}

/// The channel message of a request as it stands: its text and blocks.
fn render_message(
    slack: &Slack,
    r: &AccessRequest,
    reviews: &[Review],
    first_request: bool,
) -> (String, serde_json::Value) {
    let policy = slack.core.policy.current();
    let role = policy
        .catalogue
        .role(&r.resource, &r.role)
        .map(|(_, role)| role);
    let reviewers = match role {
        Some(role) => crate::model::policy::review::reviewers_text(&policy, &r.resource, role),
        None => "nobody (the role is no longer in the catalogue)".into(),
    };
    let view = MessageView {
        request: r,
        reviews,
        reviewers: &reviewers,
        first_request,
        fresh_login: role.and_then(|role| role.reviewer_fresh_login),
        provider: slack.core.config.oidc.is_some(),
    };
    blocks::render(&view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes_and_honours_retry_after() {
        let down = SlackError::Unavailable("timeout".into());
        let waits: Vec<u64> = (0..12).map(|n| backoff(n, &down).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(
            backoff(0, &SlackError::RateLimited(Duration::from_secs(42))),
            Duration::from_secs(42)
        );
    }
}
