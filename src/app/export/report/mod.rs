//! `report.html`: one self-contained page for a human reader. No scripts, no external
//! assets (a Content-Security-Policy forbids them); charts are inline SVG ([`charts`]).
//! [`render`] writes it section by section: the top ([`overview`]), then the criteria
//! ([`criteria`]), from [`ReportInput`] with the building blocks of [`blocks`].

mod blocks;
mod charts;
mod criteria;
mod input;
mod overview;

pub use self::charts::{bar_chart, Chart};
pub use self::input::ReportInput;

/// The whole page, section by section.
pub fn render(input: &ReportInput) -> String {
    let t = input.tally;
    let mut o = String::with_capacity(64 * 1024);
    overview::heading(&mut o, input);
    overview::summary(&mut o, input);
    overview::findings(&mut o, input);
    criteria::restricted(&mut o, input);
    criteria::authorized(&mut o, input);
    criteria::removed(&mut o, input);
    criteria::anomalies(&mut o, input);
    criteria::policy_changes(&mut o, input);
    o.push_str("<h2>All events by type</h2>");
    blocks::table(&mut o, &["type", "count"], blocks::pairs(&t.by_type));
    o.push_str("<p class=\"sub\">The machine-readable files of this bundle hold every row behind these figures; manifest.json signs them.</p></body></html>\n");
    o
}
