//! A review from Slack (an Approve click, or a Deny's submitted reason): the Slack user
//! bound to a latchkey user (or the refusal audited), then the review submitted for them
//! under the policy, exactly as from the CLI; the answer says what happened, or what
//! would make it count.

use chrono::Utc;
use serde_json::json;

use crate::adapters::slack::api::SlackApi;
use crate::app::error::ServiceError;
use crate::app::services::Slack;
use crate::app::slack::advice;
use crate::app::slack::answer::said;
use crate::app::slack::binding::{self, BindError};
use crate::app::slack::fresh::Pending;
use crate::model::access::Verdict;
use crate::model::audit::{AuditEvent, EventKind, Origin};

/// The Slack user behind an interaction, and their workspace.
#[derive(Debug, Clone, Copy)]
pub struct Clicker<'a> {
    /// Slack user id.
    pub slack_user_id: &'a str,
    /// Workspace id.
    pub team: Option<&'a str>,
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

/// One first-time review from Slack (a click, or a submitted reason): the Slack user
/// bound to a latchkey user (or the refusal audited), then the review submitted for them;
/// returns the answer to show them.
pub(crate) async fn review_click(
    slack: &Slack,
    api: &SlackApi,
    who: Clicker<'_>,
    request_id: &str,
    verdict: Verdict,
    comment: Option<String>,
    origin: &Origin,
) -> String {
    let now = Utc::now();
    let bound = match binding::resolve(slack, api, who.team, who.slack_user_id, now).await {
        Ok(bound) => bound,
        Err(e) => {
            audit_unbound(slack, who.slack_user_id, request_id, &e, origin).await;
            return format!("Not counted: {e}");
        }
    };
    let via = json!({
        "via": "slack", "slack_user_id": who.slack_user_id,
        "slack_team_id": who.team, "binding": bound.method,
    });
    let reviewed = slack
        .access
        .review_via(
            &bound.principal,
            request_id,
            verdict,
            comment.clone(),
            origin,
            Some(&via),
            now,
        )
        .await;
    match reviewed {
        // Eligible but the login is not fresh enough: say what will make it count.
        Err(ServiceError::ReviewRefused(r)) if r.code == "login_not_fresh" => {
            let pending = Pending {
                slack_user_id: who.slack_user_id,
                user_id: &bound.principal.user_id,
                request_id,
                verdict,
                comment: comment.as_deref(),
            };
            advice::not_fresh(slack, &bound.principal, &pending, now).await
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
