//! What the report is made from.

use crate::app::export::stats::{AccessFigures, EventTally, Period};
use crate::model::audit::problem::Problem;

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
    /// The end asked for, when it was after the export and the period was clipped.
    pub asked_to: Option<chrono::DateTime<chrono::Utc>>,
    /// The email of each user who acted in the period, by user id.
    pub emails: &'a std::collections::HashMap<String, String>,
}

impl ReportInput<'_> {
    /// A user as the report names people: their email when known, else their id.
    pub fn person<'s>(&'s self, user_id: &'s str) -> &'s str {
        self.emails.get(user_id).map_or(user_id, String::as_str)
    }
}
