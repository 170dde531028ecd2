//! The development login: any email and groups, on a development broker listening on
//! loopback only, for a session marked as such (refused once the broker runs without
//! `--dev`, see `devmode`).

use chrono::{DateTime, Utc};

use crate::app::error::ServiceError;
use crate::app::services::Sessions;
use crate::app::session_open::IssuedSession;
use crate::model::audit::Origin;
use crate::model::domain::Identity;

/// The issuer recorded for identities from the development login.
pub const DEV_ISSUER: &str = "dev";

impl Sessions {
    /// The development login: any email and groups, on a development server only.
    pub async fn dev_login(
        &self,
        email: &str,
        groups: Vec<String>,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<IssuedSession, ServiceError> {
        let result = self.dev_login_inner(email, groups, origin, now).await;
        self.audit_refusal(&result, email, origin, now).await;
        result
    }

    async fn dev_login_inner(
        &self,
        email: &str,
        groups: Vec<String>,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<IssuedSession, ServiceError> {
        if !self.core.config.dev || !self.core.config.listen.ip().is_loopback() {
            return Err(ServiceError::DevLoginDisabled);
        }
        let email = email.trim().to_lowercase();
        if !email.contains('@') || email.len() > 254 || email.chars().any(char::is_whitespace) {
            return Err(ServiceError::BadRequest(format!(
                "{email:?} is not an email address"
            )));
        }
        let identity = Identity {
            issuer: DEV_ISSUER.into(),
            subject: email.clone(),
            email: Some(email),
            name: None,
            groups,
            auth_time: Some(now),
        };
        let mut tx = self.core.store.begin().await?;
        let issued = self
            .open_session(&mut tx, identity, true, None, origin, now)
            .await?;
        tx.commit().await?;
        Ok(issued)
    }
}
