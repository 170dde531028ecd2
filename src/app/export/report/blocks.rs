//! The page's building blocks: its style sheet, figure cards and tables.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::model::html::escape as esc;

/// The page's only style sheet, inline.
pub(super) const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1d2433;padding:0 1rem}\
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:2px solid #dfe3ea;padding-bottom:.3rem}\
.sub{color:#5b6478}.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}\
.card{border:1px solid #dfe3ea;border-radius:8px;padding:.6rem .9rem;min-width:9rem}\
.card b{display:block;font-size:1.4rem}table{border-collapse:collapse;width:100%;margin:.6rem 0}\
th,td{border-bottom:1px solid #e8ebf0;text-align:left;padding:.3rem .5rem;vertical-align:top}\
th{background:#f5f7fa}.ok{color:#0a7a3b}.bad{color:#b42318;font-weight:600}\
.crit{font-weight:600;color:#34405a}svg text{font:11px system-ui,sans-serif;fill:#5b6478}";

/// A figure with its label.
pub(super) fn card(out: &mut String, label: &str, value: impl std::fmt::Display) {
    let _ = write!(
        out,
        "<div class=\"card\"><b>{value}</b>{}</div>",
        esc(label)
    );
}

/// A table with `head` and `rows`, escaped; `none` when there are no rows.
pub(super) fn table(out: &mut String, head: &[&str], rows: Vec<Vec<String>>) {
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

/// A map as (key, count) rows.
pub(super) fn pairs<K: std::fmt::Display>(m: &BTreeMap<K, u64>) -> Vec<Vec<String>> {
    m.iter()
        .map(|(k, v)| vec![k.to_string(), v.to_string()])
        .collect()
}
