//! The sections an auditor reads against the trust services criteria: CC6.1 what was
//! granted and how, CC6.2 on whose approval, CC6.3 what ended, CC7.2 what was unusual,
//! and the policy's changes.

use std::fmt::Write;

use crate::app::export::csv::policy_hashes;
use crate::app::export::report::blocks::{pairs, table};
use crate::app::export::report::charts::{approval_buckets, bar_chart, days, Chart};
use crate::app::export::report::input::ReportInput;
use crate::model::audit::{format_at, EventKind};

/// CC6.1: what was granted, and how.
pub(super) fn restricted(o: &mut String, input: &ReportInput) {
    let (t, a) = (input.tally, input.access);
    o.push_str("<h2>CC6.1 Logical access is restricted</h2><p class=\"crit\">What was granted, and how.</p>");
    table(
        o,
        &["granted how", "grants"],
        a.granted_how
            .iter()
            .map(|(k, v)| vec![k.to_string(), v.to_string()])
            .collect(),
    );
    table(o, &["resource#role", "grants"], pairs(&a.by_resource));
    o.push_str(&bar_chart(
        &Chart {
            title: "Grants activated per day",
            x_axis: "day (UTC, month-day)",
            y_axis: "grants activated",
        },
        &days(input.period, &a.grants_per_day),
    ));
    let _ = write!(
        o,
        "<p>Requests refused by policy: {}. Credentials issued: {}; refused or failed: {}.</p>",
        t.refused(EventKind::RequestCreated) + t.refused(EventKind::PolicyDecided),
        t.count(EventKind::CredentialIssued),
        t.count(EventKind::CredentialFailed)
    );
}

/// CC6.2: on whose approval.
pub(super) fn authorized(o: &mut String, input: &ReportInput) {
    let (t, a) = (input.tally, input.access);
    o.push_str("<h2>CC6.2 Access is authorized before it is granted</h2><p class=\"crit\">On whose approval.</p>");
    table(o, &["approver", "approvals"], pairs(&a.approvers));
    o.push_str(&bar_chart(
        &Chart {
            title: "Time from request to approval",
            x_axis: "time from request to approval",
            y_axis: "requests",
        },
        &approval_buckets(&a.minutes_to_approval),
    ));
    let _ = write!(
        o,
        "<p>Reviews submitted: {}; refused (not eligible, own request, stale login): {}.</p>",
        t.count(EventKind::ReviewSubmitted),
        t.count(EventKind::ReviewRefused)
    );
}

/// CC6.3: what ended, and how.
pub(super) fn removed(o: &mut String, input: &ReportInput) {
    let (t, a) = (input.tally, input.access);
    o.push_str("<h2>CC6.3 Access is removed when no longer needed</h2><p class=\"crit\">What ended, and how.</p>");
    table(o, &["ended as", "grants"], pairs(&a.ended_how));
    table(
        o,
        &["when", "type", "user", "by", "reason"],
        t.locks
            .iter()
            .map(|e| {
                vec![
                    format_at(e.at),
                    e.kind.clone(),
                    e.subject.clone().unwrap_or_default(),
                    input.person(&e.actor).to_string(),
                    e.reason.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    );
}

/// CC7.2: what was unusual.
pub(super) fn anomalies(o: &mut String, input: &ReportInput) {
    let (t, a) = (input.tally, input.access);
    o.push_str("<h2>CC7.2 Anomalies are monitored</h2><p class=\"crit\">What was unusual.</p>");
    table(
        o,
        &[
            "when",
            "requester",
            "resource#role",
            "reason",
            "ticket",
            "state",
        ],
        a.breakglass
            .iter()
            .map(|r| {
                vec![
                    format_at(r.created_at),
                    r.requester_name.clone(),
                    format!("{}#{}", r.resource, r.role),
                    r.reason.clone().unwrap_or_default(),
                    r.ticket.clone().unwrap_or_default(),
                    r.state.as_str().to_string(),
                ]
            })
            .collect(),
    );
    table(
        o,
        &["refused or failed", "count"],
        pairs(&t.refused_by_type),
    );
}

/// Policy loads and reloads.
pub(super) fn policy_changes(o: &mut String, input: &ReportInput) {
    let t = input.tally;
    o.push_str("<h2>Policy changes</h2>");
    table(
        o,
        &[
            "when",
            "event",
            "outcome",
            "hash",
            "previous hash",
            "changed by",
        ],
        t.policy
            .iter()
            .zip(policy_hashes(&t.policy))
            .map(|(e, (hash, previous))| {
                vec![
                    format_at(e.at),
                    e.kind.clone(),
                    e.outcome.clone(),
                    hash,
                    previous,
                    e.details["changed_by"].as_str().unwrap_or("").to_string(),
                ]
            })
            .collect(),
    );
}
