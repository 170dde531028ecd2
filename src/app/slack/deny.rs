//! A Deny from Slack carries a reason, as from the CLI and the API: the click opens a
//! modal (`views.open` with the click's `trigger_id`) that asks for it, and the denial
//! counts when the modal is submitted (`view_submission`), once per submitted view. A
//! submission without a reason is answered with Slack's `response_action: errors`, which
//! keeps the modal open with the message under the reason.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::adapters::slack::api::SlackApi;
use crate::adapters::slack::modal::{
    deny_modal, submitted_reason, DENY_CALLBACK, REASON_BLOCK, REASON_MAX,
};
use crate::app::services::Slack;
use crate::app::slack::answer::{first_time, reply};
use crate::app::slack::payload::{BlockActions, ViewSubmission};
use crate::app::slack::review::{review_click, Clicker};
use crate::model::access::Verdict;
use crate::model::audit::Origin;

/// What the modal carries from the click to its submission (`private_metadata`).
#[derive(Debug, Serialize, Deserialize)]
struct Carried {
    /// The request denied.
    request_id: String,
    /// Where to answer the reviewer once the denial is recorded.
    response_url: Option<String>,
}

/// What a reviewer is told when the modal cannot be opened.
fn by_cli(request_id: &str, why: &str) -> String {
    format!("Not counted: {why}; deny from a terminal with `latchkey deny {request_id} --reason …`")
}

/// Answers a first-time Deny click with the modal that asks for the reason.
pub async fn ask_reason(slack: &Slack, api: &SlackApi, p: &BlockActions, request_id: &str) {
    let answer = |text: String| async move { reply(slack, p.response_url.as_deref(), &text).await };
    let Some(trigger) = p.trigger_id.as_deref() else {
        return answer(by_cli(
            request_id,
            "Slack sent no trigger to open the reason form",
        ))
        .await;
    };
    let found = async {
        let mut tx = slack.core.store.begin_read().await?;
        let r = tx.request(request_id).await?;
        tx.commit().await?;
        Ok::<_, crate::store::StoreError>(r)
    }
    .await;
    let r = match found {
        Ok(Some(r)) => r,
        Ok(None) => return answer(format!("Not counted: no request {request_id}")).await,
        Err(e) => {
            tracing::error!(error = %e, "Slack: could not read the request to deny");
            return answer(by_cli(request_id, "latchkey failed internally")).await;
        }
    };
    let carried = Carried {
        request_id: r.id.clone(),
        response_url: p.response_url.clone(),
    };
    let metadata = serde_json::to_string(&carried).unwrap_or_default();
    if let Err(e) = api.views_open(trigger, &deny_modal(&r, &metadata)).await {
        tracing::warn!(error = %e, "Slack: could not open the deny modal");
        answer(by_cli(
            request_id,
            &format!("the reason form did not open ({e})"),
        ))
        .await;
    }
}

/// Slack's answer that keeps the modal open with `message` under the reason.
fn reason_error(message: &str) -> Value {
    json!({"response_action": "errors", "errors": {REASON_BLOCK: message}})
}

/// Handles a submitted modal: `Some(answer)` for Slack when the modal must stay open (no
/// reason), else `None` (an empty 200 closes it) and the denial is submitted after, its
/// outcome told through the click's `response_url`.
pub async fn submitted(slack: Slack, s: ViewSubmission, origin: Origin) -> Option<Value> {
    let api = slack.api.clone()?;
    if s.view["callback_id"] != DENY_CALLBACK {
        return None;
    }
    let Some(reason) = submitted_reason(&s.view) else {
        return Some(reason_error(
            "A denial needs a reason: say why this access is denied.",
        ));
    };
    if reason.chars().count() > REASON_MAX {
        return Some(reason_error(&format!(
            "A reason has at most {REASON_MAX} characters."
        )));
    }
    let carried: Carried = match s.view["private_metadata"]
        .as_str()
        .map(serde_json::from_str)
    {
        Some(Ok(c)) => c,
        _ => {
            return Some(reason_error(
                "This form is no longer valid; click Deny on the request again.",
            ))
        }
    };
    let view_id = s.view["id"].as_str().unwrap_or("-");
    if !first_time(&slack, &format!("view:{view_id}:{}", s.user.id)).await {
        tracing::info!(slack_user = %s.user.id, "Slack: submission already handled; ignored");
        return None;
    }
    tokio::spawn(async move {
        let who = Clicker {
            slack_user_id: &s.user.id,
            team: s.team.as_ref().map(|t| t.id.as_str()),
        };
        let id = &carried.request_id;
        let text = review_click(&slack, &api, who, id, Verdict::Deny, Some(reason), &origin).await;
        reply(&slack, carried.response_url.as_deref(), &text).await;
    });
    None
}
