//! How people name a request: its whole id (a UUID, lowercase hex with dashes), or a
//! unique prefix of at least [`MIN_PREFIX`] hex digits, typed with or without the dashes
//! (`3f2a9c`, `3f2a9c1b-7e`, `3f2a9c1b7e` name the same requests). Lists print the short
//! form ([`short_ids`]): the first eight hex digits, longer only where two listed ids
//! share them.

/// The fewest hex digits a prefix must have: fewer would match too much to be useful.
pub const MIN_PREFIX: usize = 6;

/// The hex digits of the short form lists print.
pub const SHORT: usize = 8;

/// What a typed request id is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdQuery {
    /// A whole id (or anything that is not hex): looked up exactly, as before prefixes.
    Exact(String),
    /// A prefix: its hex digits, lowercase, without dashes.
    Prefix(String),
    /// Hex, but fewer than [`MIN_PREFIX`] digits.
    TooShort,
}

/// Reads a typed id. Uppercase hex is accepted (lowercased); dashes anywhere are ignored,
/// so a prefix copied across a dash or typed without one names the same requests.
pub fn parse(typed: &str) -> IdQuery {
    let typed = typed.trim();
    let hexish = !typed.is_empty() && typed.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if !hexish {
        return IdQuery::Exact(typed.to_string());
    }
    let digits: String = typed
        .chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    match digits.len() {
        n if n >= 32 => IdQuery::Exact(typed.to_ascii_lowercase()),
        n if n < MIN_PREFIX => IdQuery::TooShort,
        _ => IdQuery::Prefix(digits),
    }
}

/// Each id's short form: its first [`SHORT`] hex digits (dashes kept as in the id), or
/// more where another id in `ids` starts the same, so every short form here is unique
/// among them and each still resolves as a prefix.
pub fn short_ids(ids: &[&str]) -> Vec<String> {
    ids.iter()
        .map(|id| {
            let shared = ids
                .iter()
                .filter(|other| *other != id)
                .map(|other| common_prefix(id, other))
                .max()
                .unwrap_or(0);
            let len = (shared + 1).max(SHORT).min(id.len());
            id[..len].to_string()
        })
        .collect()
}

/// How many leading bytes two ids share.
fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_read_with_or_without_dashes_and_in_either_case() {
        assert_eq!(parse("3f2a9c"), IdQuery::Prefix("3f2a9c".into()));
        assert_eq!(parse("3F2A9C1B-7e"), IdQuery::Prefix("3f2a9c1b7e".into()));
        assert_eq!(parse("3f2a9c1b7e"), IdQuery::Prefix("3f2a9c1b7e".into()));
        assert_eq!(parse("3f2a9"), IdQuery::TooShort);
        assert_eq!(parse("--3f--"), IdQuery::TooShort);
    }

    #[test]
    fn a_whole_id_or_something_else_is_looked_up_exactly() {
        let id = "3f2a9c1b-7e4d-4c2a-9b1e-0123456789ab";
        assert_eq!(parse(id), IdQuery::Exact(id.into()));
        assert_eq!(parse("nope"), IdQuery::Exact("nope".into()));
        // A LIKE wildcard never reaches a prefix search.
        assert_eq!(parse("3f2a9c%"), IdQuery::Exact("3f2a9c%".into()));
    }

    #[test]
    fn short_forms_are_eight_digits_unless_two_listed_ids_share_them() {
        let a = "3f2a9c1b-7e4d-4c2a-9b1e-0123456789ab";
        let b = "3f2a9c1b-7f00-4c2a-9b1e-0123456789ab";
        let c = "aa000000-0000-4000-8000-000000000000";
        assert_eq!(
            short_ids(&[a, b, c]),
            vec!["3f2a9c1b-7e", "3f2a9c1b-7f", "aa000000"]
        );
        assert_eq!(short_ids(&[a]), vec!["3f2a9c1b"]);
    }
}
