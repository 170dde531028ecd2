//! Button clicks, once Slack's signature is verified: `block_actions` payloads. Approve
//! is reviewed at once ([`review`](super::review)); Deny opens a modal asking for the
//! reason ([`deny`](super::deny)). The HTTP handler answers 200 at once; the work here
//! runs after, and answers the clicking user through the interaction's `response_url`,
//! ephemerally. Each click is keyed (action_ts or trigger_id, with the Slack user) and
//! acts once, whatever Slack retries.

use crate::adapters::slack::blocks::{APPROVE, DENY};
use crate::app::services::Slack;
use crate::app::slack::answer::{first_time, reply};
use crate::app::slack::payload::BlockActions;
use crate::app::slack::review::{review_click, Clicker};
use crate::model::access::Verdict;
use crate::model::audit::Origin;

/// Handles Approve and Deny clicks.
pub async fn handle_actions(slack: Slack, p: BlockActions, origin: Origin) {
    let Some(api) = slack.api.clone() else {
        return;
    };
    if p.kind != "block_actions" {
        return;
    }
    let who = Clicker {
        slack_user_id: &p.user.id,
        team: p.team.as_ref().map(|t| t.id.as_str()),
    };
    for action in &p.actions {
        let verdict = match action.action_id.as_str() {
            APPROVE => Verdict::Approve,
            DENY => Verdict::Deny,
            _ => continue,
        };
        let Some(request_id) = action.value.as_deref() else {
            continue;
        };
        let click = action
            .action_ts
            .as_deref()
            .or(p.trigger_id.as_deref())
            .unwrap_or("-");
        if !first_time(&slack, &format!("action:{click}:{}", p.user.id)).await {
            tracing::info!(slack_user = %p.user.id, "Slack: click already handled; ignored");
            continue;
        }
        if verdict == Verdict::Deny {
            // A denial needs a reason: it counts when the modal asking for it is submitted.
            crate::app::slack::deny::ask_reason(&slack, &api, &p, request_id).await;
            continue;
        }
        let text = review_click(&slack, &api, who, request_id, verdict, None, &origin).await;
        reply(&slack, p.response_url.as_deref(), &text).await;
    }
}
