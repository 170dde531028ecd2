//! Who may review: the reviewers of a role in words, and whether one person may review
//! one request now (never their own; the policy's `review` lines; the role's own list of
//! reviewers; a recent enough login where the role asks for one).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::duration;
use crate::model::policy::subject::{object, Who};
use crate::model::policy::{Action, Policy, Role};

/// Who may review `resource#role`, in words (role filters and the policy's `review` lines).
pub fn reviewers_text(policy: &Policy, resource: &str, role: &Role) -> String {
    let mut from_policy = policy
        .rules
        .reviewers(&object(resource, role.name.as_str()));
    if !role.reviewer_groups.is_empty() || !role.reviewer_users.is_empty() {
        // `*` in the rules means anyone: the role's own list then names who.
        let anyone = from_policy.iter().any(|s| s == "*");
        let named: Vec<String> = role
            .reviewer_groups
            .iter()
            .map(|g| format!("group:{g}"))
            .chain(role.reviewer_users.iter().map(|u| format!("user:{u}")))
            .collect();
        from_policy = named
            .into_iter()
            .filter(|s| anyone || from_policy.contains(s))
            .collect();
    }
    if from_policy.is_empty() {
        "nobody (no subject may review this role)".into()
    } else {
        from_policy.join(", ")
    }
}

/// Why someone may not review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewRefusal {
    /// Stable code.
    pub code: &'static str,
    /// Why, and who can.
    pub message: String,
}

/// Whether `who` may review a request for `resource#role` made by `requester_id`, at `now`.
pub fn may_review(
    policy: &Policy,
    who: &Who<'_>,
    auth_time: Option<DateTime<Utc>>,
    resource: &str,
    role_name: &str,
    requester_id: &str,
    now: DateTime<Utc>,
) -> Result<String, ReviewRefusal> {
    if who.user_id == requester_id {
        return Err(ReviewRefusal {
            code: "self_review",
            message: "a requester never reviews their own request".into(),
        });
    }
    let Some((_, role)) = policy.catalogue.role(resource, role_name) else {
        return Err(ReviewRefusal {
            code: "unknown_role",
            message: format!("{resource}#{role_name} is no longer in the catalogue"),
        });
    };
    let obj = object(resource, role_name);
    let reviewers = reviewers_text(policy, resource, role);
    let rule = policy.check(who.name, who.groups, &obj, Action::Review);
    if !rule.allowed {
        return Err(ReviewRefusal {
            code: "not_a_reviewer",
            message: format!(
                "the policy does not let {} review {obj}; reviewers: {reviewers}",
                who.name
            ),
        });
    }
    let filtered = !role.reviewer_groups.is_empty() || !role.reviewer_users.is_empty();
    let in_filter = role.reviewer_groups.iter().any(|g| who.groups.contains(g))
        || role
            .reviewer_users
            .iter()
            .any(|u| u.eq_ignore_ascii_case(who.name));
    if filtered && !in_filter {
        return Err(ReviewRefusal {
            code: "not_a_reviewer",
            message: format!("{obj} is reviewed only by {reviewers}"),
        });
    }
    if let Some(window) = role.reviewer_fresh_login {
        let fresh = auth_time
            .is_some_and(|t| now - t <= chrono::Duration::from_std(window).unwrap_or_default());
        if !fresh {
            return Err(ReviewRefusal {
                code: "login_not_fresh",
                message: format!("reviewing {obj} needs a login within the last {}; run `latchkey login` and try again", duration::format(window)),
            });
        }
    }
    Ok(format!(
        "may review by `{}`",
        rule.rules.first().map(String::as_str).unwrap_or("?")
    ))
}
