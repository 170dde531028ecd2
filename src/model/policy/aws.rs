//! The AWS settings of a role on an `aws` resource: which IAM role the broker assumes and
//! how it narrows the session. AWS's own limits are checked here, at load, so that a
//! request never reaches STS with something STS would refuse.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::duration;

/// AWS's limit on an inline session policy plus managed policy ARNs (packed size aside).
pub const MAX_POLICY_CHARS: usize = 2048;
/// AWS's limit on managed policy ARNs per session.
pub const MAX_POLICY_ARNS: usize = 10;

/// `[resource.role.aws]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsRoleFile {
    role_arn: String,
    session_policy: Option<String>,
    #[serde(default)]
    policy_arns: Vec<String>,
    external_id: Option<String>,
    max_session: Option<String>,
    region: Option<String>,
}

/// The validated AWS settings of a role.
#[derive(Debug, Clone, Serialize)]
pub struct AwsRole {
    /// The IAM role to assume.
    pub role_arn: String,
    /// Inline session policy (JSON), narrowing the role.
    pub session_policy: Option<String>,
    /// Managed policies narrowing the role.
    pub policy_arns: Vec<String>,
    /// ExternalId the role's trust policy requires.
    #[serde(skip)]
    pub external_id: Option<String>,
    /// The IAM role's own maximum session duration (default 1h, AWS's default).
    #[serde(with = "secs")]
    pub max_session: Duration,
    /// The region the account's tools work in (`AWS_REGION` of `latchkey exec`), when it
    /// is not the one the broker reaches STS in.
    pub region: Option<String>,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

fn is_arn(s: &str, service: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    parts.len() == 6 && parts[0] == "arn" && parts[2] == service && !parts[5].is_empty()
}

impl AwsRoleFile {
    /// Validates against AWS's rules; `at` names the role in messages.
    pub fn validate(self, at: &str) -> Result<AwsRole, String> {
        if !is_arn(&self.role_arn, "iam") || !self.role_arn.contains(":role/") {
            return Err(format!(
                "{at}: aws.role_arn {:?} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
                self.role_arn
            ));
        }
        if self.policy_arns.len() > MAX_POLICY_ARNS {
            return Err(format!(
                "{at}: aws.policy_arns names {} policies; AWS allows at most {MAX_POLICY_ARNS}",
                self.policy_arns.len()
            ));
        }
        if let Some(bad) = self.policy_arns.iter().find(|a| !is_arn(a, "iam")) {
            return Err(format!(
                "{at}: aws.policy_arns: {bad:?} is not an IAM policy ARN"
            ));
        }
        if let Some(p) = &self.session_policy {
            serde_json::from_str::<serde_json::Value>(p)
                .map_err(|e| format!("{at}: aws.session_policy is not JSON: {e}"))?;
        }
        let size = self.session_policy.as_ref().map_or(0, |p| minified_len(p))
            + self.policy_arns.iter().map(String::len).sum::<usize>();
        if size > MAX_POLICY_CHARS {
            return Err(format!(
                "{at}: aws.session_policy and aws.policy_arns take {size} characters; AWS allows at most {MAX_POLICY_CHARS} (PackedPolicyTooLarge)"
            ));
        }
        if let Some(id) = &self.external_id {
            if id.len() < 2 || id.len() > 1224 {
                return Err(format!(
                    "{at}: aws.external_id must be 2 to 1224 characters"
                ));
            }
        }
        let max_session = match self.max_session {
            None => Duration::from_secs(3600),
            Some(s) => duration::parse(&s).map_err(|e| format!("{at}: aws.max_session: {e}"))?,
        };
        if !(Duration::from_secs(3600)..=Duration::from_secs(12 * 3600)).contains(&max_session) {
            return Err(format!("{at}: aws.max_session must be between 1h and 12h, as an IAM role's maximum session duration"));
        }
        if let Some(r) = &self.region {
            let parts: Vec<&str> = r.split('-').collect();
            let ok = parts.len() >= 3
                && parts.iter().all(|p| {
                    !p.is_empty()
                        && p.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                })
                && parts
                    .last()
                    .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
            if !ok {
                return Err(format!(
                    "{at}: aws.region {r:?} is not an AWS region (like eu-west-1)"
                ));
            }
        }
        Ok(AwsRole {
            region: self.region,
            role_arn: self.role_arn,
            session_policy: self.session_policy.map(|p| minify(&p)),
            policy_arns: self.policy_arns,
            external_id: self.external_id,
            max_session,
        })
    }
}

/// The policy as sent: whitespace outside strings dropped, as AWS counts it.
fn minify(policy: &str) -> String {
    serde_json::from_str::<serde_json::Value>(policy)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| policy.to_string())
}

fn minified_len(policy: &str) -> usize {
    minify(policy).len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(policy: Option<&str>, arns: Vec<String>) -> AwsRoleFile {
        AwsRoleFile {
            role_arn: "arn:aws:iam::123456789012:role/prod-admin".into(),
            session_policy: policy.map(String::from),
            policy_arns: arns,
            external_id: None,
            max_session: None,
            region: None,
        }
    }

    #[test]
    fn a_region_is_checked_for_its_form() {
        let with = |r: &str| AwsRoleFile {
            region: Some(r.into()),
            ..file(None, vec![])
        };
        assert_eq!(
            with("eu-west-1").validate("x").unwrap().region.as_deref(),
            Some("eu-west-1")
        );
        assert!(with("us-gov-west-1").validate("x").is_ok());
        for bad in ["eu-west", "EU-WEST-1", "eu west 1", "", "eu--1"] {
            assert!(with(bad).validate("x").is_err(), "{bad}");
        }
    }

    #[test]
    fn aws_limits_are_checked_before_any_call() {
        assert!(
            file(Some(r#"{"Version":"2012-10-17","Statement":[]}"#), vec![])
                .validate("x")
                .is_ok()
        );
        let big = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"{}"}}]}}"#,
            "a".repeat(2000)
        );
        let err = file(Some(&big), vec![])
            .validate("aws:prod#admin")
            .unwrap_err();
        assert!(
            err.contains("at most 2048") && err.contains("aws:prod#admin"),
            "{err}"
        );
        let arns: Vec<String> = (0..11)
            .map(|i| format!("arn:aws:iam::aws:policy/P{i}"))
            .collect();
        assert!(file(None, arns)
            .validate("x")
            .unwrap_err()
            .contains("at most 10"));
        assert!(file(Some("{not json"), vec![]).validate("x").is_err());
        let mut bad = file(None, vec![]);
        bad.role_arn = "arn:aws:s3:::bucket".into();
        assert!(bad.validate("x").unwrap_err().contains("IAM role ARN"));
    }

    #[test]
    fn whitespace_does_not_count_against_the_limit() {
        let spaced = format!(
            "{{\n  \"Version\": \"2012-10-17\",\n{}  \"Statement\": []\n}}",
            " ".repeat(3000)
        );
        let role = file(Some(&spaced), vec![]).validate("x").unwrap();
        assert_eq!(
            role.session_policy.as_deref(),
            Some(r#"{"Statement":[],"Version":"2012-10-17"}"#)
        );
    }
}
