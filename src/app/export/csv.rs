//! The CSV files of an evidence bundle: one row per request, who held what at the end,
//! and every policy load. RFC 4180 quoting; a cell that a spreadsheet would run as a
//! formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) gets a leading `'`,
//! since reasons and tickets are typed by requesters.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::app::export::as_of::{ended_as, ended_by, held_at, state_at};
use crate::app::export::stats::Period;
use crate::model::access::{AccessRequest, Review, Verdict};
use crate::model::audit::{format_at, AuditEvent};

/// One CSV cell, quoted when needed and defused against formula injection.
pub fn cell(value: &str) -> String {
    let defused = match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_string(),
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

fn row(cells: &[String]) -> String {
    let mut line = cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

fn time(t: Option<DateTime<Utc>>, period: &Period) -> String {
    t.filter(|t| *t < period.to)
        .map(format_at)
        .unwrap_or_default()
}

fn names(reviews: &[&Review], verdict: Verdict) -> String {
    reviews
        .iter()
        .filter(|r| r.verdict == verdict)
        .map(|r| r.reviewer_name.as_str())
        .collect::<Vec<_>>()
        .join(";")
}

/// `access_grants.csv`: one row per request alive in the period, as of its end.
pub fn access_grants(
    requests: &[AccessRequest],
    reviews: &HashMap<&str, Vec<&Review>>,
    issued: &HashMap<String, i64>,
    period: &Period,
) -> String {
    let mut out = row(&[
        "request_id",
        "requester",
        "resource",
        "role",
        "reason",
        "ticket",
        "requested_at",
        "decided_at",
        "activated_at",
        "ended_at",
        "ended_how",
        "approvers",
        "deniers",
        "auto_approved",
        "breakglass",
        "credentials_issued",
        "state_at_period_end",
    ]
    .map(String::from));
    for r in requests {
        let rv = reviews.get(r.id.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        let ended = ended_by(r, period.to);
        let how = match (ended, &r.end_reason) {
            (None, _) => String::new(),
            (Some(_), Some(why)) if r.ended_at == ended => {
                format!("{}: {why}", ended_as(r, period.to))
            }
            (Some(_), _) => ended_as(r, period.to).to_string(),
        };
        out.push_str(&row(&[
            r.id.clone(),
            r.requester_name.clone(),
            r.resource.clone(),
            r.role.clone(),
            r.reason.clone().unwrap_or_default(),
            r.ticket.clone().unwrap_or_default(),
            format_at(r.created_at),
            time(r.decided_at, period),
            time(r.activated_at, period),
            ended.map(format_at).unwrap_or_default(),
            how,
            names(rv, Verdict::Approve),
            names(rv, Verdict::Deny),
            r.auto_approved.to_string(),
            r.breakglass.to_string(),
            issued.get(&r.id).copied().unwrap_or(0).to_string(),
            state_at(r, period.to).to_string(),
        ]));
    }
    out
}

/// `access_list_END.csv`: who held which access at the end of the period.
pub fn access_list(
    requests: &[AccessRequest],
    reviews: &HashMap<&str, Vec<&Review>>,
    period: &Period,
) -> String {
    let mut out = row(&[
        "requester",
        "resource",
        "role",
        "request_id",
        "activated_at",
        "expires_at",
        "approvers",
        "auto_approved",
        "breakglass",
    ]
    .map(String::from));
    let mut held: Vec<&AccessRequest> = requests.iter().filter(|r| held_at(r, period.to)).collect();
    held.sort_by(|a, b| {
        (&a.requester_name, &a.resource, &a.role).cmp(&(&b.requester_name, &b.resource, &b.role))
    });
    for r in held {
        let rv = reviews.get(r.id.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        out.push_str(&row(&[
            r.requester_name.clone(),
            r.resource.clone(),
            r.role.clone(),
            r.id.clone(),
            r.activated_at.map(format_at).unwrap_or_default(),
            r.expires_at.map(format_at).unwrap_or_default(),
            names(rv, Verdict::Approve),
            r.auto_approved.to_string(),
            r.breakglass.to_string(),
        ]));
    }
    out
}

/// `policy_changes.csv`: every policy load and reload (refused ones too).
pub fn policy_changes(events: &[AuditEvent]) -> String {
    let mut out = row(&[
        "seq",
        "at",
        "type",
        "outcome",
        "hash",
        "previous_hash",
        "changed_by",
        "trigger",
        "files",
        "reason",
    ]
    .map(String::from));
    let s = |e: &AuditEvent, k: &str| match &e.details[k] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        v => v.to_string(),
    };
    for (e, (hash, previous)) in events.iter().zip(policy_hashes(events)) {
        out.push_str(&row(&[
            e.seq.to_string(),
            format_at(e.at),
            e.kind.clone(),
            e.outcome.clone(),
            hash,
            previous,
            s(e, "changed_by"),
            s(e, "trigger"),
            s(e, "files"),
            e.reason.clone().unwrap_or_default(),
        ]));
    }
    out
}

/// Each policy event's hash (the one loaded, or the one still in force when a load was
/// refused) and the hash in force before it: the event's own `previous_hash`, else the
/// hash of the policy event before it in the list (unknown for the first).
pub fn policy_hashes(events: &[AuditEvent]) -> Vec<(String, String)> {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let mut before = String::new();
    events
        .iter()
        .map(|e| {
            let hash = if e.outcome == "success" {
                text(&e.details["hash"])
            } else {
                text(&e.details["hash_in_force"])
            };
            let previous = match text(&e.details["previous_hash"]) {
                p if p.is_empty() => before.clone(),
                p => p,
            };
            before = hash.clone();
            (hash, previous)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("-1+2"), "'-1+2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("line\nbreak"), "\"line\nbreak\"");
    }
}
