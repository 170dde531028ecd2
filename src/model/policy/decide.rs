//! A request's decision: refused, auto-approved, break-glass, or waiting for reviews,
//! with the rules and thresholds that say so and what would make a refusal possible.

use std::time::Duration;

use serde::Serialize;

use crate::model::duration;
use crate::model::policy::review::reviewers_text;
pub use crate::model::policy::subject::{object, Who};
use crate::model::policy::{Action, Policy, Role};

/// What is asked.
#[derive(Debug, Clone, Default)]
pub struct Ask {
    /// Resource name.
    pub resource: String,
    /// Role name (`None`: the resource's only role).
    pub role: Option<String>,
    /// Duration asked (`None`: the role's default).
    pub duration: Option<Duration>,
    /// Why.
    pub reason: Option<String>,
    /// Ticket reference.
    pub ticket: Option<String>,
    /// Break-glass.
    pub breakglass: bool,
}

/// The decision's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Refused; nothing is created.
    Refused,
    /// Granted at once.
    AutoApproved,
    /// Granted at once under break-glass, flagged for review after the fact.
    Breakglass,
    /// Waits for reviews.
    NeedsReview,
}

/// A decision with its explanation.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// What happens.
    pub outcome: Outcome,
    /// For refusals, a stable code.
    pub code: Option<&'static str>,
    /// The role decided on.
    pub role: Option<String>,
    /// Effective duration (seconds).
    pub duration_secs: u64,
    /// Why, in order.
    pub explanation: Vec<String>,
    /// What would make a refusal possible.
    pub hint: Option<String>,
    /// Approvals needed.
    pub approvals: u32,
    /// Denials that end it.
    pub denials: u32,
    /// Who may review, in words.
    pub reviewers: String,
    /// Policy lines that matched.
    pub rules: Vec<String>,
}

impl Decision {
    fn refuse(
        code: &'static str,
        why: String,
        hint: Option<String>,
        explanation: Vec<String>,
    ) -> Self {
        let mut explanation = explanation;
        explanation.push(why);
        Decision {
            outcome: Outcome::Refused,
            code: Some(code),
            role: None,
            duration_secs: 0,
            explanation,
            hint,
            approvals: 0,
            denials: 0,
            reviewers: String::new(),
            rules: Vec::new(),
        }
    }
}

fn pick_role<'p>(
    policy: &'p Policy,
    ask: &Ask,
) -> Result<(&'p crate::model::policy::Resource, &'p Role), Box<Decision>> {
    let Some(resource) = policy.catalogue.resources.get(&ask.resource) else {
        let known: Vec<&str> = policy
            .catalogue
            .resources
            .keys()
            .map(String::as_str)
            .collect();
        return Err(Box::new(Decision::refuse(
            "unknown_resource",
            format!("there is no resource {:?}", ask.resource),
            Some(format!("known resources: {}", known.join(", "))),
            vec![],
        )));
    };
    let role = match &ask.role {
        Some(r) => resource.roles.get(r),
        None if resource.roles.len() == 1 => resource.roles.values().next(),
        None => None,
    };
    role.map(|role| (resource, role)).ok_or_else(|| {
        let roles: Vec<&str> = resource.roles.keys().map(String::as_str).collect();
        Box::new(Decision::refuse(
            "unknown_role",
            match &ask.role {
                Some(r) => format!("{} has no role {r:?}", resource.name),
                None => format!("{} has several roles; name one with --role", resource.name),
            },
            Some(format!("roles of {}: {}", resource.name, roles.join(", "))),
            vec![],
        ))
    })
}

/// Decides a request: the role, whether the policy allows asking, the terms (reason,
/// ticket, duration), then how it is granted.
pub fn decide(policy: &Policy, who: &Who<'_>, ask: &Ask) -> Decision {
    let (resource, role) = match pick_role(policy, ask) {
        Ok(r) => r,
        Err(d) => return *d,
    };
    let obj = object(&resource.name, &role.name);
    let mut why = vec![format!("{obj}: {}", resource.description)];
    let (mut rules, duration) = match checks(policy, who, ask, role, &obj, &mut why) {
        Ok(c) => c,
        Err(refusal) => return refusal.into_decision(why),
    };
    let reviewers = reviewers_text(policy, &resource.name, role);
    let outcome = if ask.breakglass {
        why.push("break-glass: active at once, reviewed after the fact".into());
        Outcome::Breakglass
    } else {
        auto_or_review(policy, who, role, &obj, &reviewers, &mut rules, &mut why)
    };
    Decision {
        outcome,
        code: None,
        role: Some(role.name.clone()),
        duration_secs: duration.as_secs(),
        explanation: why,
        hint: None,
        approvals: role.approvals,
        denials: role.denials,
        reviewers,
        rules,
    }
}

/// A refusal found by one of [`decide`]'s checks, before the explanation so far is added.
struct Unmet {
    code: &'static str,
    why: String,
    hint: Option<String>,
    rules: Vec<String>,
}

impl Unmet {
    fn new(code: &'static str, why: String, hint: Option<String>) -> Box<Self> {
        Box::new(Self {
            code,
            why,
            hint,
            rules: Vec::new(),
        })
    }

    fn into_decision(self, explanation: Vec<String>) -> Decision {
        let mut d = Decision::refuse(self.code, self.why, self.hint, explanation);
        d.rules = self.rules;
        d
    }
}

