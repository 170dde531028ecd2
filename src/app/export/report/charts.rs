//! The report's charts: inline SVG bars with a title and labelled axes (no scripts, no
//! external assets).

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::NaiveDate;

use crate::app::export::stats::Period;
use crate::model::html::escape as esc;

/// What a chart shows: its title and what each axis counts.
pub struct Chart<'a> {
    /// Shown above the bars.
    pub title: &'a str,
    /// Under the horizontal axis (what one bar is).
    pub x_axis: &'a str,
    /// Beside the vertical axis (what a bar's height counts).
    pub y_axis: &'a str,
}

/// A bar chart as inline SVG, with its title, both axes, the vertical axis's scale
/// (0, half, max) and what each axis counts.
pub fn bar_chart(c: &Chart<'_>, bars: &[(String, u64)]) -> String {
    // Plot area: left of it the scale, above it the title, below it the labels.
    let (w, left, top, plot_h, right) = (1000.0_f64, 70.0_f64, 34.0_f64, 200.0_f64, 20.0_f64);
    let base = top + plot_h;
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let bw = (w - left - right) / bars.len().max(1) as f64;
    let mut svg = format!(
        "<figure><svg role=\"img\" aria-label=\"{t}\" viewBox=\"0 0 {w} {}\" width=\"100%\"><title>{t}</title>\
         <text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-weight=\"600\">{t}</text>",
        base + 56.0,
        w / 2.0,
        t = esc(c.title),
    );
    for tick in [0, max / 2, max] {
        let y = base - (tick as f64 / max as f64) * plot_h;
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{tick}</text>\
             <line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#e8ebf0\"/>",
            left - 6.0,
            y + 4.0,
            w - right
        );
    }
    let label_every = (bars.len() / 12).max(1);
    for (i, (label, v)) in bars.iter().enumerate() {
        let bh = (*v as f64 / max as f64) * plot_h;
        let x = left + i as f64 * bw;
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#3b6fd8\"><title>{}: {v}</title></rect>",
            base - bh,
            (bw - 1.0).max(1.0),
            esc(label)
        );
        if i % label_every == 0 {
            let _ = write!(
                svg,
                "<text x=\"{x:.1}\" y=\"{}\">{}</text>",
                base + 16.0,
                esc(label)
            );
        }
    }
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#8a93a6\"/>\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{base}\" stroke=\"#8a93a6\"/>\
         <text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
         <text class=\"axis\" x=\"14\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {})\">{}</text></svg></figure>",
        w - right,
        left + (w - left - right) / 2.0,
        base + 44.0,
        esc(c.x_axis),
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        esc(c.y_axis)
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
