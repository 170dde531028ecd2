//! The canonical JSON the audit hash chain and signatures are computed over.
//!
//! It is RFC 8785 (JSON Canonicalization Scheme) for the JSON the audit log holds:
//! objects with their members sorted by key (UTF-16 code units, as RFC 8785 says; every
//! key the broker writes is ASCII), no whitespace, strings escaped only where JSON must
//! (`"`, `\`, and control characters, as `\b \f \n \r \t` or `\u00xx` in lower case),
//! integers in decimal. Numbers with a fraction are refused: the broker never writes one
//! in an audit event, so an outside verifier needs no float formatting rules. Python's
//! `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` produces
//! the same bytes for such values.

use serde_json::Value;

/// A value that has no canonical form here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit details may not hold non-integer numbers ({0})")]
pub struct NotCanonical(pub String);

/// Appends the canonical form of `value` to `out`.
pub fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), NotCanonical> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                write_int(i, out);
            } else if let Some(u) = n.as_u64() {
                use std::io::Write;
                let _ = write!(out, "{u}");
            } else {
                return Err(NotCanonical(n.to_string()));
            }
        }
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            // serde_json's map is usually ordered already; sort only when it is not.
            if members
                .windows(2)
                .any(|w| utf16_cmp(w[0].0, w[1].0).is_gt())
            {
                members.sort_by(|a, b| utf16_cmp(a.0, b.0));
            }
            out.push(b'{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write_value(v, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// The canonical form of `value` as a string.
pub fn to_string(value: &Value) -> Result<String, NotCanonical> {
    let mut out = Vec::with_capacity(128);
    write_value(value, &mut out)?;
    // Only valid UTF-8 is ever written: string contents are copied whole.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Appends a decimal integer.
pub fn write_int(i: i64, out: &mut Vec<u8>) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{i}");
}

/// Appends a JSON string, escaped as RFC 8785 requires.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                let mut digits = [0u8; 2];
                // One byte always fills two digits: encoding cannot fail.
                let _ = hex::encode_to_slice([b], &mut digits);
                out.extend_from_slice(b"\\u00");
                out.extend_from_slice(&digits);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Orders keys by their UTF-16 code units, as RFC 8785 sorts members.
fn utf16_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_are_sorted_and_nothing_is_spaced() {
        let v = json!({"b": [1, true, null], "a": {"z": "x", "y": -3}, "\u{e9}": 0});
        assert_eq!(
            to_string(&v).unwrap(),
            r#"{"a":{"y":-3,"z":"x"},"b":[1,true,null],"é":0}"#
        );
    }

    #[test]
    fn strings_escape_only_what_json_requires() {
        let v = json!("q\"b\\n\n\t\u{1}\u{7f}é\u{2028}/");
        assert_eq!(
            to_string(&v).unwrap(),
            "\"q\\\"b\\\\n\\n\\t\\u0001\u{7f}é\u{2028}/\""
        );
    }

    #[test]
    fn keys_sort_by_utf16_code_units_not_utf8_bytes() {
        // U+FF61 sorts before U+1F600 in UTF-8 bytes order too, but U+E000 vs U+10000:
        // UTF-16 puts the surrogate pair (0xD800..) before 0xE000.
        let v = json!({"\u{e000}": 1, "\u{10000}": 2});
        assert_eq!(to_string(&v).unwrap(), "{\"\u{10000}\":2,\"\u{e000}\":1}");
    }

    #[test]
    fn fractions_are_refused() {
        assert!(to_string(&json!({"x": 1.5})).is_err());
        assert_eq!(to_string(&json!(u64::MAX)).unwrap(), u64::MAX.to_string());
    }
}
