//! IAM, for the one thing the broker does there: write, read back and delete its deny
//! policy ([`crate::adapters::providers::aws_deny`]) on the roles it hands out sessions of. Same SDK settings
//! as STS (ring TLS, retries, timeouts), its own endpoint.

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};

use crate::adapters::providers::aws::AwsSettings;
use crate::adapters::providers::aws_failure;

/// Why IAM did not do it; each with a stable code.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum IamError {
    /// The broker may not change the role's policies.
    #[error("AWS refused to let the broker change the inline policies of {role}: {message} (grant iam:PutRolePolicy, iam:GetRolePolicy and iam:DeleteRolePolicy on it)")]
    AccessDenied {
        /// The role.
        role: String,
        /// AWS's message.
        message: String,
    },
    /// No such role.
    #[error("IAM has no role {role}: {message}")]
    NoSuchRole {
        /// The role.
        role: String,
        /// AWS's message.
        message: String,
    },
    /// The role's inline policies would be too large together.
    #[error("IAM refused the policy as too large for {role}: {message}")]
    LimitExceeded {
        /// The role.
        role: String,
        /// AWS's message.
        message: String,
    },
    /// Still throttled after retries.
    #[error("IAM is throttling the broker; it tries again later")]
    Throttled,
    /// IAM could not be reached: one sentence naming the cause and what to set.
    #[error("{0}")]
    Unavailable(String),
    /// The role ARN has no role name.
    #[error("{0} is not an IAM role ARN")]
    NotARole(String),
    /// Anything else IAM said.
    #[error("IAM refused: {code}: {message}")]
    Other {
        /// IAM's error code.
        code: String,
        /// IAM's message.
        message: String,
    },
}

impl IamError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            IamError::AccessDenied { .. } => "iam_access_denied",
            IamError::NoSuchRole { .. } => "iam_no_such_role",
            IamError::LimitExceeded { .. } => "iam_limit_exceeded",
            IamError::Throttled => "iam_throttled",
            IamError::Unavailable(_) => "iam_unavailable",
            IamError::NotARole(_) => "iam_not_a_role",
            IamError::Other { .. } => "iam_error",
        }
    }
}

/// The role name IAM's policy calls take: the last segment of the ARN's `role/PATH/NAME`.
pub fn role_name(arn: &str) -> Result<&str, IamError> {
    arn.split_once(":role/")
        .and_then(|(_, rest)| rest.rsplit('/').next())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| IamError::NotARole(arn.to_string()))
}

/// The IAM client.
pub struct IamClient {
    client: aws_sdk_iam::Client,
    /// The URL it calls IAM at, for messages.
    endpoint: String,
}

impl IamClient {
    /// An IAM client from the SDK settings STS uses, with the configured IAM endpoint.
    pub fn from_config(config: &aws_config::SdkConfig, settings: &AwsSettings) -> Self {
        let mut iam = aws_sdk_iam::config::Builder::from(config);
        if let Some(url) = &settings.iam_endpoint_url {
            iam = iam.endpoint_url(url);
        }
        Self {
            client: aws_sdk_iam::Client::from_conf(iam.build()),
            endpoint: aws_failure::endpoint(settings.iam_endpoint_url.as_deref(), "iam", None),
        }
    }

    /// The role's inline policy `name`, decoded; `None` if it has none by that name.
    pub async fn get_role_policy(&self, arn: &str, name: &str) -> Result<Option<String>, IamError> {
        let role = role_name(arn)?;
        match self
            .client
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
        {
            Ok(out) => {
                // IAM answers with the document percent-encoded (RFC 3986).
                let raw = out.policy_document();
                Ok(Some(
                    percent_encoding::percent_decode_str(raw)
                        .decode_utf8_lossy()
                        .into_owned(),
                ))
            }
            Err(e) => match classify(e, arn, &self.endpoint) {
                Missing::Entity => Ok(None),
                Missing::Error(e) => Err(e),
            },
        }
    }

    /// Writes (creates or replaces) the role's inline policy `name`.
    pub async fn put_role_policy(
        &self,
        arn: &str,
        name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        let role = role_name(arn)?;
        self.client
            .put_role_policy()
            .role_name(role)
            .policy_name(name)
            .policy_document(document)
            .send()
            .await
            .map(drop)
            .map_err(|e| match classify(e, arn, &self.endpoint) {
                Missing::Entity => IamError::NoSuchRole {
                    role: arn.to_string(),
                    message: "NoSuchEntity".into(),
                },
                Missing::Error(e) => e,
            })
    }

    /// Deletes the role's inline policy `name`; false if there was none.
    pub async fn delete_role_policy(&self, arn: &str, name: &str) -> Result<bool, IamError> {
        let role = role_name(arn)?;
        match self
            .client
            .delete_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match classify(e, arn, &self.endpoint) {
                Missing::Entity => Ok(false),
                Missing::Error(e) => Err(e),
            },
        }
    }
}

/// IAM's `NoSuchEntity` (no policy by that name, or no role), or another error.
enum Missing {
    Entity,
    Error(IamError),
}

fn classify<E, R>(e: SdkError<E, R>, role: &str, endpoint: &str) -> Missing
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let role = role.to_string();
    match e {
        SdkError::ServiceError(_) => {
            let code = e.code().unwrap_or("Unknown").to_string();
            let message = e.message().unwrap_or("").to_string();
            Missing::Error(match code.as_str() {
                "NoSuchEntity" | "NoSuchEntityException" => return Missing::Entity,
                "AccessDenied" | "AccessDeniedException" | "UnmodifiableEntity" => {
                    IamError::AccessDenied { role, message }
                }
                "LimitExceeded" | "LimitExceededException" => {
                    IamError::LimitExceeded { role, message }
                }
                "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => {
                    IamError::Throttled
                }
                "ServiceFailure" | "ServiceFailureException" => IamError::Unavailable(message),
                _ => IamError::Other { code, message },
            })
        }
        _ => Missing::Error(IamError::Unavailable(aws_failure::sentence(
            aws_failure::cause_of(&e),
            aws_failure::Service {
                name: "AWS IAM",
                endpoint,
                endpoint_setting: "aws.iam_endpoint_url (LATCHKEY_AWS_IAM_ENDPOINT_URL)",
            },
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_name_is_the_last_segment_of_its_arn() {
        assert_eq!(
            role_name("arn:aws:iam::111111111111:role/latchkey-admin"),
            Ok("latchkey-admin")
        );
        assert_eq!(
            role_name("arn:aws:iam::111111111111:role/team/ops/latchkey-admin"),
            Ok("latchkey-admin")
        );
        assert!(role_name("arn:aws:iam::111111111111:user/bob").is_err());
        assert!(role_name("arn:aws:iam::111111111111:role/").is_err());
    }
}
