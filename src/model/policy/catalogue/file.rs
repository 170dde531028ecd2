//! The catalogue file as written (`[[resource]]`, `[[resource.role]]`, their defaults)
//! and how it is read into a [`Catalogue`]: each name, duration and pattern checked, each
//! role consistent with itself, nothing declared twice.

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use crate::model::duration;
use crate::model::policy::catalogue::{
    Catalogue, CatalogueError, Kind, Resource, Role, TokenAlgorithm, UpstreamAuth,
};

impl Catalogue {
    /// Parses and validates the TOML text, resource by resource.
    pub fn parse(text: &str) -> Result<Self, CatalogueError> {
        let file: File = toml::from_str(text).map_err(|e| CatalogueError(e.to_string()))?;
        let mut resources = BTreeMap::new();
        for r in file.resources {
            let resource = resource(r)?;
            let name = resource.name.clone();
            if resources.insert(name.clone(), resource).is_some() {
                return Err(CatalogueError(format!("resource {name} declared twice")));
            }
        }
        Ok(Catalogue { resources })
    }
}

/// `catalogue.toml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default, rename = "resource")]
    resources: Vec<ResourceFile>,
}

/// A `[[resource]]` as written.
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
    /// `[resource.db]`: the connection its roles share (each may override it).
    db: Option<crate::model::policy::db::ConnectionFile>,
    /// `[resource.ssh]`: where `latchkey ssh` connects.
    ssh: Option<crate::model::policy::ssh::HostFile>,
    #[serde(default, rename = "role")]
    roles: Vec<RoleFile>,
}

/// A role's `reviewers` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reviewers {
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    users: Vec<String>,
}

/// A `[[resource.role]]` as written.
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
    reason_hint: Option<String>,
    ticket_hint: Option<String>,
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
    db: Option<crate::model::policy::db::DbRoleFile>,
    ssh: Option<crate::model::policy::ssh::SshRoleFile>,
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

/// A duration setting, named in the error.
fn dur(where_: &str, field: &str, v: &str) -> Result<Duration, CatalogueError> {
    duration::parse(v).map_err(|e| CatalogueError(format!("{where_}: {field}: {e}")))
}

/// A pattern setting, anchored to the whole value.
fn pattern(where_: &str, field: &str, v: Option<String>) -> Result<Option<Regex>, CatalogueError> {
    v.map(|p| {
        // Anchored: a pattern describes the whole value, not a part of it.
        Regex::new(&format!("^(?:{p})$"))
            .map_err(|e| CatalogueError(format!("{where_}: {field}: {e}")))
    })
    .transpose()
}

/// A description for people of what a pattern asks: one line of at most 120 characters,
/// since it is shown inside refusals and listings.
fn hint(at: &str, field: &str, v: Option<String>) -> Result<Option<String>, CatalogueError> {
    v.map(|h| {
        let h = h.trim().to_string();
        if h.is_empty() || h.chars().count() > 120 || h.chars().any(char::is_control) {
            return Err(CatalogueError(format!(
                "{at}: {field} must be one line of 1 to 120 characters"
            )));
        }
        Ok(h)
    })
    .transpose()
}

/// A resource as the file declares it: a usable name, its roles, its upstream.
fn resource(r: ResourceFile) -> Result<Resource, CatalogueError> {
    if r.name.is_empty() || r.name.contains(['#', ',', ' ']) {
        return Err(CatalogueError(format!(
            "resource name {:?} must be non-empty without '#', ',' or spaces",
            r.name
        )));
    }
    if r.roles.is_empty() {
        return Err(CatalogueError(format!("resource {} has no roles", r.name)));
    }
    if r.db.is_some() && r.kind != Kind::Db {
        return Err(CatalogueError(format!(
            "{}: [resource.db] belongs to db resources only",
            r.name
        )));
    }
    if r.ssh.is_some() && r.kind != Kind::Ssh {
        return Err(CatalogueError(format!(
            "{}: [resource.ssh] belongs to ssh resources only",
            r.name
        )));
    }
    let ssh = r
        .ssh
        .unwrap_or_default()
        .validate(&r.name)
        .map_err(CatalogueError)?;
    let db = r.db.unwrap_or_default();
    let mut roles = BTreeMap::new();
    for f in r.roles {
        let at = format!("{}#{}", r.name, f.name);
        let role = role(&at, r.kind, &db, f)?;
        if roles.insert(role.name.clone(), role).is_some() {
            return Err(CatalogueError(format!("{at}: role declared twice")));
        }
    }
    let upstream = crate::model::policy::upstream::validate(
        &r.name,
        r.kind,
        r.upstream,
        r.upstream_auth,
        roles.keys(),
    )
    .map_err(CatalogueError)?;
    Ok(Resource {
        audience: r.audience.unwrap_or_else(|| r.name.clone()),
        token_algorithm: r.token_algorithm,
        upstream,
        upstream_auth: r.upstream_auth,
        name: r.name,
        kind: r.kind,
        description: r.description,
        roles,
        ssh,
    })
}

