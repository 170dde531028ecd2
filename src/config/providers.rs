//! The settings of the credential providers, read by the configuration and handed to the
//! adapters: where the broker reaches AWS, and the live events service's secret and token
//! lifetimes; and how `[aws]` is validated.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::error::{invalid, ConfigError};
use crate::config::layer::AwsLayer;
use crate::model::secret::Secret;

/// IAM's limit on the aggregate of a role's inline policies, whitespace not counted.
pub const ROLE_POLICY_LIMIT: usize = 10_240;

/// How long a token lives when the caller does not say.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);
/// The longest a token may live: the service re-checks through the callback, but a leaked
/// token should still die soon.
pub const MAX_TTL: Duration = Duration::from_secs(15 * 60);

/// The livestream settings (`[livestream]` in the configuration).
#[derive(Debug, Clone)]
pub struct LivestreamSettings {
    /// The service's own JWT secret (its `LIVESTREAM_JWT_SECRET`).
    pub secret: Secret,
    /// The project API token events are filtered on.
    pub api_token: String,
    /// The PostHog organization (a UUID), when configured.
    pub organization_id: Option<String>,
    /// PostHog user ids by email, for `user_id`, where configured.
    pub user_ids: BTreeMap<String, i64>,
    /// Default token lifetime.
    pub token_ttl: Duration,
}

/// Where the broker reaches STS.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// Region (default: from the environment or profile, else us-east-1).
    pub region: Option<String>,
    /// Another STS endpoint (a VPC endpoint, or an emulator in tests).
    pub endpoint_url: Option<String>,
    /// Another IAM endpoint (an emulator in tests); AWS's own by default.
    pub iam_endpoint_url: Option<String>,
    /// The size budget of the deny policy on each role (IAM's 10,240 by default; less
    /// when the role carries other inline policies).
    pub deny_policy_max_chars: usize,
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            region: None,
            endpoint_url: None,
            iam_endpoint_url: None,
            deny_policy_max_chars: ROLE_POLICY_LIMIT,
        }
    }
}

/// The deny policy's budget: at most IAM's limit, and room for at least a few entries.
pub(super) fn validate_aws(layer: AwsLayer) -> Result<AwsSettings, ConfigError> {
    let deny_policy_max_chars = match layer.deny_policy_max_chars.as_deref() {
        None => ROLE_POLICY_LIMIT,
        Some(v) => match v.trim().replace([',', '_'], "").parse::<usize>() {
            Ok(n) if (500..=ROLE_POLICY_LIMIT).contains(&n) => n,
            _ => {
                return Err(invalid(
                    "aws.deny_policy_max_chars (LATCHKEY_AWS_DENY_POLICY_MAX_CHARS)",
                    format!("{v:?} is not a number of characters from 500 to {ROLE_POLICY_LIMIT} (IAM's limit for all inline policies of a role together)"),
                ))
            }
        },
    };
    Ok(AwsSettings {
        region: layer.region,
        endpoint_url: layer.endpoint_url,
        iam_endpoint_url: layer.iam_endpoint_url,
        deny_policy_max_chars,
    })
}
