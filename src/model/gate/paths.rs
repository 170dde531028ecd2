//! Paths that could climb out of the part of an upstream a grant opens. The gate passes
//! the caller's path on verbatim, but the upstream, or a proxy, framework or file server
//! behind it, may decode and normalise it first: percent-decoding (once, or again),
//! `\` read as `/` (Windows, IIS, some Java servers), `;params` cut from a segment
//! (Tomcat, Jetty, Spring), trailing dots and spaces trimmed (Windows), overlong UTF-8
//! and full-width look-alikes folded (old Tomcat, IIS "best fit"), and a NUL ending a
//! C string. A path is refused when any of those readings contains a `.` or `..`
//! segment, or a NUL or other control byte, or when its own escapes are malformed.

/// How many layers of percent-encoding are peeled before giving up (`%25252e` is three);
/// a path still encoded after that is refused.
const DECODE_ROUNDS: usize = 4;

/// Why a path is refused (for the error message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Climb {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// A segment that reads as `.` or `..` once decoded or normalised.
    DotSegment,
    /// A NUL or another control character once decoded.
    Control,
    /// Bytes that are not UTF-8 once decoded (overlong forms of `.` and `/`).
    NotUtf8,
    /// Still percent-encoded after [`DECODE_ROUNDS`] decodings.
    TooDeep,
}

impl Climb {
    /// For people.
    pub fn message(self) -> &'static str {
        match self {
            Climb::BadEscape => "the path has a malformed percent escape",
            Climb::DotSegment => {
                "the path has a segment that reads as . or .. once decoded (%2e, %2f, \\, ;, double encoding)"
            }
            Climb::Control => "the path has a NUL or control character once decoded",
            Climb::NotUtf8 => "the path is not UTF-8 once decoded",
            Climb::TooDeep => "the path is percent-encoded too many times over",
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One round of percent-decoding. With `strict`, a `%` without two hex digits is an
/// error; without, it stays a literal `%` (a decoded `%25` followed by text).
fn decode(s: &[u8], strict: bool) -> Result<Vec<u8>, Climb> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let escaped = (s[i] == b'%')
            .then(|| Some((hex(*s.get(i + 1)?)?, hex(*s.get(i + 2)?)?)))
            .flatten();
        match (s[i], escaped) {
            (b'%', Some((hi, lo))) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            (b'%', None) if strict => return Err(Climb::BadEscape),
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Look-alikes some servers fold into `.`, `/` or `\` (full-width and other forms).
fn fold(c: char) -> char {
    match c {
        '\u{FF0E}' | '\u{2024}' | '\u{FE52}' => '.',
        '\u{FF0F}' | '\u{2215}' | '\u{2044}' => '/',
        '\u{FF3C}' | '\u{FE68}' | '\u{2216}' => '\\',
        c => c,
    }
}

/// Whether one decoded reading of the path has a dot segment or a control character.
fn check_reading(text: &str) -> Result<(), Climb> {
    if text.chars().any(char::is_control) {
        return Err(Climb::Control);
    }
    // Look-alikes are all outside ASCII: a plain path is read as it stands, unallocated.
    let dotty = if text.is_ascii() {
        has_dot_segment(text)
    } else {
        has_dot_segment(&text.chars().map(fold).collect::<String>())
    };
    if dotty {
        return Err(Climb::DotSegment);
    }
    Ok(())
}

/// Whether a segment (split at `/` or `\`) is only dots, or dots and spaces.
fn has_dot_segment(text: &str) -> bool {
    text.split(['/', '\\']).any(|seg| {
        // `;params` are cut by Java servlet containers; trailing dots and spaces by Windows.
        let seg = seg.split(';').next().unwrap_or(seg);
        seg.contains('.') && seg.trim_matches(|c| c == '.' || c == ' ').is_empty()
    })
}

/// Checks the raw path (after `/gate/{resource}`) as every decoding would read it. A
/// path without escapes (the common case, on every proxied request) allocates nothing.
pub fn check(raw: &str) -> Result<(), Climb> {
    check_reading(raw)?;
    if !raw.contains('%') {
        return Ok(());
    }
    // The first decoding is strict: a `%` the caller wrote must be a whole escape.
    let mut reading = decode(raw.as_bytes(), true)?;
    for round in 1..=DECODE_ROUNDS {
        let text = std::str::from_utf8(&reading).map_err(|_| Climb::NotUtf8)?;
        check_reading(text)?;
        if !reading.contains(&b'%') {
            return Ok(());
        }
        if round == DECODE_ROUNDS {
            break;
        }
        let next = decode(&reading, false)?;
        if next == reading {
            return Ok(());
        }
        reading = next;
    }
    Err(Climb::TooDeep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_parent_segment_is_refused() {
        for (raw, why) in [
            ("/../admin", Climb::DotSegment),
            ("/a/..;/admin", Climb::DotSegment),
            ("/a/..;jsessionid=1/admin", Climb::DotSegment),
            ("/..%2Fadmin", Climb::DotSegment),
            ("/..%2fadmin", Climb::DotSegment),
            ("/%2e%2e%2fadmin", Climb::DotSegment),
            ("/%2E%2E/admin", Climb::DotSegment),
            ("/%2e%2e/admin", Climb::DotSegment),
            ("/.%2e/admin", Climb::DotSegment),
            ("/%2e./admin", Climb::DotSegment),
            ("/..\\admin", Climb::DotSegment),
            ("/a\\..\\admin", Climb::DotSegment),
            ("/..%5cadmin", Climb::DotSegment),
            ("/%252e%252e%252fadmin", Climb::DotSegment),
            ("/%25252e%25252e/admin", Climb::DotSegment),
            ("/..%252fadmin", Climb::DotSegment),
            ("/./admin", Climb::DotSegment),
            ("/a/.", Climb::DotSegment),
            ("/a/..", Climb::DotSegment),
            ("/.. /admin", Climb::DotSegment),
            ("/..%20/admin", Climb::DotSegment),
            ("/.../admin", Climb::DotSegment),
            ("/%EF%BC%8E%EF%BC%8E/admin", Climb::DotSegment),
            ("/..%EF%BC%8Fadmin", Climb::DotSegment),
            ("/a%00.html", Climb::Control),
            ("/a%2500.html", Climb::Control),
            ("/a%0d%0aSet-Cookie:x", Climb::Control),
            ("/%c0%ae%c0%ae/admin", Climb::NotUtf8),
            ("/%c0%af", Climb::NotUtf8),
            ("/a%zz", Climb::BadEscape),
            ("/a%", Climb::BadEscape),
            ("/%u002e%u002e/admin", Climb::BadEscape),
            ("/%252525252e", Climb::TooDeep),
        ] {
            assert_eq!(check(raw), Err(why), "{raw}");
        }
    }

    #[test]
    fn ordinary_paths_pass_even_with_dots_escapes_and_a_literal_percent() {
        for raw in [
            "/",
            "/events",
            "/api/things",
            "/file.txt",
            "/a.b/c..d/..e/f..",
            "/v1/projects/group%2Fproject",
            "/search/100%25",
            "/%E2%82%AC/price",
            "/a;b=c/d",
            "/.well-known/x",
        ] {
            assert_eq!(check(raw), Ok(()), "{raw}");
        }
    }
}
