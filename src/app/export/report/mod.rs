//! `report.html`: one self-contained page for a human reader. No scripts, no external
//! assets (a Content-Security-Policy forbids them); charts are inline SVG.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::app::export::stats::{AccessFigures, EventTally, Period};
use crate::model::audit::problem::Problem;
use crate::model::audit::{format_at, EventKind};
use crate::model::html::escape as esc;

/// Everything the page shows.
pub struct ReportInput<'a> {
    /// The period.
    pub period: &'a Period,
    /// When the bundle was made.
    pub generated_at: String,
    /// Events in the period.
    pub events: u64,
    /// First and last sequence numbers in the period.
    pub seq_range: Option<(i64, i64)>,
    /// The checkpoint the bundle ends at: (number, events, time).
    pub checkpoint: Option<(i64, i64, String)>,
    /// What verification found while exporting.
    pub chain_problem: Option<&'a Problem>,
    /// Event counts.
    pub tally: &'a EventTally,
    /// Request figures and findings.
    pub access: &'a AccessFigures,
    /// Requests in the bundle.
    pub requests: usize,
    /// Grants held at the end.
    pub held_at_end: usize,
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1d2433;padding:0 1rem}\
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:2px solid #dfe3ea;padding-bottom:.3rem}\
.sub{color:#5b6478}.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}\
.card{border:1px solid #dfe3ea;border-radius:8px;padding:.6rem .9rem;min-width:9rem}\
.card b{display:block;font-size:1.4rem}table{border-collapse:collapse;width:100%;margin:.6rem 0}\
th,td{border-bottom:1px solid #e8ebf0;text-align:left;padding:.3rem .5rem;vertical-align:top}\
th{background:#f5f7fa}.ok{color:#0a7a3b}.bad{color:#b42318;font-weight:600}\
.crit{font-weight:600;color:#34405a}svg text{font:11px system-ui,sans-serif;fill:#5b6478}";

fn card(out: &mut String, label: &str, value: impl std::fmt::Display) {
    let _ = write!(
        out,
        "<div class=\"card\"><b>{value}</b>{}</div>",
        esc(label)
    );
}

fn table(out: &mut String, head: &[&str], rows: Vec<Vec<String>>) {
    out.push_str("<table><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr>");
    if rows.is_empty() {
        let _ = write!(out, "<tr><td colspan=\"{}\">none</td></tr>", head.len());
    }
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{}</td>", esc(&c));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

/// A bar chart as inline SVG.
pub fn bar_chart(title: &str, bars: &[(String, u64)]) -> String {
    let (w, h, pad) = (1000.0_f64, 220.0_f64, 30.0_f64);
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    let n = bars.len().max(1) as f64;
    let bw = (w - 2.0 * pad) / n;
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {w} {}\" width=\"100%\"><title>{}</title>",
        esc(title),
        h + 40.0,
        esc(title)
    );
    let _ = write!(svg, "<text x=\"{pad}\" y=\"14\">max {max}</text>");
    let label_every = (bars.len() / 12).max(1);
    for (i, (label, v)) in bars.iter().enumerate() {
        let bh = (*v as f64 / max) * (h - pad);
        let x = pad + i as f64 * bw;
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#3b6fd8\"><title>{}: {v}</title></rect>",
            h - bh,
            (bw - 1.0).max(1.0),
            esc(label)
        );
        if i % label_every == 0 {
            let _ = write!(
                svg,
                "<text x=\"{x:.1}\" y=\"{}\">{}</text>",
                h + 16.0,
                esc(label)
            );
        }
    }
    let _ = write!(
        svg,
        "<line x1=\"{pad}\" y1=\"{h}\" x2=\"{}\" y2=\"{h}\" stroke=\"#8a93a6\"/></svg>",
        w - pad
    );
    svg
}

fn days(input: &ReportInput) -> Vec<(String, u64)> {
    let mut bars = Vec::new();
    let mut day = input.period.from.date_naive();
    let last = (input.period.to - chrono::Duration::milliseconds(1)).date_naive();
    while day <= last && bars.len() < 1000 {
        let v = input.access.grants_per_day.get(&day).copied().unwrap_or(0);
        bars.push((day.format("%m-%d").to_string(), v));
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    bars
}

fn approval_buckets(minutes: &[i64]) -> Vec<(String, u64)> {
    let edges: [(i64, &str); 6] = [
        (5, "< 5 min"),
        (15, "5–15 min"),
        (60, "15–60 min"),
        (240, "1–4 h"),
        (1440, "4–24 h"),
        (i64::MAX, "> 1 day"),
    ];
    let mut counts: BTreeMap<usize, u64> = BTreeMap::new();
    for m in minutes {
        let i = edges
            .iter()
            .position(|(e, _)| m < e)
            .unwrap_or(edges.len() - 1);
        *counts.entry(i).or_default() += 1;
    }
    edges
        .iter()
        .enumerate()
        .map(|(i, (_, l))| (l.to_string(), counts.get(&i).copied().unwrap_or(0)))
        .collect()
}

fn pairs<K: std::fmt::Display>(m: &BTreeMap<K, u64>) -> Vec<Vec<String>> {
    m.iter()
        .map(|(k, v)| vec![k.to_string(), v.to_string()])
        .collect()
}

/// The whole page, section by section.
pub fn render(input: &ReportInput) -> String {
    let t = input.tally;
    let mut o = String::with_capacity(64 * 1024);
    heading(&mut o, input);
    summary(&mut o, input);
    findings(&mut o, input);
    restricted(&mut o, input);
    authorized(&mut o, input);
    removed(&mut o, input);
    anomalies(&mut o, input);
    policy_changes(&mut o, input);
    o.push_str("<h2>All events by type</h2>");
    table(&mut o, &["type", "count"], pairs(&t.by_type));
    o.push_str("<p class=\"sub\">The machine-readable files of this bundle hold every row behind these figures; manifest.json signs them.</p></body></html>\n");
    o
}

/// The document head and the title.
fn heading(o: &mut String, input: &ReportInput) {
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>latchkey access evidence {} to {}</title><style>{STYLE}</style></head><body>",
        esc(&format_at(input.period.from)),
        esc(&format_at(input.period.to))
    );
    let _ = write!(
        o,
        "<h1>Access evidence</h1><p class=\"sub\">Period {} (inclusive) to {} (exclusive), UTC. Generated {} by latchkey {}.</p>",
        esc(&format_at(input.period.from)),
        esc(&format_at(input.period.to)),
        esc(&input.generated_at),
        env!("CARGO_PKG_VERSION")
    );
}

/// Whether the chain verified, and the figures at a glance.
fn summary(o: &mut String, input: &ReportInput) {
    let a = input.access;
    match input.chain_problem {
        None => {
            let cp = input
                .checkpoint
                .as_ref()
                .map_or("no checkpoint yet".to_string(), |(n, e, at)| {
                    format!("checkpoint {n} ({e} events, signed {at})")
                });
            let _ = write!(
                o,
                "<p class=\"ok\">Audit chain verified while exporting; the bundle ends at {}.</p>",
                esc(&cp)
            );
        }
        Some(p) => {
            let _ = write!(
                o,
                "<p class=\"bad\">Audit chain broken at event {}: {}</p>",
                p.seq,
                esc(&p.message)
            );
        }
    }
    o.push_str("<div class=\"cards\">");
    card(o, "events in the period", input.events);
    card(o, "requests", input.requests);
    card(o, "grants activated", a.granted_how.values().sum::<u64>());
    card(o, "break-glass uses", a.breakglass.len());
    card(
        o,
        "revocations",
        a.ended_how.get("revoked").copied().unwrap_or(0),
    );
    card(o, "held at the end", input.held_at_end);
    card(o, "findings", a.findings.len());
    o.push_str("</div>");
    if let Some((first, last)) = input.seq_range {
        let _ = write!(
            o,
            "<p class=\"sub\">Events {first} to {last} of the audit log.</p>"
        );
    }
}

/// What an auditor would look at twice.
fn findings(o: &mut String, input: &ReportInput) {
    let a = input.access;
    o.push_str("<h2>Findings</h2><p>Approval by the requester, access without the approvals its policy required, grants longer than policy allows, break-glass without review.</p>");
    table(
        o,
        &["finding", "subject", "detail"],
        a.findings
            .iter()
            .map(|f| vec![f.code.clone(), f.subject.clone(), f.detail.clone()])
            .collect(),
    );
}

/// CC6.1: what was granted, and how.
fn restricted(o: &mut String, input: &ReportInput) {
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
    o.push_str(&bar_chart("Grants activated per day", &days(input)));
    let _ = write!(
        o,
        "<p>Requests refused by policy: {}. Credentials issued: {}; refused or failed: {}.</p>",
        t.refused(EventKind::RequestCreated) + t.refused(EventKind::PolicyDecided),
        t.count(EventKind::CredentialIssued),
        t.count(EventKind::CredentialFailed)
    );
}

/// CC6.2: on whose approval.
fn authorized(o: &mut String, input: &ReportInput) {
    let (t, a) = (input.tally, input.access);
    o.push_str("<h2>CC6.2 Access is authorized before it is granted</h2><p class=\"crit\">On whose approval.</p>");
    table(o, &["approver", "approvals"], pairs(&a.approvers));
    o.push_str(&bar_chart(
        "Time from request to approval",
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
fn removed(o: &mut String, input: &ReportInput) {
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
                    e.actor.clone(),
                    e.reason.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    );
}

/// CC7.2: what was unusual.
fn anomalies(o: &mut String, input: &ReportInput) {
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
fn policy_changes(o: &mut String, input: &ReportInput) {
    let t = input.tally;
    o.push_str("<h2>Policy changes</h2>");
    table(
        o,
        &["when", "event", "outcome", "hash", "changed by"],
        t.policy
            .iter()
            .map(|e| {
                vec![
                    format_at(e.at),
                    e.kind.clone(),
                    e.outcome.clone(),
                    e.details["hash"]
                        .as_str()
                        .or(e.details["hash_in_force"].as_str())
                        .unwrap_or("")
                        .to_string(),
                    e.details["changed_by"].as_str().unwrap_or("").to_string(),
                ]
            })
            .collect(),
    );
}
