//! AWS credentials through STS AssumeRole: the session is named after the human, carries
//! their stable identity as SourceIdentity and the request id, ticket and requester as
//! transitive session tags, is narrowed by the role's session policy, and never outlives
//! the grant. The broker's own AWS identity comes from the standard chain (environment,
//! profile, web identity, instance role).

use std::time::Duration;

use aws_config::environment::EnvironmentVariableRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::types::{PolicyDescriptorType, Tag};
use chrono::DateTime;

use crate::adapters::providers::aws_failure;
pub use crate::config::providers::AwsSettings;
pub use crate::model::wire::AwsCredentials;

/// STS's shortest session.
pub const MIN_SESSION: Duration = Duration::from_secs(900);
/// STS's longest session.
pub const MAX_SESSION: Duration = Duration::from_secs(12 * 3600);
/// The longest an AWS call may take, retries included: a session STS mints for a call
/// started before a revocation is issued at most this long after it.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// One AssumeRole call.
#[derive(Debug, Clone)]
pub struct AssumeRole {
    /// Role to assume.
    pub role_arn: String,
    /// RoleSessionName.
    pub session_name: String,
    /// SourceIdentity.
    pub source_identity: String,
    /// DurationSeconds.
    pub duration: Duration,
    /// Inline session policy.
    pub policy: Option<String>,
    /// Managed policy ARNs.
    pub policy_arns: Vec<String>,
    /// ExternalId.
    pub external_id: Option<String>,
    /// Session tags, all transitive.
    pub tags: Vec<(String, String)>,
}

/// Why STS did not give credentials; each with a stable code.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AwsError {
    /// The broker's identity may not assume the role.
    #[error("AWS refused to let the broker assume {role}: {message} (check the role's trust policy and ExternalId)")]
    AccessDenied {
        /// The role.
        role: String,
        /// AWS's message.
        message: String,
    },
    /// STS is disabled in the region.
    #[error("STS is not enabled in this region: {0}")]
    RegionDisabled(String),
    /// The packed session policy and tags are too large.
    #[error("AWS found the session policy and tags too large once packed: {0}")]
    PackedPolicyTooLarge(String),
    /// Still throttled after retries.
    #[error("AWS is throttling AssumeRole; try again in a moment")]
    Throttled,
    /// STS could not be reached: one sentence naming the cause and what to set.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else STS said.
    #[error("AWS STS refused: {code}: {message}")]
    Other {
        /// STS's error code.
        code: String,
        /// STS's message.
        message: String,
    },
}

impl AwsError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            AwsError::AccessDenied { .. } => "aws_access_denied",
            AwsError::RegionDisabled(_) => "aws_region_disabled",
            AwsError::PackedPolicyTooLarge(_) => "aws_policy_too_large",
            AwsError::Throttled => "aws_throttled",
            AwsError::Unavailable(_) => "aws_unavailable",
            AwsError::Other { .. } => "aws_error",
        }
    }
}

/// The STS client.
pub struct AwsProvider {
    client: aws_sdk_sts::Client,
    /// The region it calls STS in.
    region: Option<String>,
    /// The URL it calls STS at, for messages.
    endpoint: String,
}

/// The AWS SDK settings both clients (STS, IAM) share: the standard credential chain, ring
/// TLS, three attempts with backoff (throttling is retried) and bounded timeouts. Each
/// client sets its own endpoint.
pub async fn sdk_config(settings: &AwsSettings) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(200)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(10))
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        );
    // The configured region, else the environment's or the profile's, else us-east-1:
    // not the SDK's default chain, whose last resort asks the instance metadata service
    // at start, a call off this host that a broker outside EC2 (a laptop, CI) must not make.
    loader = match &settings.region {
        Some(region) => loader.region(Region::new(region.clone())),
        None => loader.region(
            RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
                .or_else(ProfileFileRegionProvider::new())
                .or_else(Region::new("us-east-1")),
        ),
    };
    loader.load().await
}

impl AwsProvider {
    /// A client with [`sdk_config`]'s settings and the configured STS endpoint.
    pub async fn new(settings: &AwsSettings) -> Self {
        Self::from_config(&sdk_config(settings).await, settings)
    }

    /// An STS client from shared SDK settings.
    pub fn from_config(config: &aws_config::SdkConfig, settings: &AwsSettings) -> Self {
        let mut sts = aws_sdk_sts::config::Builder::from(config);
        if let Some(url) = &settings.endpoint_url {
            sts = sts.endpoint_url(url);
        }
        let region = config.region().map(|r| r.to_string());
        Self {
            client: aws_sdk_sts::Client::from_conf(sts.build()),
            endpoint: aws_failure::endpoint(
                settings.endpoint_url.as_deref(),
                "sts",
                region.as_deref(),
            ),
            region,
        }
    }

