//! Why an AWS call never got an answer, in one sentence that names the cause and what to
//! set, for the API's error message and the audit log. The SDK's own account (a nested
//! `DispatchFailure(ConnectorError { … })` several hundred characters long) is for the
//! debug log only.

use aws_sdk_sts::error::{DisplayErrorContext, SdkError};

/// What went wrong before AWS answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The standard chain found no credentials for the broker.
    NoCredentials,
    /// The endpoint did not answer in time.
    Timeout,
    /// The endpoint could not be reached (refused, unresolvable, reset).
    Unreachable,
    /// Something answered that was not the service.
    BadResponse,
    /// The SDK gave up before sending for another reason.
    Other,
}

/// Where a service is called and which settings move it.
#[derive(Debug, Clone, Copy)]
pub struct Service<'a> {
    /// `AWS STS` or `AWS IAM`.
    pub name: &'a str,
    /// The URL it is called at.
    pub endpoint: &'a str,
    /// The setting that moves it, with its variable.
    pub endpoint_setting: &'a str,
}

/// The cause of an SDK error that carries no answer from the service; the SDK's whole
/// account goes to the debug log.
pub fn cause_of<E, R>(e: &SdkError<E, R>) -> Cause
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let detail = DisplayErrorContext(e).to_string();
    tracing::debug!(error = %detail, "AWS call failed before an answer");
    match e {
        SdkError::TimeoutError(_) => Cause::Timeout,
        SdkError::ResponseError(_) => Cause::BadResponse,
        SdkError::DispatchFailure(d) if d.is_timeout() => Cause::Timeout,
        SdkError::DispatchFailure(d) if d.is_io() => Cause::Unreachable,
        // The identity stage fails as a dispatch failure of kind "other".
        _ if detail.to_ascii_lowercase().contains("credentials") => Cause::NoCredentials,
        _ => Cause::Other,
    }
}

/// One sentence: the cause, and what to set.
pub fn sentence(cause: Cause, s: Service<'_>) -> String {
    let Service {
        name,
        endpoint,
        endpoint_setting,
    } = s;
    match cause {
        Cause::NoCredentials => format!(
            "{name} was not called: the broker has no AWS credentials of its own (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or AWS_WEB_IDENTITY_TOKEN_FILE where it runs)"
        ),
        Cause::Timeout => format!(
            "{name} at {endpoint} did not answer in time (check {endpoint_setting} and aws.region (LATCHKEY_AWS_REGION), and that the broker can reach it)"
        ),
        Cause::Unreachable => format!(
            "{name} could not be reached at {endpoint} (check {endpoint_setting} and aws.region (LATCHKEY_AWS_REGION))"
        ),
        Cause::BadResponse => format!(
            "{name} at {endpoint} answered with something that is not an AWS response (check {endpoint_setting})"
        ),
        Cause::Other => format!(
            "{name} could not be called at {endpoint} (check {endpoint_setting}, aws.region (LATCHKEY_AWS_REGION) and the broker's AWS credentials; the debug log has the SDK's account)"
        ),
    }
}

/// The URL a service is called at: the configured one, else AWS's regional endpoint.
pub fn endpoint(configured: Option<&str>, service: &str, region: Option<&str>) -> String {
    match configured {
        Some(url) => url.trim_end_matches('/').to_string(),
        None if service == "iam" => "https://iam.amazonaws.com".into(),
        None => format!(
            "https://{service}.{}.amazonaws.com",
            region.unwrap_or("us-east-1")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_sentence_is_short_and_names_what_to_set() {
        let s = Service {
            name: "AWS STS",
            endpoint: "http://127.0.0.1:9",
            endpoint_setting: "aws.endpoint_url (LATCHKEY_AWS_ENDPOINT_URL)",
        };
        for cause in [
            Cause::NoCredentials,
            Cause::Timeout,
            Cause::Unreachable,
            Cause::BadResponse,
            Cause::Other,
        ] {
            let text = sentence(cause, s);
            assert!(text.len() < 260, "{text}");
            assert!(text.contains("AWS_") || text.contains("aws."), "{text}");
            assert!(!text.contains('\n'), "{text}");
        }
        assert_eq!(
            endpoint(None, "sts", Some("eu-west-1")),
            "https://sts.eu-west-1.amazonaws.com"
        );
        assert_eq!(endpoint(Some("http://x:1/"), "sts", None), "http://x:1");
    }
}