/// A role (`at` is `resource#role`) of a resource of `kind`: its clocks, patterns and
/// thresholds, consistent with each other.
fn role(
    at: &str,
    kind: Kind,
    db: &crate::model::policy::db::ConnectionFile,
    f: RoleFile,
) -> Result<Role, CatalogueError> {
    let role = Role {
        default_duration: dur(at, "default_duration", &f.default_duration)?,
        max_duration: dur(at, "max_duration", &f.max_duration)?,
        pending_timeout: dur(at, "pending_timeout", &f.pending_timeout)?,
        activation_window: dur(at, "activation_window", &f.activation_window)?,
        extension: dur(at, "extension", &f.extension)?,
        breakglass_max_duration: dur(at, "breakglass_max_duration", &f.breakglass_max_duration)?,
        aws: aws_role(at, kind, f.aws)?,
        db: db_role(at, kind, db, f.db)?,
        ssh: ssh_role(at, kind, f.ssh)?,
        reviewer_fresh_login: f
            .reviewer_fresh_login
            .as_deref()
            .map(|v| dur(at, "reviewer_fresh_login", v))
            .transpose()?,
        reason_pattern: pattern(at, "reason_pattern", f.reason_pattern)?,
        ticket_pattern: pattern(at, "ticket_pattern", f.ticket_pattern)?,
        reason_hint: hint(at, "reason_hint", f.reason_hint)?,
        ticket_hint: hint(at, "ticket_hint", f.ticket_hint)?,
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
    Ok(role)
}

/// `[resource.role.aws]`: required on an aws resource's roles, refused on any other.
fn aws_role(
    at: &str,
    kind: Kind,
    aws: Option<crate::model::policy::aws::AwsRoleFile>,
) -> Result<Option<crate::model::policy::aws::AwsRole>, CatalogueError> {
    match (kind, aws) {
        (Kind::Aws, Some(a)) => Ok(Some(a.validate(at).map_err(CatalogueError)?)),
        (Kind::Aws, None) => Err(CatalogueError(format!(
            "{at}: an aws resource's role needs [resource.role.aws] with role_arn"
        ))),
        (_, Some(_)) => Err(CatalogueError(format!(
            "{at}: [resource.role.aws] belongs to aws resources only"
        ))),
        (_, None) => Ok(None),
    }
}

/// `[resource.role.db]`: required on a db resource's roles, refused on any other.
fn db_role(
    at: &str,
    kind: Kind,
    resource: &crate::model::policy::db::ConnectionFile,
    db: Option<crate::model::policy::db::DbRoleFile>,
) -> Result<Option<crate::model::policy::db::DbRole>, CatalogueError> {
    match (kind, db) {
        (Kind::Db, Some(d)) => Ok(Some(d.validate(at, resource).map_err(CatalogueError)?)),
        (Kind::Db, None) => Err(CatalogueError(format!(
            "{at}: a db resource's role needs [resource.role.db] with the groups its logins join"
        ))),
        (_, Some(_)) => Err(CatalogueError(format!(
            "{at}: [resource.role.db] belongs to db resources only"
        ))),
        (_, None) => Ok(None),
    }
}

/// `[resource.role.ssh]`: required on an ssh resource's roles, refused on any other.
fn ssh_role(
    at: &str,
    kind: Kind,
    ssh: Option<crate::model::policy::ssh::SshRoleFile>,
) -> Result<Option<crate::model::policy::ssh::SshRole>, CatalogueError> {
    match (kind, ssh) {
        (Kind::Ssh, Some(s)) => Ok(Some(s.validate(at).map_err(CatalogueError)?)),
        (Kind::Ssh, None) => Err(CatalogueError(format!(
            "{at}: an ssh resource's role needs [resource.role.ssh] with the principals its certificates carry"
        ))),
        (_, Some(_)) => Err(CatalogueError(format!(
            "{at}: [resource.role.ssh] belongs to ssh resources only"
        ))),
        (_, None) => Ok(None),
    }
}