/// The checks a request must pass, in order: the rules that allow it and the duration.
fn checks(
    policy: &Policy,
    who: &Who<'_>,
    ask: &Ask,
    role: &Role,
    obj: &str,
    why: &mut Vec<String>,
) -> Result<(Vec<String>, Duration), Box<Unmet>> {
    let rules = allowed(policy, who, ask, obj, why)?;
    check_terms(ask, role, obj)?;
    Ok((rules, check_duration(ask, role, why)?))
}

/// Whether the policy lets `who` ask for `obj` (or use break-glass on it): the rules that
/// allow it.
fn allowed(
    policy: &Policy,
    who: &Who<'_>,
    ask: &Ask,
    obj: &str,
    why: &mut Vec<String>,
) -> Result<Vec<String>, Box<Unmet>> {
    let action = if ask.breakglass {
        Action::Breakglass
    } else {
        Action::Request
    };
    let may = policy.check(who.name, who.groups, obj, action);
    if !may.allowed {
        let mut refusal = Unmet::new(
            "not_allowed",
            format!(
                "the policy does not let {} {} {obj}",
                who.name,
                if ask.breakglass {
                    "use break-glass on"
                } else {
                    "request"
                }
            ),
            Some(match may.rules.first() {
                Some(deny) => format!("refused by the rule `{deny}`"),
                None => "no rule allows it; ask a policy owner to add one".into(),
            }),
        );
        refusal.rules = may.rules;
        return Err(refusal);
    }
    why.push(format!(
        "allowed by `{}`",
        may.rules.first().map(String::as_str).unwrap_or("?")
    ));
    Ok(may.rules)
}

/// Break-glass available, and the reason and ticket the role asks for.
fn check_terms(ask: &Ask, role: &Role, obj: &str) -> Result<(), Box<Unmet>> {
    if ask.breakglass && !role.breakglass {
        return Err(Unmet::new(
            "breakglass_not_available",
            format!("{obj} has no break-glass path"),
            Some("request it normally".into()),
        ));
    }
    let reason = ask
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if (role.reason_required || ask.breakglass) && reason.is_none() {
        return Err(Unmet::new(
            "reason_required",
            format!("{obj} requires a reason"),
            pattern_hint("the reason", &role.reason_pattern),
        ));
    }
    if let (Some(p), Some(r)) = (&role.reason_pattern, reason) {
        if !p.is_match(r) {
            return Err(Unmet::new(
                "reason_mismatch",
                "the reason does not match the role's pattern".into(),
                pattern_hint("the reason", &role.reason_pattern),
            ));
        }
    }
    let ticket = ask
        .ticket
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    // An emergency may not have a ticket yet; the review after the fact asks for one.
    if role.ticket_required && !ask.breakglass && ticket.is_none() {
        return Err(Unmet::new(
            "ticket_required",
            format!("{obj} requires a ticket"),
            pattern_hint("the ticket", &role.ticket_pattern),
        ));
    }
    if let (Some(p), Some(t)) = (&role.ticket_pattern, ticket) {
        if !p.is_match(t) {
            return Err(Unmet::new(
                "ticket_mismatch",
                format!("the ticket {t:?} does not match the role's pattern"),
                pattern_hint("the ticket", &role.ticket_pattern),
            ));
        }
    }
    Ok(())
}

/// The duration granted: the one asked, or the role's default, within the role's cap.
fn check_duration(ask: &Ask, role: &Role, why: &mut Vec<String>) -> Result<Duration, Box<Unmet>> {
    let cap = if ask.breakglass {
        role.breakglass_max_duration
    } else {
        role.max_duration
    };
    let duration = ask.duration.unwrap_or(role.default_duration.min(cap));
    if duration.is_zero() || duration > cap {
        return Err(Unmet::new(
            "duration_too_long",
            format!(
                "{} is more than the {} allowed",
                duration::format(duration),
                duration::format(cap)
            ),
            Some(format!("ask for at most {}", duration::format(cap))),
        ));
    }
    why.push(format!(
        "duration {} (at most {})",
        duration::format(duration),
        duration::format(cap)
    ));
    Ok(duration)
}

/// Granted at once when the role and the policy auto-approve it, else waiting for reviews.
fn auto_or_review(
    policy: &Policy,
    who: &Who<'_>,
    role: &Role,
    obj: &str,
    reviewers: &str,
    rules: &mut Vec<String>,
    why: &mut Vec<String>,
) -> Outcome {
    let auto = policy.check(who.name, who.groups, obj, Action::AutoApprove);
    if role.auto_approve && auto.allowed {
        why.push(format!(
            "auto-approved by `{}`",
            auto.rules.first().map(String::as_str).unwrap_or("?")
        ));
        rules.extend(auto.rules);
        return Outcome::AutoApproved;
    }
    why.push(if !role.auto_approve {
        format!("{obj} is never auto-approved")
    } else {
        match auto.rules.first() {
            Some(deny) => format!("not auto-approved: `{deny}`"),
            None => "no rule auto-approves it".into(),
        }
    });
    why.push(format!(
        "needs {} approval(s); {} denial(s) end it; reviewers: {reviewers}",
        role.approvals, role.denials
    ));
    Outcome::NeedsReview
}

fn pattern_hint(what: &str, p: &Option<regex::Regex>) -> Option<String> {
    Some(match p {
        // Show the operator's pattern without the anchors the loader added.
        Some(p) => format!(
            "{what} must match {}",
            p.as_str().trim_start_matches("^(?:").trim_end_matches(")$")
        ),
        None => format!("give {what}"),
    })
}
