//! A request's decision: refused, auto-approved, break-glass, or waiting for reviews,
//! with the rules and thresholds that say so and what would make a refusal possible.
//! [`decide`] decides a real request; [`explain`] the same ask as if its reason, ticket
//! and duration were right, listing what a real request would still need. The types are
//! [`decision`]; the checks before the outcome, [`checks`] and [`terms`].

mod checks;
mod decision;
mod terms;
#[cfg(test)]
mod tests;

use crate::model::policy::review::reviewers_text;
pub use crate::model::policy::subject::{object, Who};
use crate::model::policy::{Action, Policy, Role};

use self::checks::checks;
pub use self::decision::{Ask, Decision, Outcome, Unmet};

/// The resource and role asked for (a resource's only role when none is named).
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
/// ticket, duration), then how it is granted. Every term unmet refuses it, all at once.
pub fn decide(policy: &Policy, who: &Who<'_>, ask: &Ask) -> Decision {
    evaluate(policy, who, ask, Terms::Enforced)
}

/// Explains an ask: the decision as if its reason, ticket and duration met the role's
/// terms, with those it does not meet in `unmet`. Only for showing; a request is decided
/// by [`decide`], which refuses them.
pub fn explain(policy: &Policy, who: &Who<'_>, ask: &Ask) -> Decision {
    evaluate(policy, who, ask, Terms::Listed)
}

/// What an unmet term does to the decision.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Terms {
    /// Refuses it (a real request).
    Enforced,
    /// Is listed beside it (an explanation).
    Listed,
}

fn evaluate(policy: &Policy, who: &Who<'_>, ask: &Ask, terms: Terms) -> Decision {
    let (resource, role) = match pick_role(policy, ask) {
        Ok(r) => r,
        Err(d) => return *d,
    };
    let obj = object(&resource.name, &role.name);
    let mut why = vec![format!("{obj}: {}", resource.description)];
    let checked = match checks(policy, who, ask, role, &obj, &mut why) {
        Ok(c) => c,
        Err(refusal) => return refusal.into_decision(why),
    };
    if terms == Terms::Enforced && !checked.unmet.is_empty() {
        return refuse_unmet(checked.unmet, why);
    }
    let mut rules = checked.rules;
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
        duration_secs: checked.duration.as_secs(),
        explanation: why,
        hint: None,
        approvals: role.approvals,
        denials: role.denials,
        reviewers,
        rules,
        unmet: checked.unmet,
    }
}

/// A refusal for every unmet term at once: the first one's code, each one's words.
fn refuse_unmet(unmet: Vec<Unmet>, why: Vec<String>) -> Decision {
    let code = unmet.first().map(|u| u.code).unwrap_or("refused");
    let message: Vec<&str> = unmet.iter().map(|u| u.message.as_str()).collect();
    let needs: Vec<String> = unmet.iter().map(|u| u.need.clone()).collect();
    let hint = format!("give {}", and_list(&needs));
    let mut d = Decision::refuse(code, message.join("; "), Some(hint), why);
    d.unmet = unmet;
    d
}

/// `a`, `a and b`, `a, b and c`.
pub fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
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
