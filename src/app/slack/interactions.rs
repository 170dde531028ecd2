//! Button clicks, once Slack's signature is verified: `block_actions` payloads (Approve
//! and Deny). The HTTP handler answers 200 at once; the work here runs after, and answers
//! the clicking user through the interaction's `response_url`, ephemerally. Each
//! interaction is keyed (action_ts or trigger_id, with the Slack user) and acts once,
//! whatever Slack retries. The shared helpers serve the slash command too.

use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use crate::app::slack::binding;

use crate::adapters::slack::api::SlackApi;
use crate::adapters::slack::blocks::{APPROVE, DENY};
use crate::app::error::ServiceError;
use crate::app::services::Slack;
use crate::app::slack::binding::BindError;
use crate::model::access::Verdict;
use crate::model::audit::{AuditEvent, EventKind, Origin};

/// The Slack user who acted.
#[derive(Debug, Clone, Deserialize)]
pub struct SlackUserRef {
    /// User id.
    pub id: String,
}

/// The workspace.
#[derive(Debug, Clone, Deserialize)]
pub struct TeamRef {
    /// Team id.
    pub id: String,
}

/// One clicked element.
#[derive(Debug, Clone, Deserialize)]
pub struct Action {
    /// Which button.
    pub action_id: String,
    /// The request id the button carries.
    pub value: Option<String>,
    /// When it was clicked (unique per click).
    pub action_ts: Option<String>,
}

/// A `block_actions` payload (the fields latchkey reads).
#[derive(Debug, Clone, Deserialize)]
pub struct BlockActions {
    /// `block_actions`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Who clicked.
    pub user: SlackUserRef,
    /// The workspace.
    pub team: Option<TeamRef>,
    /// What was clicked.
    #[serde(default)]
    pub actions: Vec<Action>,
    /// Where to answer.
    pub response_url: Option<String>,
    /// Unique per interaction.
    pub trigger_id: Option<String>,
}

pub(crate) fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Reads an interaction body (`payload=<JSON>`, form-encoded).
pub fn parse_interaction(body: &[u8]) -> Result<BlockActions, String> {
    let payload = form(body)
        .remove("payload")
        .ok_or("no payload field in the interaction")?;
    serde_json::from_str(&payload).map_err(|e| format!("unreadable interaction payload: {e}"))
}

/// Marks an interaction handled; false if it already was.
pub(crate) async fn first_time(slack: &Slack, key: &str) -> bool {
    let result = async {
        let mut tx = slack.core.store.begin().await?;
        let first = tx.slack_first_click(key, Utc::now()).await?;
        tx.commit().await?;
        Ok::<_, crate::store::StoreError>(first)
    }
    .await;
    match result {
        Ok(first) => first,
        Err(e) => {
            tracing::error!(error = %e, "Slack: could not record the interaction; ignoring it");
            false
        }
    }
}

pub(crate) async fn reply(slack: &Slack, response_url: Option<&str>, text: &str) {
    let (Some(api), Some(url)) = (slack.api.as_ref(), response_url) else {
        return;
    };
    let body = json!({"response_type": "ephemeral", "replace_original": false, "text": text});
    if let Err(e) = api.respond(url, &body).await {
        tracing::warn!(error = %e, "Slack: could not answer the interaction");
    }
}

/// What a refused operation tells the Slack user (never internal text).
pub(crate) fn said(e: &ServiceError) -> String {
    match e {
        ServiceError::Store(_) | ServiceError::Key(_) | ServiceError::Sign(_) => {
            tracing::error!(error = %e, "Slack interaction failed");
            "latchkey failed internally; try again, or use the CLI".into()
        }
        other => other.to_string(),
    }
}

async fn audit_unbound(
    slack: &Slack,
    slack_user: &str,
    request_id: &str,
    why: &BindError,
    origin: &Origin,
) {
    let made = AuditEvent::new(
        EventKind::ReviewRefused,
        &format!("slack:{slack_user}"),
        origin,
        Utc::now(),
    );
    let mut e = match made {
        Ok(e) => e
            .outcome("refused", Some(why.to_string()))
            .details(json!({ "via": "slack", "slack_user_id": slack_user, "code": why.code() })),
        Err(err) => {
            tracing::error!(error = %err, "could not audit a refused Slack click");
            return;
        }
    };
    e.subject = Some(request_id.to_string());
    let written = async {
        let mut tx = slack.core.store.begin().await?;
        tx.append_audit(&e).await?;
        tx.commit().await
    }
    .await;
    if let Err(err) = written {
        tracing::error!(error = %err, "could not audit a refused Slack click");
    }
}

/// Handles Approve and Deny clicks.
pub async fn handle_actions(slack: Slack, p: BlockActions, origin: Origin) {
    let Some(api) = slack.api.clone() else {
        return;
    };
    if p.kind != "block_actions" {
        return;
    }
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
        let text = review_click(&slack, &api, &p, request_id, verdict, &origin).await;
        reply(&slack, p.response_url.as_deref(), &text).await;
    }
}

/// One first-time click: the Slack user bound to a latchkey user (or the refusal
/// audited), then the review submitted for them; returns the answer to show them.
async fn review_click(
    slack: &Slack,
    api: &SlackApi,
    p: &BlockActions,
    request_id: &str,
    verdict: Verdict,
    origin: &Origin,
) -> String {
    let now = Utc::now();
    let team = p.team.as_ref().map(|t| t.id.as_str());
    let bound = match binding::resolve(slack, api, team, &p.user.id, now).await {
        Ok(bound) => bound,
        Err(e) => {
            audit_unbound(slack, &p.user.id, request_id, &e, origin).await;
            return format!("Not counted: {e}");
        }
    };
    let via = json!({
        "via": "slack", "slack_user_id": p.user.id,
        "slack_team_id": team, "binding": bound.method,
    });
    let reviewed = slack
        .access
        .review_via(
            &bound.principal,
            request_id,
            verdict,
            None,
            origin,
            Some(&via),
            now,
        )
        .await;
    match reviewed {
        // Eligible but a click is no login: confirm at the identity provider.
        Err(ServiceError::ReviewRefused(r)) if r.code == "login_not_fresh" => {
            match crate::app::slack::fresh::offer(slack, &p.user.id, &bound.principal.user_id, request_id, verdict, now).await {
                Ok(link) => format!("This role needs a fresh login: confirm with your identity provider at {link} (single use, 10 minutes)."),
                Err(e) => format!("Not counted: {}; use `latchkey login` and `latchkey approve {request_id}`", said(&e)),
            }
        }
        Ok(view) => format!(
            "You {} the request of {} for {}#{}; it is now {}.",
            if verdict == Verdict::Approve {
                "approved"
            } else {
                "denied"
            },
            view.request.requester_name,
            view.request.resource,
            view.request.role,
            view.request.state.as_str()
        ),
        Err(e) => format!("Not counted: {}", said(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interaction_is_read_from_its_form_encoded_payload() {
        let payload = json!({"type": "block_actions", "user": {"id": "U1"}, "team": {"id": "T1"},
            "actions": [{"action_id": APPROVE, "value": "r1", "action_ts": "1.2"}], "response_url": "https://hooks.slack.com/x"});
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish();
        let p = parse_interaction(body.as_bytes()).unwrap();
        assert_eq!(
            (p.user.id.as_str(), p.actions[0].value.as_deref()),
            ("U1", Some("r1"))
        );
        assert!(parse_interaction(b"payload=%7Bnot-json").is_err());
        assert!(parse_interaction(b"other=1").is_err());
    }
}
