//! Wire types the API answers with and the CLI reads, shared so the two never drift.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Credentials STS returned. `Debug` does not print the secrets.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AwsCredentials {
    /// AccessKeyId (an identifier AWS logs, not a secret).
    pub access_key_id: String,
    /// SecretAccessKey.
    pub secret_access_key: String,
    /// SessionToken.
    pub session_token: String,
    /// Expiration.
    pub expiration: DateTime<Utc>,
    /// The assumed-role ARN.
    pub assumed_role_arn: Option<String>,
    /// The grant the session belongs to (its session tag `latchkey:request`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// When that grant ends: nothing may serve the session past it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}
