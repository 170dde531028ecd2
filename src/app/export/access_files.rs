//! The access files of a bundle: `access_grants.csv`, `access_list_END.csv`,
//! `policy_changes.csv`, and `report.html` over them and the period's events.

use std::collections::HashMap;
use std::path::Path;

use crate::app::export::chain::Span;
use crate::app::export::files::{write_file, ExportError};
use crate::app::export::manifest::FileEntry;
use crate::app::export::report;
use crate::app::export::stats::{access_figures, EventTally, Period};
use crate::app::export::{as_of, csv};
use crate::model::audit::format_at;
use crate::model::audit::problem::Problem;

/// The name of the access list file for a period: `access_list_YYYY-MM-DD.csv`, the
/// last day of the period.
pub fn access_list_name(period: &Period) -> String {
    let last_day = (period.to - chrono::Duration::milliseconds(1)).date_naive();
    format!("access_list_{}.csv", last_day.format("%Y-%m-%d"))
}

/// The period a bundle covers, and the one asked for (which may end later: the bundle
/// stops at the time of export).
pub(super) struct Periods<'a> {
    /// The period every file covers.
    pub period: &'a Period,
    /// The period asked for.
    pub asked: &'a Period,
}

/// Writes the access CSVs and `report.html`, each as of the end of the same period.
pub(super) fn write_access(
    dir: &Path,
    span: &Span,
    periods: &Periods<'_>,
    access: &crate::store::ExportedAccess,
    tally: &EventTally,
    problem: Option<&Problem>,
    generated_at: &str,
) -> Result<Vec<FileEntry>, ExportError> {
    let period = periods.period;
    let mut reviews: HashMap<&str, Vec<&crate::model::access::Review>> = HashMap::new();
    for (id, r) in &access.reviews {
        reviews.entry(id.as_str()).or_default().push(r);
    }
    let figures = access_figures(&access.requests, &reviews, period);
    let held = access
        .requests
        .iter()
        .filter(|r| as_of::held_at(r, period.to))
        .count();
    let mut files = vec![
        write_file(
            dir,
            "access_grants.csv",
            csv::access_grants(&access.requests, &reviews, &access.issuances, period).as_bytes(),
        )?,
        write_file(
            dir,
            &access_list_name(period),
            csv::access_list(&access.requests, &reviews, period).as_bytes(),
        )?,
        write_file(
            dir,
            "policy_changes.csv",
            csv::policy_changes(&tally.policy).as_bytes(),
        )?,
    ];
    let html = report::render(&report::ReportInput {
        period,
        generated_at: generated_at.to_string(),
        events: tally.by_type.values().sum(),
        seq_range: span.seqs,
        checkpoint: span
            .end
            .as_ref()
            .map(|c| (c.number, c.events, format_at(c.at))),
        chain_problem: problem,
        tally,
        access: &figures,
        requests: access.requests.len(),
        held_at_end: held,
        asked_to: (periods.asked.to != period.to).then_some(periods.asked.to),
        emails: &access.emails,
    });
    files.push(write_file(dir, "report.html", html.as_bytes())?);
    Ok(files)
}
