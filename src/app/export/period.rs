//! Reading an export period from the command line or the API: days (`2026-07-01`, the
//! whole day in UTC) or instants (RFC 3339); and clipping it to the time of export.

use chrono::{DateTime, NaiveDate, Utc};

use crate::app::export::stats::Period;

fn day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// `s` unchanged when it is a day or an RFC 3339 instant: for `--from` and `--to`, checked
/// as clap reads them so a malformed one is a usage error.
pub fn bound(s: &str) -> Result<String, String> {
    match day(s).is_some() || instant(s).is_some() {
        true => Ok(s.to_string()),
        false => Err(format!(
            "{s:?} is neither a day (2026-07-01) nor an RFC 3339 time"
        )),
    }
}

/// `[from, to)`: a day `from` starts at its midnight, a day `to` ends at the next one.
pub fn parse(from: &str, to: &str) -> Result<Period, String> {
    let start = day(from)
        .map(midnight)
        .or_else(|| instant(from))
        .ok_or_else(|| {
            format!("--from {from:?} is neither a day (2026-07-01) nor an RFC 3339 time")
        })?;
    let end = match day(to) {
        Some(d) => d
            .succ_opt()
            .map(midnight)
            .ok_or("--to is too far in the future")?,
        None => instant(to).ok_or_else(|| {
            format!("--to {to:?} is neither a day (2026-09-30) nor an RFC 3339 time")
        })?,
    };
    if end <= start {
        return Err(format!(
            "the period must end after it starts ({from} .. {to})"
        ));
    }
    Ok(Period {
        from: start,
        to: end,
    })
}

/// `period` ending no later than `now`: what has not happened yet cannot be evidence, and
/// a grant "held at the end" of a period that ends tomorrow is a guess. `None` when the
/// period starts at or after `now`.
pub fn clip(period: Period, now: DateTime<Utc>) -> Option<Period> {
    (period.from < now).then(|| Period {
        from: period.from,
        to: period.to.min(now),
    })
}

#[cfg(test)]
mod tests {
    use super::{clip, parse};

    #[test]
    fn a_period_is_clipped_to_now_and_one_that_has_not_started_is_refused() {
        let p = parse("2026-07-01", "2026-07-31").unwrap();
        let mid = parse("2026-07-10T12:00:00Z", "2026-07-11T00:00:00Z")
            .unwrap()
            .from;
        assert_eq!(clip(p, mid).unwrap().to, mid);
        let after = parse("2026-09-01", "2026-09-02").unwrap().from;
        assert_eq!(clip(p, after), Some(p));
        assert_eq!(clip(p, p.from), None);
    }

    #[test]
    fn days_cover_whole_days_and_instants_are_exact() {
        let p = parse("2026-07-01", "2026-09-30").unwrap();
        assert_eq!(p.from.to_rfc3339(), "2026-07-01T00:00:00+00:00");
        assert_eq!(p.to.to_rfc3339(), "2026-10-01T00:00:00+00:00");
        let p = parse("2026-07-01T12:00:00+02:00", "2026-07-01T13:00:00Z").unwrap();
        assert_eq!(p.from.to_rfc3339(), "2026-07-01T10:00:00+00:00");
        assert!(parse("2026-09-30", "2026-07-01").is_err());
        assert!(parse("yesterday", "2026-07-01").is_err());
    }
}
