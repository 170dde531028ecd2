//! `[limits]`: what unauthenticated callers may make the broker do and store.

use serde::Deserialize;

use crate::config::error::{invalid, ConfigError};

/// `[limits]` settings.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsLayer {
    /// Unauthenticated requests one address may make at once (the bucket's size).
    pub anonymous_burst: Option<u32>,
    /// Unauthenticated requests one address may make per minute, sustained.
    pub anonymous_per_minute: Option<u32>,
    /// Browser logins begun and not finished that are stored at most, all callers together.
    pub pending_logins: Option<u32>,
}

impl LimitsLayer {
    /// Reads `LATCHKEY_LIMITS_*`.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let number = |key: &'static str| {
            get(key)
                .map(|v| {
                    v.trim()
                        .parse::<u32>()
                        .map_err(|_| invalid(key, format!("{v:?} is not a whole number")))
                })
                .transpose()
        };
        Ok(Self {
            anonymous_burst: number("LATCHKEY_LIMITS_ANONYMOUS_BURST")?,
            anonymous_per_minute: number("LATCHKEY_LIMITS_ANONYMOUS_PER_MINUTE")?,
            pending_logins: number("LATCHKEY_LIMITS_PENDING_LOGINS")?,
        })
    }

    /// This layer with every unset setting taken from `below`.
    pub fn over(self, below: Self) -> Self {
        Self {
            anonymous_burst: self.anonymous_burst.or(below.anonymous_burst),
            anonymous_per_minute: self.anonymous_per_minute.or(below.anonymous_per_minute),
            pending_logins: self.pending_logins.or(below.pending_logins),
        }
    }

    /// Fills defaults and validates.
    pub fn validate(self) -> Result<LimitsConfig, ConfigError> {
        let d = LimitsConfig::default();
        let c = LimitsConfig {
            anonymous_burst: self.anonymous_burst.unwrap_or(d.anonymous_burst),
            anonymous_per_minute: self.anonymous_per_minute.unwrap_or(d.anonymous_per_minute),
            pending_logins: self.pending_logins.unwrap_or(d.pending_logins),
        };
        for (name, value) in [
            (
                "limits.anonymous_burst (LATCHKEY_LIMITS_ANONYMOUS_BURST)",
                c.anonymous_burst,
            ),
            (
                "limits.anonymous_per_minute (LATCHKEY_LIMITS_ANONYMOUS_PER_MINUTE)",
                c.anonymous_per_minute,
            ),
            (
                "limits.pending_logins (LATCHKEY_LIMITS_PENDING_LOGINS)",
                c.pending_logins,
            ),
        ] {
            if value == 0 {
                return Err(invalid(name, "must be at least 1"));
            }
        }
        Ok(c)
    }
}

/// Validated `[limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Bucket size per address.
    pub anonymous_burst: u32,
    /// Refill per address per minute.
    pub anonymous_per_minute: u32,
    /// Pending browser logins stored at most.
    pub pending_logins: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            anonymous_burst: 100,
            anonymous_per_minute: 60,
            pending_logins: 10_000,
        }
    }
}
