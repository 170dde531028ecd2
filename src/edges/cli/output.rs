//! How client verbs print, and the exit codes scripts can rely on.

use clap::ValueEnum;

/// Exit codes scripts can rely on.
pub mod exit {
    /// Something failed (network, server error, bad input).
    pub const FAILURE: u8 = 1;
    /// Usage error (clap's own).
    pub const USAGE: u8 = 2;
    /// Not logged in, or the session ended: run `latchkey login`.
    pub const UNAUTHENTICATED: u8 = 3;
    /// Logged in but not allowed.
    pub const FORBIDDEN: u8 = 4;
    /// `--wait`: the request was denied.
    pub const DENIED: u8 = 5;
    /// `--wait`: the request expired before it was decided.
    pub const EXPIRED: u8 = 6;
    /// `--wait`: the request was cancelled or revoked.
    pub const ENDED: u8 = 7;
    /// `audit verify`: the log or bundle does not verify (tampered, truncated, unsigned).
    pub const TAMPERED: u8 = 8;

    /// The stable code of a defined outcome's exit code, for `--output json` failures.
    pub fn name(code: u8) -> &'static str {
        match code {
            DENIED => "denied",
            EXPIRED => "expired",
            ENDED => "ended",
            TAMPERED => "tampered",
            _ => "failed",
        }
    }
}

/// How client verbs print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// One JSON document on stdout.
    Json,
}
