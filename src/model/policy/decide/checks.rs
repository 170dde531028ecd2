//! The checks a request must pass before it is granted or sent for review, in order: the
//! policy allows asking and break-glass is available (either unmet refuses it at once),
//! then the role's terms (reason, ticket, duration), every one of which is checked so
//! that all that is unmet is said at once.

use std::time::Duration;

use crate::model::duration;
use crate::model::policy::decide::decision::{Ask, Decision, Unmet};
use crate::model::policy::decide::terms;
use crate::model::policy::subject::Who;
use crate::model::policy::{Action, Policy, Role};

/// A refusal by the policy before the terms, before the explanation so far is added. The
/// terms are not checked then: a role's requirements are not shown to someone the policy
/// does not let ask for it.
pub(super) struct Refusal {
    code: &'static str,
    why: String,
    hint: Option<String>,
    rules: Vec<String>,
}

impl Refusal {
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

/// What the checks found when the policy lets the ask through.
pub(super) struct Checked {
    /// The rules that allow asking.
    pub rules: Vec<String>,
    /// The duration granted (the role's cap when the one asked is more).
    pub duration: Duration,
    /// The terms the ask does not meet, in order.
    pub unmet: Vec<Unmet>,
}

/// The checks a request must pass: the rules that allow it, then the terms.
pub(super) fn checks(
    policy: &Policy,
    who: &Who<'_>,
    ask: &Ask,
    role: &Role,
    obj: &str,
    why: &mut Vec<String>,
) -> Result<Checked, Box<Refusal>> {
    let rules = allowed(policy, who, ask, obj, why)?;
    if ask.breakglass && !role.breakglass {
        return Err(Refusal::new(
            "breakglass_not_available",
            format!("{obj} has no break-glass path"),
            Some("request it normally".into()),
        ));
    }
    let mut unmet = terms::unmet(ask, role, obj);
    let (duration, too_long) = check_duration(ask, role, why);
    unmet.extend(too_long);
    Ok(Checked {
        rules,
        duration,
        unmet,
    })
}

/// Whether the policy lets `who` ask for `obj` (or use break-glass on it): the rules that
/// allow it.
fn allowed(
    policy: &Policy,
    who: &Who<'_>,
    ask: &Ask,
    obj: &str,
    why: &mut Vec<String>,
) -> Result<Vec<String>, Box<Refusal>> {
    let action = if ask.breakglass {
        Action::Breakglass
    } else {
        Action::Request
    };
    let may = policy.check(who.name, who.groups, obj, action);
    if !may.allowed {
        let mut refusal = Refusal::new(
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

/// The duration granted: the one asked, or the role's default, within the role's cap.
/// One asked above the cap is unmet, and the cap stands in for it.
fn check_duration(ask: &Ask, role: &Role, why: &mut Vec<String>) -> (Duration, Option<Unmet>) {
    let cap = if ask.breakglass {
        role.breakglass_max_duration
    } else {
        role.max_duration
    };
    let duration = ask.duration.unwrap_or(role.default_duration.min(cap));
    if duration.is_zero() || duration > cap {
        let unmet = Unmet {
            code: "duration_too_long",
            field: "duration",
            message: format!(
                "{} is more than the {} allowed",
                duration::format(duration),
                duration::format(cap)
            ),
            need: format!("a duration of at most {}", duration::format(cap)),
        };
        return (cap, Some(unmet));
    }
    why.push(format!(
        "duration {} (at most {})",
        duration::format(duration),
        duration::format(cap)
    ));
    (duration, None)
}
