//! The resource catalogue (`policies/catalogue.toml`): every resource the broker can
//! grant, the provider that serves it, and each role's clocks, thresholds and rules.
//! [`Catalogue::parse`] reads the file (its format and checks are `file`).

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use serde::{Deserialize, Serialize};

pub use crate::model::policy::kind::{Kind, UpstreamAuth};

mod file;

/// How broker tokens are signed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenAlgorithm {
    /// Ed25519.
    #[default]
    EdDSA,
    /// ECDSA P-256, for verifiers that lack EdDSA.
    ES256,
}

/// A resource.
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    /// `aws:prod`.
    pub name: String,
    /// Provider.
    pub kind: Kind,
    /// For people.
    pub description: String,
    /// The `aud` of broker tokens for this resource (default: its name).
    pub audience: String,
    /// How broker tokens for it are signed.
    pub token_algorithm: TokenAlgorithm,
    /// For `http` resources: the base URL the gate proxies to (internal; never listed).
    #[serde(skip)]
    pub upstream: Option<crate::model::policy::upstream::Upstream>,
    /// For `http` resources: what the gate sends upstream as `Authorization`.
    pub upstream_auth: UpstreamAuth,
    /// Roles by name.
    pub roles: BTreeMap<String, Role>,
    /// For `ssh` resources: where `latchkey ssh` connects, if the catalogue says.
    pub ssh: Option<crate::model::policy::ssh::SshHost>,
}

/// A role on a resource and its rules.
#[derive(Debug, Clone, Serialize)]
pub struct Role {
    /// `readonly`.
    pub name: String,
    /// Duration when the request names none.
    #[serde(with = "secs")]
    pub default_duration: Duration,
    /// Longest duration a request may ask.
    #[serde(with = "secs")]
    pub max_duration: Duration,
    /// How long a request may stay pending.
    #[serde(with = "secs")]
    pub pending_timeout: Duration,
    /// How long an approved grant may wait to be activated.
    #[serde(with = "secs")]
    pub activation_window: Duration,
    /// How many extensions.
    pub max_extensions: u32,
    /// Longest single extension.
    #[serde(with = "secs")]
    pub extension: Duration,
    /// Approvals needed.
    pub approvals: u32,
    /// Denials that end the request.
    pub denials: u32,
    /// Groups whose members count as reviewers (empty with no users: anyone the policy lets review).
    pub reviewer_groups: Vec<String>,
    /// Users who count as reviewers.
    pub reviewer_users: Vec<String>,
    /// A reason must be given.
    pub reason_required: bool,
    /// The reason must match.
    #[serde(skip)]
    pub reason_pattern: Option<Regex>,
    /// The ticket must match.
    #[serde(skip)]
    pub ticket_pattern: Option<Regex>,
    /// The reason's expected form in the operator's words (else derived from the pattern).
    pub reason_hint: Option<String>,
    /// The ticket's expected form in the operator's words (else derived from the pattern).
    pub ticket_hint: Option<String>,
    /// A ticket must be given.
    pub ticket_required: bool,
    /// Auto-approval is possible (if the policy also allows it for the requester).
    pub auto_approve: bool,
    /// Break-glass is possible.
    pub breakglass: bool,
    /// Break-glass duration cap.
    #[serde(with = "secs")]
    pub breakglass_max_duration: Duration,
    /// Reviewers must have authenticated at the provider within this window.
    #[serde(with = "opt_secs")]
    pub reviewer_fresh_login: Option<Duration>,
    /// For `aws` resources: the IAM role and how the session is narrowed.
    pub aws: Option<crate::model::policy::aws::AwsRole>,
    /// For `db` resources: where its logins live and the groups they join.
    #[serde(skip)]
    pub db: Option<crate::model::policy::db::DbRole>,
    /// For `ssh` resources: what its certificates carry.
    pub ssh: Option<crate::model::policy::ssh::SshRole>,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

mod opt_secs {
    pub fn serialize<S: serde::Serializer>(
        d: &Option<std::time::Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }
}

/// Every resource, by name.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Catalogue {
    /// Resources by name.
    pub resources: BTreeMap<String, Resource>,
}

/// Why a catalogue is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("catalogue: {0}")]
pub struct CatalogueError(pub String);

impl Catalogue {
    /// A role of a resource.
    pub fn role(&self, resource: &str, role: &str) -> Option<(&Resource, &Role)> {
        let r = self.resources.get(resource)?;
        Some((r, r.roles.get(role)?))
    }

    /// Sends every upstream that listens at `m.from` to `m.to`; returns the names of the
    /// resources moved.
    pub fn move_upstreams(
        &mut self,
        m: &crate::model::policy::upstream::UpstreamMove,
    ) -> Vec<String> {
        let mut moved = Vec::new();
        for r in self.resources.values_mut() {
            let Some(up) = &r.upstream else { continue };
            if up.authority() != &m.from {
                continue;
            }
            if let Some(there) = up.at(&m.to) {
                r.upstream = Some(there);
                moved.push(r.name.clone());
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests;
