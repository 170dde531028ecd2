//! Linking a Slack user to a latchkey user with a one-time code: the user asks for a code
//! here (authenticated), types it in Slack as `/latchkey link CODE`, and the binding is
//! stored. Only the code's hash is kept; each step is audited without the code.
//!
//! - [`notify`]: the outbox, written with the request change and drained with retries.
//! - [`binding`]: a Slack user to a latchkey principal (verified email or one-time code).
//! - [`payload`]: the interaction payloads Slack posts, as read.
//! - [`answer`]: acting once per interaction, and answering the user ephemerally.
//! - [`interactions`]: Approve and Deny clicks.
//! - [`review`]: a review from Slack, bound to its latchkey user and decided by the policy.
//! - [`deny`]: the modal that asks a Deny for its reason, and its submission.
//! - [`commands`]: the `/latchkey` slash command (`request`, `status`, `link`).
//! - [`fresh`]: confirming at the identity provider, for roles that ask for a fresh login.
//! - [`advice`]: what a reviewer whose login is not fresh enough must do for a click to count.

pub mod advice;
pub mod answer;
pub mod binding;
pub mod commands;
pub mod deny;
pub mod fresh;
pub mod interactions;
pub mod notify;
pub mod payload;
pub mod review;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::app::error::ServiceError;
use crate::app::services::Slack;
use crate::app::slack::binding::{code_hash, new_link_code, LINK_CODE_LIFETIME};
use crate::model::audit::{AuditEvent, EventKind, Origin};
use crate::model::domain::Principal;

/// A one-time code that links the Slack user who types it to the caller.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LinkCode {
    /// The code (shown once).
    pub code: String,
    /// Until when it works.
    pub expires_at: DateTime<Utc>,
    /// What to type in Slack.
    pub command: String,
}

impl Slack {
    fn require_slack(&self) -> Result<(), ServiceError> {
        if self.api.is_some() {
            Ok(())
        } else {
            Err(ServiceError::NotFound(
                "Slack is not configured on this broker".into(),
            ))
        }
    }

    /// Issues a link code for the caller.
    pub async fn slack_link_code(
        &self,
        p: &Principal,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<LinkCode, ServiceError> {
        self.require_slack()?;
        let code = new_link_code()?;
        let expires_at = now + LINK_CODE_LIFETIME;
        let mut tx = self.core.store.begin().await?;
        tx.slack_insert_link_code(&code_hash(&code), &p.user_id, expires_at)
            .await?;
        let e = AuditEvent::new(EventKind::SlackLinkCodeIssued, &p.user_id, origin, now)?
            .details(serde_json::json!({ "expires_at": expires_at }));
        tx.append_audit(&e).await?;
        tx.commit().await?;
        Ok(LinkCode {
            command: format!("/latchkey link {code}"),
            code,
            expires_at,
        })
    }

    /// Binds `slack_user_id` to the user a valid code was issued to; returns that user's id.
    pub async fn slack_link(
        &self,
        slack_user_id: &str,
        code: &str,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<String, ServiceError> {
        self.require_slack()?;
        let mut tx = self.core.store.begin().await?;
        let Some(user_id) = tx.slack_take_link_code(&code_hash(code), now).await? else {
            let e = AuditEvent::new(
                EventKind::SlackLinked,
                &format!("slack:{slack_user_id}"),
                origin,
                now,
            )?
            .outcome("refused", Some("unknown, used or expired link code".into()))
            .details(serde_json::json!({ "slack_user_id": slack_user_id, "method": "code" }));
            tx.append_audit(&e).await?;
            tx.commit().await?;
            return Err(ServiceError::Forbidden(
                "this link code is unknown, used or expired; run `latchkey slack link` again"
                    .into(),
            ));
        };
        tx.slack_bind(slack_user_id, &user_id, "code", now).await?;
        let e = AuditEvent::new(EventKind::SlackLinked, &user_id, origin, now)?
            .details(serde_json::json!({ "slack_user_id": slack_user_id, "method": "code" }));
        tx.append_audit(&e).await?;
        tx.commit().await?;
        Ok(user_id)
    }
}
