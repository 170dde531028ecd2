//! `latchkey policy check`: what in a policy can never work, or works by accident.

use serde::Serialize;

use crate::model::policy::decide::object;

use crate::model::duration;
use crate::model::policy::review::reviewers_text;
use crate::model::policy::rules::glob_match;
use crate::model::policy::Policy;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The policy cannot do what it says; `policy check` fails.
    Error,
    /// Probably a mistake.
    Warning,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Severity.
    pub level: Level,
    /// What and where.
    pub message: String,
}

/// Checks a loaded policy.
pub fn check(policy: &Policy) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut objects = Vec::new();
    for resource in policy.catalogue.resources.values() {
        for role in resource.roles.values() {
            let obj = object(&resource.name, &role.name);
            let limit = resource.kind.max_duration();
            if role.max_duration > limit {
                out.push(Finding {
                    level: Level::Error,
                    message: format!(
                        "{obj}: max_duration {} is above what the {:?} provider can issue ({})",
                        duration::format(role.max_duration),
                        resource.kind,
                        duration::format(limit)
                    ),
                });
            }
            if role.approvals > 0
                && reviewers_text(policy, &resource.name, role).starts_with("nobody")
            {
                out.push(Finding {
                    level: Level::Error,
                    message: format!("{obj}: nobody may review it, so no request could ever be approved by a human"),
                });
            }
            objects.push(obj);
        }
    }
    for line in policy.rules.lines_text() {
        let fields: Vec<&str> = line.split(", ").collect();
        let (obj, action) = (fields[2], fields[3]);
        let broker_wide = matches!(action, "audit_read" | "admin");
        let known = if broker_wide {
            matches!(obj, "audit" | "broker" | "*")
        } else {
            objects.iter().any(|o| glob_match(o, obj))
        };
        if !known {
            out.push(Finding {
                level: Level::Error,
                message: format!(
                    "`{line}` names no known {}",
                    if broker_wide {
                        "object (use `audit` or `broker`)"
                    } else {
                        "resource or role"
                    }
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOGUE: &str = r#"
[[resource]]
name = "aws:prod"
kind = "aws"
description = "prod"
[[resource.role]]
name = "admin"
default_duration = "1h"
max_duration = "13h"
[resource.role.aws]
role_arn = "arn:aws:iam::123456789012:role/admin"
"#;

    #[tokio::test]
    async fn finds_unreviewable_roles_long_durations_and_unknown_names() {
        let csv = "p, group:eng, aws:prod#admin, request, allow\np, group:eng, aws:prd#*, request, allow\np, group:x, aws:*, audit_read, allow\n";
        let policy = Policy::from_texts(CATALOGUE, crate::model::policy::rules::MODEL, csv)
            .await
            .unwrap();
        let found: Vec<String> = check(&policy).into_iter().map(|f| f.message).collect();
        assert!(
            found
                .iter()
                .any(|m| m.contains("above what the Aws provider")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|m| m.contains("nobody may review")),
            "{found:?}"
        );
        assert!(found.iter().any(|m| m.contains("aws:prd#*")), "{found:?}");
        assert!(
            found.iter().any(|m| m.contains("use `audit` or `broker`")),
            "{found:?}"
        );
    }

    #[tokio::test]
    async fn the_example_policy_is_clean() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let policy = Policy::load(&dir).await.unwrap();
        assert_eq!(check(&policy), vec![]);
    }
}