    /// Calls AssumeRole.
    pub async fn assume_role(&self, a: &AssumeRole) -> Result<AwsCredentials, AwsError> {
        let mut call = self
            .client
            .assume_role()
            .role_arn(&a.role_arn)
            .role_session_name(&a.session_name)
            .source_identity(&a.source_identity)
            .duration_seconds(i32::try_from(a.duration.as_secs()).unwrap_or(i32::MAX));
        if let Some(p) = &a.policy {
            call = call.policy(p);
        }
        for arn in &a.policy_arns {
            call = call.policy_arns(PolicyDescriptorType::builder().arn(arn).build());
        }
        if let Some(id) = &a.external_id {
            call = call.external_id(id);
        }
        for (k, v) in &a.tags {
            let tag = Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| AwsError::Other {
                    code: "InvalidTag".into(),
                    message: e.to_string(),
                })?;
            call = call.tags(tag).transitive_tag_keys(k);
        }
        let out = call
            .send()
            .await
            .map_err(|e| classify(e, &a.role_arn, &self.endpoint))?;
        let c = out.credentials().ok_or_else(|| AwsError::Other {
            code: "NoCredentials".into(),
            message: "STS answered without credentials".into(),
        })?;
        let exp = c.expiration();
        Ok(AwsCredentials {
            access_key_id: c.access_key_id().to_string(),
            secret_access_key: c.secret_access_key().to_string(),
            session_token: c.session_token().to_string(),
            expiration: DateTime::from_timestamp(exp.secs(), exp.subsec_nanos())
                .unwrap_or_default(),
            assumed_role_arn: out.assumed_role_user().map(|u| u.arn().to_string()),
            grant_id: None,
            grant_expires_at: None,
            region: self.region.clone(),
        })
    }
}

fn classify<R: std::fmt::Debug + Send + Sync + 'static>(
    e: SdkError<aws_sdk_sts::operation::assume_role::AssumeRoleError, R>,
    role: &str,
    endpoint: &str,
) -> AwsError {
    match e {
        SdkError::ServiceError(_) => {
            let se = e.into_service_error();
            let code = se.code().unwrap_or("Unknown").to_string();
            let message = se.message().unwrap_or("").to_string();
            match code.as_str() {
                "AccessDenied" | "AccessDeniedException" => AwsError::AccessDenied {
                    role: role.to_string(),
                    message,
                },
                "RegionDisabledException" => AwsError::RegionDisabled(message),
                "PackedPolicyTooLarge" | "PackedPolicyTooLargeException" => {
                    AwsError::PackedPolicyTooLarge(message)
                }
                "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => {
                    AwsError::Throttled
                }
                _ => AwsError::Other { code, message },
            }
        }
        _ => AwsError::Unavailable(aws_failure::sentence(
            aws_failure::cause_of(&e),
            aws_failure::Service {
                name: "AWS STS",
                endpoint,
                endpoint_setting: "aws.endpoint_url (LATCHKEY_AWS_ENDPOINT_URL)",
            },
        )),
    }
}

/// A RoleSessionName or SourceIdentity from a human's name: only `[\w+=,.@-]`, 2 to 64
/// characters; anything else becomes `-`. SourceIdentity must not start with `aws:`,
/// which `:` being replaced already guarantees.
pub fn session_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    while out.len() < 2 {
        out.push('-');
    }
    out
}

/// A session tag value: AWS allows letters, digits, spaces and `_.:/=+-@`, at most 256.
pub fn tag_value(v: &str) -> String {
    v.chars()
        .map(|c| {
            if c.is_alphanumeric() || " _.:/=+-@".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(256)
        .collect()
}

/// DurationSeconds: what was asked (default one hour), within the IAM role's maximum,
/// STS's limits and the grant's remaining time. `None` when the grant has less than
/// STS's 15-minute minimum left, since a credential must never outlive its grant.
pub fn session_duration(
    asked: Option<Duration>,
    role_max: Duration,
    grant_left: Duration,
) -> Option<Duration> {
    if grant_left < MIN_SESSION {
        return None;
    }
    let d = asked
        .unwrap_or(Duration::from_secs(3600))
        .min(role_max)
        .min(MAX_SESSION)
        .min(grant_left)
        .max(MIN_SESSION);
    Some(Duration::from_secs(d.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_keep_to_what_aws_accepts() {
        assert_eq!(session_name("alice@example.com"), "alice@example.com");
        assert_eq!(
            session_name("https://idp|alice smith"),
            "https---idp-alice-smith"
        );
        assert_eq!(session_name("x"), "x-");
        assert_eq!(session_name(&"a".repeat(100)).len(), 64);
        assert!(!session_name("aws:admin").starts_with("aws:"));
        assert_eq!(tag_value("INC-42 <urgent>"), "INC-42 -urgent-");
    }

    #[test]
    fn a_session_never_outlives_its_grant() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert_eq!(session_duration(None, h(4), h(8)), Some(h(1)));
        assert_eq!(session_duration(Some(h(6)), h(4), h(8)), Some(h(4)));
        assert_eq!(
            session_duration(Some(h(6)), h(12), Duration::from_secs(1800)),
            Some(Duration::from_secs(1800))
        );
        assert_eq!(
            session_duration(Some(Duration::from_secs(60)), h(1), h(1)),
            Some(MIN_SESSION)
        );
        assert_eq!(session_duration(None, h(1), Duration::from_secs(899)), None);
        assert_eq!(session_duration(Some(h(20)), h(12), h(24)), Some(h(12)));
    }
}
