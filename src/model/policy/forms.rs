//! What a role expects of a reason or a ticket, in words for people: the operator's own
//! description (`reason_hint`, `ticket_hint`) when the catalogue gives one, else words
//! derived from the pattern for the common shapes, else the pattern itself. A person
//! reading `latchkey resources` or a refusal should not have to read a regular expression.

use regex::Regex;

use crate::model::policy::Role;

impl Role {
    /// The reason's expected form in words (`at least 10 characters`), if it has one.
    pub fn reason_form(&self) -> Option<String> {
        form(self.reason_hint.as_deref(), self.reason_pattern.as_ref())
    }

    /// The ticket's expected form in words (`like INC-123`), if it has one.
    pub fn ticket_form(&self) -> Option<String> {
        form(self.ticket_hint.as_deref(), self.ticket_pattern.as_ref())
    }
}

/// The operator's description when given, else words for the pattern, else none
/// (anything goes).
pub fn form(hint: Option<&str>, pattern: Option<&Regex>) -> Option<String> {
    match (hint, pattern) {
        (Some(h), _) => Some(h.to_string()),
        (None, Some(p)) => Some(describe(unanchored(p))),
        (None, None) => None,
    }
}

/// The pattern as the operator wrote it, without the anchors the loader added.
pub fn unanchored(p: &Regex) -> &str {
    let s = p.as_str();
    s.strip_prefix("^(?:")
        .and_then(|s| s.strip_suffix(")$"))
        .unwrap_or(s)
}

/// Words for a pattern: `.{10,}` is "at least 10 characters", `(INC|CHG)-[0-9]+` is
/// "like INC-123 or CHG-123"; any other is "matching /pattern/".
pub fn describe(pattern: &str) -> String {
    length(pattern)
        .or_else(|| prefixed_number(pattern))
        .unwrap_or_else(|| format!("matching /{pattern}/"))
}

/// `.+`, `.{n}`, `.{n,}`, `.{n,m}`: a length in characters.
fn length(pattern: &str) -> Option<String> {
    let chars = |n: u64| format!("{n} character{}", if n == 1 { "" } else { "s" });
    if pattern == ".+" {
        return Some("at least 1 character".into());
    }
    let inner = pattern.strip_prefix(".{")?.strip_suffix('}')?;
    let (lo, hi) = match inner.split_once(',') {
        Some((lo, hi)) => (lo, Some(hi)),
        None => (inner, None),
    };
    let lo: u64 = lo.parse().ok()?;
    Some(match hi {
        None => format!("exactly {}", chars(lo)),
        Some("") => format!("at least {}", chars(lo)),
        Some(hi) => {
            let hi: u64 = hi.parse().ok()?;
            if lo == 0 {
                format!("at most {}", chars(hi))
            } else {
                format!("{lo} to {}", chars(hi))
            }
        }
    })
}

/// `INC-[0-9]+`, `(INC|CHG)-\d+`, `JIRA-[0-9]{4}`: examples of each prefix with a number.
fn prefixed_number(pattern: &str) -> Option<String> {
    // Built once per call: a catalogue has a handful of patterns, read when listed.
    let shape = Regex::new(
        r"^(?:\((?:\?:)?(?P<alts>[A-Za-z]+(?:\|[A-Za-z]+)*)\)|(?P<one>[A-Za-z]+))(?P<sep>[-_/:#]?)(?:\[0-9\]|\\d)(?P<count>\+|\{[0-9]+(?:,[0-9]*)?\})$",
    )
    .ok()?;
    let c = shape.captures(pattern)?;
    let prefixes: Vec<&str> = match (c.name("alts"), c.name("one")) {
        (Some(a), _) => a.as_str().split('|').collect(),
        (None, Some(o)) => vec![o.as_str()],
        (None, None) => return None,
    };
    let digits = example_digits(c.name("count")?.as_str())?;
    let sep = c.name("sep").map(|m| m.as_str()).unwrap_or("");
    let examples: Vec<String> = prefixes
        .iter()
        .map(|p| format!("{p}{sep}{digits}"))
        .collect();
    Some(format!("like {}", or_list(&examples)))
}

/// Digits an example number has for a count (`+`: three; `{4}`: four; `{2,}`: three).
fn example_digits(count: &str) -> Option<String> {
    let n: usize = match count {
        "+" => 3,
        _ => {
            let inner = count.strip_prefix('{')?.strip_suffix('}')?;
            match inner.split_once(',') {
                None => inner.parse().ok()?,
                Some((lo, "")) => lo.parse::<usize>().ok()?.max(3),
                Some((lo, hi)) => {
                    let (lo, hi): (usize, usize) = (lo.parse().ok()?, hi.parse().ok()?);
                    lo.max(3).min(hi).max(1)
                }
            }
        }
    };
    // Past a dozen digits an example stops helping; the fallback shows the pattern.
    if n == 0 || n > 12 {
        return None;
    }
    Some("1234567890".chars().cycle().take(n).collect())
}

/// `a`, `a or b`, `a, b or c`.
fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_patterns_read_as_words() {
        assert_eq!(describe(".{10,}"), "at least 10 characters");
        assert_eq!(describe(".{1,}"), "at least 1 character");
        assert_eq!(describe(".+"), "at least 1 character");
        assert_eq!(describe(".{5,80}"), "5 to 80 characters");
        assert_eq!(describe(".{0,80}"), "at most 80 characters");
        assert_eq!(describe(".{8}"), "exactly 8 characters");
        assert_eq!(describe("(INC|CHG)-[0-9]+"), "like INC-123 or CHG-123");
        assert_eq!(describe("INC-[0-9]+"), "like INC-123");
        assert_eq!(describe(r"(?:A|B|C)_\d+"), "like A_123, B_123 or C_123");
        assert_eq!(describe("JIRA-[0-9]{4}"), "like JIRA-1234");
        assert_eq!(describe("OPS[0-9]{2,}"), "like OPS123");
    }

    #[test]
    fn any_other_pattern_is_shown_as_written() {
        assert_eq!(describe("[a-z]+@corp"), "matching /[a-z]+@corp/");
        assert_eq!(describe("INC-[0-9]+|none"), "matching /INC-[0-9]+|none/");
        assert_eq!(describe(".{x,}"), "matching /.{x,}/");
        assert_eq!(describe("X-[0-9]{40}"), "matching /X-[0-9]{40}/");
    }

    #[test]
    fn the_operators_words_win_over_the_pattern() {
        let p = Regex::new("^(?:(INC|CHG)-[0-9]+)$").unwrap();
        assert_eq!(unanchored(&p), "(INC|CHG)-[0-9]+");
        assert_eq!(form(None, Some(&p)).unwrap(), "like INC-123 or CHG-123");
        assert_eq!(
            form(Some("an incident in PagerDuty"), Some(&p)).unwrap(),
            "an incident in PagerDuty"
        );
        assert_eq!(form(None, None), None);
    }
}
