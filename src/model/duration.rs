//! Human durations such as `8h`, `90s`, `1h30m` or `2d`, used in configuration and flags.

use std::time::Duration;

/// Why a duration string could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DurationError {
    /// The string was empty.
    #[error("empty duration (write e.g. 30m, 8h or 1h30m)")]
    Empty,
    /// A bare number: seconds, minutes or hours would all be a guess.
    #[error("duration {0:?} has no unit: write {0}s, {0}m, {0}h or {0}d (e.g. 90m or 1h30m)")]
    NoUnit(String),
    /// A unit twice (`1h1h`) or a smaller one before a larger (`30m1h`).
    #[error("invalid duration {0:?}: each unit once, largest first (e.g. 1d2h, 1h30m, 2m30s)")]
    UnitOrder(String),
    /// A part of the string is not `<number><unit>`.
    #[error("invalid duration {0:?} (write e.g. 30m, 8h or 1h30m; units s, m, h, d)")]
    Invalid(String),
}

/// Parses `1h30m`, `45s`, `2d`: numbers each with a unit (`d`, `h`, `m`, `s`), each unit
/// once and largest first. A bare number is refused rather than guessed as seconds.
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DurationError::NoUnit(s.to_string()));
    }
    let invalid = || DurationError::Invalid(input.to_string());
    let mut total: u64 = 0;
    let mut number = String::new();
    // The last unit read, in seconds: each next one must be smaller.
    let mut last_unit = u64::MAX;
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(invalid()),
        };
        if unit >= last_unit {
            return Err(DurationError::UnitOrder(input.trim().to_string()));
        }
        last_unit = unit;
        let n: u64 = number.parse().map_err(|_| invalid())?;
        number.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(invalid)?;
    }
    if !number.is_empty() {
        return Err(invalid());
    }
    Ok(Duration::from_secs(total))
}

/// `input` unchanged when it parses: for flags checked as clap reads them (a malformed
/// one is a usage error) and sent to the broker as written.
pub fn checked(input: &str) -> Result<String, DurationError> {
    parse(input).map(|_| input.to_string())
}

/// Formats a duration the way [`parse`] reads it, largest units first (`1h30m`).
pub fn format(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, name) in [(86_400, 'd'), (3600, 'h'), (60, 'm'), (1, 's')] {
        if secs >= unit {
            out.push_str(&format!("{}{}", secs / unit, name));
            secs %= unit;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_compound_durations() {
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("8h"), Ok(Duration::from_secs(8 * 3600)));
        assert_eq!(parse("2d"), Ok(Duration::from_secs(2 * 86_400)));
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1d2h3m4s"), Ok(Duration::from_secs(93_784)));
    }

    #[test]
    fn a_bare_number_is_refused_not_guessed() {
        assert_eq!(parse("90"), Err(DurationError::NoUnit("90".into())));
        assert_eq!(parse(" 0 "), Err(DurationError::NoUnit("0".into())));
        let message = parse("90").unwrap_err().to_string();
        assert!(
            message.contains("90m") && message.contains("1h30m"),
            "{message}"
        );
    }

    #[test]
    fn each_unit_once_largest_first() {
        assert_eq!(parse("1h1h"), Err(DurationError::UnitOrder("1h1h".into())));
        assert_eq!(
            parse("30m1h"),
            Err(DurationError::UnitOrder("30m1h".into()))
        );
        assert_eq!(parse("1s1s"), Err(DurationError::UnitOrder("1s1s".into())));
        assert_eq!(parse("1h30"), Err(DurationError::Invalid("1h30".into())));
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        assert_eq!(parse(""), Err(DurationError::Empty));
        assert!(parse("h").is_err());
        assert!(parse("10x").is_err());
        assert!(parse("10m5").is_err());
        assert!(parse("99999999999999999999d").is_err());
    }

    proptest::proptest! {
        /// Any string: an answer, never a panic; any duration: formatted, read back the same.
        #[test]
        fn reading_never_panics_and_round_trips(input in ".{0,24}", secs in 0u64..10_000_000) {
            let _ = parse(&input);
            let d = Duration::from_secs(secs);
            proptest::prop_assert_eq!(parse(&format(d)), Ok(d));
        }
    }

    #[test]
    fn formats_back_to_what_it_reads() {
        for s in ["1h30m", "8h", "45s", "1d2h3m4s"] {
            assert_eq!(format(parse(s).unwrap()), s);
        }
    }
}
