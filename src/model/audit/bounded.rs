//! Bounds on what callers can make the audit log hold. Anything an event takes from a
//! request (an `alg` text, an email typed at the development login, a user agent, a
//! reason) is cut to [`MAX_TEXT`] bytes, on a character boundary, with a marker saying how
//! much was cut, so an unauthenticated caller cannot write megabytes into the log.

/// The longest text an audit event keeps from one field, in bytes.
pub const MAX_TEXT: usize = 512;

/// `text` cut to [`MAX_TEXT`] bytes, with `…[+N bytes]` when something was cut.
pub fn clip(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_string();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[+{} bytes]", &text[..end], text.len() - end)
}

/// Every string in `v`, keys included, cut by [`clip`].
pub fn clip_json(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) if s.len() > MAX_TEXT => *s = clip(s),
        Value::Array(items) => items.iter_mut().for_each(clip_json),
        Value::Object(map) if map.keys().any(|k| k.len() > MAX_TEXT) => {
            let old = std::mem::take(map);
            for (k, mut item) in old {
                clip_json(&mut item);
                map.insert(clip(&k), item);
            }
        }
        Value::Object(map) => map.values_mut().for_each(clip_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_character_boundary_with_a_marker() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(600); // 1,200 bytes
        let cut = clip(&long);
        assert!(cut.starts_with(&"é".repeat(256)));
        assert!(cut.ends_with("…[+688 bytes]"), "{}", &cut[cut.len() - 20..]);
        let mut v = serde_json::json!({"a": ["x".repeat(1 << 20)], "k".repeat(600): 1});
        clip_json(&mut v);
        assert!(v.to_string().len() < 2 * MAX_TEXT + 100);
    }
}
