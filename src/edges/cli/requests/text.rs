//! How the access verbs print: a request on one line, a request in full, the resources
//! one may ask for.

use std::time::Duration;

use crate::edges::cli::error::CliError;
use crate::edges::cli::output::Output;
use crate::model::access::ids::short_ids;
use crate::model::access::{AccessRequest, State};
use crate::model::duration;
use crate::model::wire::RequestView;
use crate::model::wire::ResourceView;

/// A time as the text output shows it, `-` for none.
pub(super) fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "-".into())
}

/// One request on one line: whole id, state, resource#role, requester, what is next, flags.
pub(super) fn line(r: &AccessRequest) -> String {
    line_as(r, &r.id)
}

/// Requests one a line, each with its short id (unique among them, and a prefix the
/// broker accepts), or `no requests`.
pub(super) fn list_text(list: &[AccessRequest]) -> String {
    if list.is_empty() {
        return "no requests".to_string();
    }
    let ids: Vec<&str> = list.iter().map(|r| r.id.as_str()).collect();
    list.iter()
        .zip(short_ids(&ids))
        .map(|(r, short)| line_as(r, &short))
        .collect::<Vec<_>>()
        .join("\n")
}

/// [`line`] with `id` standing for the request.
fn line_as(r: &AccessRequest, id: &str) -> String {
    let mut flags = vec![];
    if r.breakglass {
        flags.push("BREAK-GLASS");
    }
    if r.auto_approved {
        flags.push("auto-approved");
    }
    format!(
        "{}  {:<9} {}#{}  {}  {}{}",
        id,
        r.state.as_str(),
        r.resource,
        r.role,
        r.requester_name,
        match r.state {
            State::Active => format!("until {}", when(r.expires_at)),
            State::Approved => format!("activate before {}", when(r.activation_deadline)),
            State::Pending => format!("pending until {}", when(Some(r.pending_until))),
            _ => r.end_reason.clone().unwrap_or_default(),
        },
        if flags.is_empty() {
            String::new()
        } else {
            format!("  [{}]", flags.join(", "))
        }
    )
}

/// A request with its terms and reviews (`show`, `approve`, `deny`).
pub(super) fn show_text(v: &RequestView) -> String {
    let r = &v.request;
    let mut out = vec![
        line(r),
        format!("  reason:   {}", r.reason.as_deref().unwrap_or("-")),
        format!("  ticket:   {}", r.ticket.as_deref().unwrap_or("-")),
        format!("  duration: {}", duration::format(r.duration)),
        format!(
            "  approvals {}/{} (denials {}/{}); reviewers: {}",
            v.approvals, r.terms.approvals, v.denials, r.terms.denials, v.reviewers
        ),
    ];
    for rv in &v.reviews {
        out.push(format!(
            "  {:?} by {} at {}{}",
            rv.verdict,
            rv.reviewer_name,
            when(Some(rv.at)),
            rv.comment
                .as_deref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default()
        ));
    }
    out.join("\n")
}

/// Prints `value` as JSON, or `text`.
pub(super) fn print(
    output: Output,
    value: &impl serde::Serialize,
    text: String,
) -> Result<(), CliError> {
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).map_err(anyhow::Error::from)?
        ),
        Output::Text => println!("{text}"),
    }
    Ok(())
}

/// Each resource with its roles, their limits and who must approve.
pub(super) fn resources_text(list: &[ResourceView]) -> String {
    let mut text = vec![];
    for r in list {
        text.push(format!("{}  ({}) {}", r.name, r.kind, r.description));
        for role in &r.roles {
            text.push(format!(
                "  {:<10} default {}, at most {}; {}{}{}{}",
                role.role,
                duration::format(Duration::from_secs(role.default_duration_secs)),
                duration::format(Duration::from_secs(role.max_duration_secs)),
                if role.auto_approved {
                    "granted at once".to_string()
                } else {
                    format!("{} approval(s) from {}", role.approvals, role.reviewers)
                },
                term("reason", role.reason_required, &role.reason_form),
                term("ticket", role.ticket_required, &role.ticket_form),
                if role.breakglass {
                    "; break-glass available"
                } else {
                    ""
                }
            ));
        }
    }
    text.join("\n")
}

/// `; reason required (at least 10 characters)`, `; ticket optional (like INC-123)`, or
/// nothing when the role asks nothing of it.
fn term(what: &str, required: bool, form: &Option<String>) -> String {
    let form = form
        .as_deref()
        .map(|f| format!(" ({f})"))
        .unwrap_or_default();
    match (required, form.is_empty()) {
        (true, _) => format!("; {what} required{form}"),
        (false, false) => format!("; {what} optional{form}"),
        (false, true) => String::new(),
    }
}
