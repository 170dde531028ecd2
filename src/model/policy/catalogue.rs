//! The resource catalogue (`policies/catalogue.toml`): every resource the broker can
//! grant, the provider that serves it, and each role's clocks, thresholds and rules.

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::model::duration;
pub use crate::model::policy::kind::{Kind, UpstreamAuth};

/// How broker tokens are signed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenAlgorithm {
    /// Ed25519.
    #[default]
    EdDSA,
    /// ECDSA P-256, for verifiers that lack EdDSA.
    ES256,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default, rename = "resource")]
    resources: Vec<ResourceFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourceFile {
    name: String,
    kind: Kind,
    description: String,
    audience: Option<String>,
    #[serde(default)]
    token_algorithm: TokenAlgorithm,
    upstream: Option<String>,
    #[serde(default)]
    upstream_auth: UpstreamAuth,
    #[serde(default, rename = "role")]
    roles: Vec<RoleFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reviewers {
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    users: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleFile {
    name: String,
    default_duration: String,
    max_duration: String,
    #[serde(default = "default_pending")]
    pending_timeout: String,
    #[serde(default = "default_activation")]
    activation_window: String,
    #[serde(default)]
    max_extensions: u32,
    #[serde(default = "default_extension")]
    extension: String,
    #[serde(default = "one")]
    approvals: u32,
    #[serde(default = "one")]
    denials: u32,
    #[serde(default)]
    reviewers: Reviewers,
    #[serde(default)]
    reason_required: bool,
    reason_pattern: Option<String>,
    ticket_pattern: Option<String>,
    #[serde(default)]
    ticket_required: bool,
    #[serde(default)]
    auto_approve: bool,
    #[serde(default)]
    breakglass: bool,
    #[serde(default = "default_breakglass")]
    breakglass_max_duration: String,
    reviewer_fresh_login: Option<String>,
    aws: Option<crate::model::policy::aws::AwsRoleFile>,
}

fn default_pending() -> String {
    "1h".into()
}
fn default_activation() -> String {
    "30m".into()
}
fn default_extension() -> String {
    "1h".into()
}
fn default_breakglass() -> String {
    "30m".into()
}
fn one() -> u32 {
    1
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

fn dur(where_: &str, field: &str, v: &str) -> Result<Duration, CatalogueError> {
    duration::parse(v).map_err(|e| CatalogueError(format!("{where_}: {field}: {e}")))
}

fn pattern(where_: &str, field: &str, v: Option<String>) -> Result<Option<Regex>, CatalogueError> {
    v.map(|p| {
        // Anchored: a pattern describes the whole value, not a part of it.
        Regex::new(&format!("^(?:{p})$"))
            .map_err(|e| CatalogueError(format!("{where_}: {field}: {e}")))
    })
    .transpose()
}

impl Catalogue {
    /// Parses and validates the TOML text.
    pub fn parse(text: &str) -> Result<Self, CatalogueError> {
        let file: File = toml::from_str(text).map_err(|e| CatalogueError(e.to_string()))?;
        let mut resources = BTreeMap::new();
        for r in file.resources {
            if r.name.is_empty() || r.name.contains(['#', ',', ' ']) {
                return Err(CatalogueError(format!(
                    "resource name {:?} must be non-empty without '#', ',' or spaces",
                    r.name
                )));
            }
            if r.roles.is_empty() {
                return Err(CatalogueError(format!("resource {} has no roles", r.name)));
            }
            let mut roles = BTreeMap::new();
            for f in r.roles {
                let at = format!("{}#{}", r.name, f.name);
                let role = Role {
                    default_duration: dur(&at, "default_duration", &f.default_duration)?,
                    max_duration: dur(&at, "max_duration", &f.max_duration)?,
                    pending_timeout: dur(&at, "pending_timeout", &f.pending_timeout)?,
                    activation_window: dur(&at, "activation_window", &f.activation_window)?,
                    extension: dur(&at, "extension", &f.extension)?,
                    breakglass_max_duration: dur(
                        &at,
                        "breakglass_max_duration",
                        &f.breakglass_max_duration,
                    )?,
                    aws: match (r.kind, f.aws) {
                        (Kind::Aws, Some(a)) => Some(a.validate(&at).map_err(CatalogueError)?),
                        (Kind::Aws, None) => {
                            return Err(CatalogueError(format!(
                            "{at}: an aws resource's role needs [resource.role.aws] with role_arn"
                        )))
                        }
                        (_, Some(_)) => {
                            return Err(CatalogueError(format!(
                                "{at}: [resource.role.aws] belongs to aws resources only"
                            )))
                        }
                        (_, None) => None,
                    },
                    reviewer_fresh_login: f
                        .reviewer_fresh_login
                        .as_deref()
                        .map(|v| dur(&at, "reviewer_fresh_login", v))
                        .transpose()?,
                    reason_pattern: pattern(&at, "reason_pattern", f.reason_pattern)?,
                    ticket_pattern: pattern(&at, "ticket_pattern", f.ticket_pattern)?,
                    name: f.name,
                    max_extensions: f.max_extensions,
                    approvals: f.approvals,
                    denials: f.denials,
                    reviewer_groups: f.reviewers.groups,
                    reviewer_users: f.reviewers.users.iter().map(|u| u.to_lowercase()).collect(),
                    reason_required: f.reason_required,
                    ticket_required: f.ticket_required,
                    auto_approve: f.auto_approve,
                    breakglass: f.breakglass,
                };
                if role.default_duration.is_zero() || role.default_duration > role.max_duration {
                    return Err(CatalogueError(format!(
                        "{at}: default_duration must be positive and at most max_duration"
                    )));
                }
                if role.denials == 0 {
                    return Err(CatalogueError(format!("{at}: denials must be at least 1")));
                }
                if role.breakglass && role.breakglass_max_duration > role.max_duration {
                    return Err(CatalogueError(format!(
                        "{at}: breakglass_max_duration must be at most max_duration"
                    )));
                }
                if roles.insert(role.name.clone(), role).is_some() {
                    return Err(CatalogueError(format!("{at}: role declared twice")));
                }
            }
            let name = r.name.clone();
            let upstream = crate::model::policy::upstream::validate(
                &name,
                r.kind,
                r.upstream,
                r.upstream_auth,
                roles.keys(),
            )
            .map_err(CatalogueError)?;
            let resource = Resource {
                audience: r.audience.unwrap_or_else(|| r.name.clone()),
                token_algorithm: r.token_algorithm,
                upstream,
                upstream_auth: r.upstream_auth,
                name: r.name,
                kind: r.kind,
                description: r.description,
                roles,
            };
            if resources.insert(name.clone(), resource).is_some() {
                return Err(CatalogueError(format!("resource {name} declared twice")));
            }
        }
        Ok(Catalogue { resources })
    }

    /// A role of a resource.
    pub fn role(&self, resource: &str, role: &str) -> Option<(&Resource, &Role)> {
        let r = self.resources.get(resource)?;
        Some((r, r.roles.get(role)?))
    }
}

#[cfg(test)]
mod tests;
