//! Development mode and the data it leaves: development sessions end when a broker
//! starts without `--dev` on a development broker's database.

use chrono::{DateTime, Utc};

use crate::app::error::ServiceError;
use crate::app::services::Sessions;
use crate::model::audit::{AuditEvent, EventKind, Origin};

impl Sessions {
    /// Ends every live development session when the broker does not run in development
    /// mode (started on the data of a development broker): each is revoked and audited.
    pub async fn end_dev_sessions(&self, now: DateTime<Utc>) -> Result<usize, ServiceError> {
        if self.core.config.dev {
            return Ok(0);
        }
        let mut tx = self.core.store.begin().await?;
        let ended = tx.revoke_dev_sessions("left development mode", now).await?;
        for (session_id, user_id) in &ended {
            let mut event =
                AuditEvent::new(EventKind::SessionEnded, "latchkey", &Origin::default(), now)?
                    .outcome("success", Some("the broker left development mode".into()))
                    .details(serde_json::json!({ "session_id": session_id, "dev": true }));
            event.subject = Some(user_id.clone());
            tx.append_audit(&event).await?;
        }
        tx.commit().await?;
        Ok(ended.len())
    }
}
