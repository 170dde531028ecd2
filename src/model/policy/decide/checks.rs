//! The checks a request must pass before it is granted or sent for review, in order: the
//! policy allows asking, break-glass is available, the reason and ticket, the duration.
//! The first one unmet refuses it with a code and a hint.

use std::time::Duration;

use crate::model::duration;
use crate::model::policy::decide::decision::{Ask, Decision};
use crate::model::policy::subject::Who;
use crate::model::policy::{Action, Policy, Role};

/// A refusal found by one of [`decide`](super::decide)'s checks, before the explanation so
/// far is added.
pub(super) struct Unmet {
    code: &'static str,
    why: String,
    hint: Option<String>,
    rules: Vec<String>,
}

impl Unmet {
    /// A refusal with its code, reason and hint.
    fn new(code: &'static str, why: String, hint: Option<String>) -> Box<Self> {
        Box::new(Self {
            code,
            why,
            hint,
            rules: Vec::new(),
        })
    }

    /// The refusal, after the explanation so far.
    pub(super) fn into_decision(self, explanation: Vec<String>) -> Decision {
        let mut d = Decision::refuse(self.code, self.why, self.hint, explanation);
        d.rules = self.rules;
        d
    }
}

/// The checks a request must pass, in order: the rules that allow it and the duration.
pub(super) fn checks(
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

/// What to give for a reason or ticket: the role's pattern when it has one.
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
