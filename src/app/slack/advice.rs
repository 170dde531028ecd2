//! What a reviewer whose Slack click needs a fresher login (`reviewer_fresh_login`) is
//! told: exactly what will make the click count. With an identity provider, a single-use
//! link to sign in there (the review counts when the provider confirms); on a development
//! server, which has no provider, a development login within the role's window, then the
//! click again.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::app::services::Slack;
use crate::app::slack::answer::said;
use crate::app::slack::fresh::{self, Pending};
use crate::model::access::Verdict;
use crate::model::domain::Principal;
use crate::model::duration;

/// The role's name and how recent a reviewer's login must be, if the request is known.
async fn window(slack: &Slack, request_id: &str) -> Option<(String, Duration)> {
    let mut tx = slack.core.store.begin_read().await.ok()?;
    let r = tx.request(request_id).await.ok()??;
    tx.commit().await.ok()?;
    let policy = slack.core.policy.current();
    let (_, role) = policy.catalogue.role(&r.resource, &r.role)?;
    Some((
        format!("{}#{}", r.resource, r.role),
        role.reviewer_fresh_login?,
    ))
}

/// How long ago `t` was, in the broker's duration words (`22s`, `1h5m`).
fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    duration::format((now - t).to_std().unwrap_or_default())
}

/// The answer to a click refused for want of a fresh login by `reviewer` (the bound
/// principal, whose `auth_time` is what the broker knows of their last login).
pub(crate) async fn not_fresh(
    slack: &Slack,
    reviewer: &Principal,
    pending: &Pending<'_>,
    now: DateTime<Utc>,
) -> String {
    let (obj, within) = match window(slack, pending.request_id).await {
        Some((obj, w)) => (obj, duration::format(w)),
        None => ("this role".to_string(), "the role's window".to_string()),
    };
    let need = format!("reviewing {obj} needs a login within the last {within}");
    let (button, verb, cli) = match pending.verdict {
        Verdict::Approve => ("Approve", "approval", "approve"),
        Verdict::Deny => ("Deny", "denial", "deny"),
    };
    let terminal = format!(
        "from a terminal: `latchkey login`, then `latchkey {cli} {}` within {within}",
        pending.request_id
    );
    let config = &slack.core.config;
    if config.oidc.is_some() {
        return match fresh::offer(slack, pending, now).await {
            Ok(link) => format!(
                "Not counted yet: {need}, and a click in Slack is not a login. Open {link} within {} and sign in at your identity provider: your {verb} counts as soon as the provider confirms it is you (the link works once). Or, {terminal}.",
                duration::format(fresh::LIFETIME.to_std().unwrap_or_default())
            ),
            Err(e) => format!("Not counted: {}; {terminal}.", said(&e)),
        };
    }
    if config.dev {
        let last = match reviewer.auth_time {
            Some(t) => format!("your last development login was {} ago", ago(now, t)),
            None => "you have no live development login".to_string(),
        };
        let mut login = format!(
            "latchkey login --dev {}",
            reviewer.email.as_deref().unwrap_or("EMAIL")
        );
        if !reviewer.groups.is_empty() {
            login.push_str(&format!(" --groups {}", reviewer.groups.join(",")));
        }
        return format!(
            "Not counted: {need}, and {last}. Log in again with `{login}`, then click {button} again within {within}."
        );
    }
    format!("Not counted: {need}, and this broker has no identity provider to confirm a login from Slack; {terminal}.")
}
