//! The top of the page: the document head and title, whether the chain verified with
//! the figures at a glance, and the findings.

use std::fmt::Write;

use crate::app::export::report::blocks::{card, table, STYLE};
use crate::app::export::report::input::ReportInput;
use crate::model::audit::format_at;
use crate::model::html::escape as esc;

/// The document head and the title.
pub(super) fn heading(o: &mut String, input: &ReportInput) {
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
    if let Some(asked) = input.asked_to {
        let _ = write!(
            o,
            "<p class=\"sub\">The period asked for ends {}, after this export: it is clipped to {}, the time of export, in this report and in every file of the bundle. Figures \"at the end\" are as of then.</p>",
            esc(&format_at(asked)),
            esc(&format_at(input.period.to))
        );
    }
}

/// Whether the chain verified, and the figures at a glance.
pub(super) fn summary(o: &mut String, input: &ReportInput) {
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
pub(super) fn findings(o: &mut String, input: &ReportInput) {
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
