//! Answering Slack: an interaction acts once (keyed), the answer goes to the user who
//! acted, ephemerally, through the interaction's `response_url`, and a refusal is told
//! without internal text. Shared by clicks, modals and the slash command.

use chrono::Utc;
use serde_json::json;

use crate::app::error::ServiceError;
use crate::app::services::Slack;

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
