//! The report's charts: inline SVG bars (no scripts, no external assets).

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::NaiveDate;

use crate::app::export::stats::Period;
use crate::model::html::escape as esc;

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

/// One bar per day of `period` (at most 1000): the grants activated that day.
pub(super) fn days(
    period: &Period,
    grants_per_day: &BTreeMap<NaiveDate, u64>,
) -> Vec<(String, u64)> {
    let mut bars = Vec::new();
    let mut day = period.from.date_naive();
    let last = (period.to - chrono::Duration::milliseconds(1)).date_naive();
    while day <= last && bars.len() < 1000 {
        let v = grants_per_day.get(&day).copied().unwrap_or(0);
        bars.push((day.format("%m-%d").to_string(), v));
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    bars
}

/// Times to approval in six buckets, from under five minutes to over a day.
pub(super) fn approval_buckets(minutes: &[i64]) -> Vec<(String, u64)> {
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
