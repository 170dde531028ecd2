//! Verifying that a request comes from Slack: `X-Slack-Signature` is `v0=` and the hex
//! HMAC-SHA256, keyed with the app's signing secret, of `v0:TIMESTAMP:RAW_BODY`; the
//! timestamp (`X-Slack-Request-Timestamp`) must be within five minutes of now. Checked on
//! the raw bytes before anything is parsed; the comparison is constant time (ring).

use ring::hmac;

/// How far the request timestamp may be from now.
pub const MAX_AGE_SECS: i64 = 300;

/// Why a request was not accepted as Slack's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// A header is missing or unreadable.
    #[error("the X-Slack-Signature or X-Slack-Request-Timestamp header is missing")]
    Missing,
    /// The timestamp is too far from now (a replay, or a clock far off).
    #[error("the request timestamp is more than five minutes from now")]
    Stale,
    /// The signature does not match.
    #[error("the request signature does not match")]
    Mismatch,
}

/// The signature Slack would send for `body` at `timestamp` (tests and the fake use it).
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, &base_string(timestamp, body));
    format!("v0={}", hex::encode(tag))
}

fn base_string(timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut base = Vec::with_capacity(body.len() + timestamp.len() + 4);
    base.extend_from_slice(b"v0:");
    base.extend_from_slice(timestamp.as_bytes());
    base.push(b':');
    base.extend_from_slice(body);
    base
}

/// Accepts the request only if `signature` is Slack's for `body` at `timestamp`, and
/// `timestamp` is within [`MAX_AGE_SECS`] of `now` (Unix seconds).
pub fn verify(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SigningError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SigningError::Missing);
    };
    let ts: i64 = timestamp.trim().parse().map_err(|_| SigningError::Stale)?;
    // `abs_diff` cannot overflow, whatever extreme number the header holds.
    if now.abs_diff(ts) > MAX_AGE_SECS.unsigned_abs() {
        return Err(SigningError::Stale);
    }
    let tag = signature
        .strip_prefix("v0=")
        .and_then(|hex| hex::decode(hex).ok())
        .ok_or(SigningError::Mismatch)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::verify(&key, &base_string(timestamp, body), &tag).map_err(|_| SigningError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's own worked example (api.slack.com, "Verifying requests from Slack").
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const EXPECTED: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn slacks_documented_example_signs_and_verifies() {
        assert_eq!(sign(SECRET, TS, BODY.as_bytes()), EXPECTED);
        let now = 1_531_420_618 + 10;
        assert_eq!(
            verify(SECRET, Some(TS), Some(EXPECTED), BODY.as_bytes(), now),
            Ok(())
        );
    }

    #[test]
    fn a_wrong_secret_an_altered_body_or_a_bad_encoding_is_a_mismatch() {
        let now = 1_531_420_618;
        let altered = BODY.replace("roadrunner", "wileecoyote");
        for (secret, sig, body) in [
            ("another secret", EXPECTED, BODY),
            (SECRET, EXPECTED, altered.as_str()),
            (SECRET, "v0=zz", BODY),
            (SECRET, "v0=a2114d", BODY),
            (SECRET, &EXPECTED[3..], BODY),
            (
                SECRET,
                "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
                BODY,
            ),
        ] {
            assert_eq!(
                verify(secret, Some(TS), Some(sig), body.as_bytes(), now),
                Err(SigningError::Mismatch),
                "{secret} {sig}"
            );
        }
    }

    #[test]
    fn timestamps_more_than_five_minutes_away_or_unreadable_are_stale() {
        let ts: i64 = 1_531_420_618;
        for now in [ts + 301, ts - 301, ts + 86_400] {
            assert_eq!(
                verify(SECRET, Some(TS), Some(EXPECTED), BODY.as_bytes(), now),
                Err(SigningError::Stale)
            );
        }
        assert_eq!(
            verify(SECRET, Some(TS), Some(EXPECTED), BODY.as_bytes(), ts + 300),
            Ok(())
        );
        assert_eq!(
            verify(SECRET, Some("soon"), Some(EXPECTED), BODY.as_bytes(), ts),
            Err(SigningError::Stale)
        );
    }

    #[test]
    fn extreme_or_overflowing_timestamps_are_stale_not_a_panic() {
        let min = i64::MIN.to_string();
        let max = i64::MAX.to_string();
        for ts in [
            min.as_str(),
            max.as_str(),
            "-9223372036854775809",
            "9223372036854775808",
            "99999999999999999999999999",
            "+1531420618000",
        ] {
            for now in [1_531_420_618, 0, -1_531_420_618] {
                assert_eq!(
                    verify(SECRET, Some(ts), Some(EXPECTED), BODY.as_bytes(), now),
                    Err(SigningError::Stale),
                    "{ts} at {now}"
                );
            }
        }
        // The widest difference there is, both ways.
        for (ts, now) in [(&max, i64::MIN), (&min, i64::MAX)] {
            assert_eq!(
                verify(SECRET, Some(ts), Some(EXPECTED), BODY.as_bytes(), now),
                Err(SigningError::Stale)
            );
        }
    }

    #[test]
    fn a_missing_header_is_refused() {
        let now = 1_531_420_618;
        assert_eq!(
            verify(SECRET, None, Some(EXPECTED), BODY.as_bytes(), now),
            Err(SigningError::Missing)
        );
        assert_eq!(
            verify(SECRET, Some(TS), None, BODY.as_bytes(), now),
            Err(SigningError::Missing)
        );
    }
}
