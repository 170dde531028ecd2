//! The reason and ticket a role asks for: each one missing or not of the expected form is
//! an [`Unmet`], said in words (the role's `reason_hint`/`ticket_hint`, or words derived
//! from its pattern).

use crate::model::policy::decide::decision::{Ask, Unmet};
use crate::model::policy::Role;

/// The reason and ticket requirements `ask` does not meet, reason first.
pub(super) fn unmet(ask: &Ask, role: &Role, obj: &str) -> Vec<Unmet> {
    let mut unmet = Vec::new();
    let reason = given(&ask.reason);
    let reason_form = role.reason_form();
    let reason_need = need("a reason", &reason_form);
    match (reason, &role.reason_pattern) {
        (None, _) if role.reason_required || ask.breakglass => unmet.push(Unmet {
            code: "reason_required",
            field: "reason",
            message: format!("{obj} requires {reason_need}"),
            need: reason_need,
        }),
        (Some(r), Some(p)) if !p.is_match(r) => unmet.push(Unmet {
            code: "reason_mismatch",
            field: "reason",
            message: format!(
                "the reason is not what {obj} asks{}",
                in_parens(&reason_form)
            ),
            need: reason_need,
        }),
        _ => {}
    }
    let ticket = given(&ask.ticket);
    let ticket_form = role.ticket_form();
    let ticket_need = need("a ticket", &ticket_form);
    match (ticket, &role.ticket_pattern) {
        // An emergency may not have a ticket yet; the review after the fact asks for one.
        (None, _) if role.ticket_required && !ask.breakglass => unmet.push(Unmet {
            code: "ticket_required",
            field: "ticket",
            message: format!("{obj} requires {ticket_need}"),
            need: ticket_need,
        }),
        (Some(t), Some(p)) if !p.is_match(t) => unmet.push(Unmet {
            code: "ticket_mismatch",
            field: "ticket",
            message: format!(
                "the ticket {t:?} is not what {obj} asks{}",
                in_parens(&ticket_form)
            ),
            need: ticket_need,
        }),
        _ => {}
    }
    unmet
}

/// A field's value, trimmed; blank is not given.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// `a reason (at least 10 characters)`, or `a reason` when any will do.
fn need(what: &str, form: &Option<String>) -> String {
    format!("{what}{}", in_parens(form))
}

fn in_parens(form: &Option<String>) -> String {
    form.as_deref()
        .map(|f| format!(" ({f})"))
        .unwrap_or_default()
}
