//! What kind of resource an entry of the catalogue is, and what the gate sends upstream
//! for it: the two choices a resource makes that other parts of the policy read.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which credential provider serves a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The broker's own signed tokens.
    Token,
    /// AWS STS sessions.
    Aws,
    /// Database logins.
    Db,
    /// OpenSSH certificates.
    Ssh,
    /// A gated HTTP service or stream.
    Http,
}

impl Kind {
    /// The longest a single credential of this provider may live (a grant may last
    /// longer; credentials are issued again within it).
    pub fn max_credential_ttl(self) -> Duration {
        match self {
            Kind::Token | Kind::Http => Duration::from_secs(3600),
            Kind::Aws => Duration::from_secs(12 * 3600),
            Kind::Db | Kind::Ssh => Duration::from_secs(24 * 3600),
        }
    }

    /// The longest access the provider can back.
    pub fn max_duration(self) -> Duration {
        match self {
            // AssumeRole's DurationSeconds ceiling.
            Kind::Aws => Duration::from_secs(12 * 3600),
            Kind::Token | Kind::Db | Kind::Ssh | Kind::Http => Duration::from_secs(24 * 3600),
        }
    }
}

/// What the gate sends upstream as `Authorization` besides the identity assertion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamAuth {
    /// Nothing: the upstream reads `X-Latchkey-Assertion`.
    #[default]
    Assertion,
    /// A PostHog live events token for the role's team (needs `[livestream]` in the configuration).
    Livestream,
}
