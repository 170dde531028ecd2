//! The OpenSSH settings of an `ssh` resource and its roles: where `latchkey ssh` connects
//! (`[resource.ssh]`), and what a role's certificates say (`[resource.role.ssh]`): the
//! principals, fixed or taken from the user; the extensions, none unless named; the
//! critical options; the longest a certificate lives. Checked at load, and each principal
//! taken from a user checked again when it is made, so a certificate never carries a name
//! sshd would misread.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::duration;

/// The extensions sshd knows for user certificates. Absent means denied.
pub const EXTENSIONS: [&str; 6] = [
    "no-touch-required",
    "permit-X11-forwarding",
    "permit-agent-forwarding",
    "permit-port-forwarding",
    "permit-pty",
    "permit-user-rc",
];
/// The longest a role may let one certificate live.
pub const MAX_VALIDITY: Duration = Duration::from_secs(24 * 3600);
/// How long a certificate lives when the role does not say: a working session's length.
const DEFAULT_VALIDITY: Duration = Duration::from_secs(8 * 3600);
/// The longest principal: what `useradd` takes for a login name, with room for an email.
const MAX_PRINCIPAL: usize = 64;

/// `[resource.ssh]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFile {
    host: Option<String>,
    port: Option<u16>,
    host_key: Option<String>,
}

/// Where `latchkey ssh` connects for a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SshHost {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// The host's public key (`TYPE BASE64`), pinned in the known-hosts file the CLI
    /// hands to ssh; without it, the user's own known hosts decide.
    pub host_key: Option<String>,
}

/// `[resource.role.ssh]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshRoleFile {
    principals: Vec<String>,
    #[serde(default)]
    extensions: Vec<String>,
    #[serde(default)]
    source_address: Vec<String>,
    force_command: Option<String>,
    max_validity: Option<String>,
    login: Option<String>,
}

/// One principal of a role: a fixed name, or one taken from the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "from", content = "value")]
pub enum PrincipalSource {
    /// Exactly this name.
    Fixed(String),
    /// `{email}`: the verified email.
    Email,
    /// `{email.local}`: the email's part before the `@`.
    EmailLocal,
    /// `{subject}`: the `sub` claim.
    Subject,
}

/// One entry of `source_address`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "from", content = "value")]
pub enum SourceAddress {
    /// `caller`: the address the certificate was asked for from (`/32` or `/128`).
    Caller,
    /// A CIDR block or address, as written.
    Cidr(String),
}

/// What a role's certificates carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SshRole {
    /// Principals, in order.
    pub principals: Vec<PrincipalSource>,
    /// Extensions granted (each from [`EXTENSIONS`] or `NAME@DOMAIN`).
    pub extensions: Vec<String>,
    /// Where the certificate may be used from; empty for anywhere.
    pub source_address: Vec<SourceAddress>,
    /// The one command the certificate runs, if any.
    pub force_command: Option<String>,
    /// The longest one certificate lives (never past its grant).
    pub max_validity: Duration,
    /// Which principal `latchkey ssh` logs in as (default: the first).
    pub login: Option<PrincipalSource>,
}

/// A certificate's fields for one user, or why they cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    /// The user has no verified email, and the role takes a principal from it.
    #[error("the role's principal {0} needs a verified email, and this login has none")]
    NoEmail(&'static str),
    /// A principal taken from the user is not a name sshd can match safely.
    #[error("principal {0:?} (from {1}) is not a login name: use letters, digits, '.', '_', '-' (and '@'), at most {MAX_PRINCIPAL} characters, not starting with '-'")]
    Unsafe(String, &'static str),
}

impl HostFile {
    /// Validates; `at` names the resource in messages.
    pub fn validate(self, at: &str) -> Result<Option<SshHost>, String> {
        let Some(host) = self.host else {
            if self.port.is_some() || self.host_key.is_some() {
                return Err(format!("{at}: [resource.ssh] needs host"));
            }
            return Ok(None);
        };
        if host.is_empty()
            || host.starts_with('-')
            || host.contains(|c: char| c.is_whitespace() || c == '@')
        {
            return Err(format!(
                "{at}: ssh.host {host:?} is not a host name or address"
            ));
        }
        if let Some(k) = &self.host_key {
            let mut parts = k.split_whitespace();
            if parts
                .next()
                .is_none_or(|t| !t.starts_with("ssh-") && !t.starts_with("ecdsa-"))
                || parts.next().is_none()
            {
                return Err(format!(
                    "{at}: ssh.host_key must be \"TYPE BASE64\" as in the host's .pub file"
                ));
            }
        }
        Ok(Some(SshHost {
            host,
            port: self.port.unwrap_or(22),
            host_key: self.host_key,
        }))
    }
}

impl SshRoleFile {
    /// Validates; `at` names the role in messages.
    pub fn validate(self, at: &str) -> Result<SshRole, String> {
        if self.principals.is_empty() {
            // sshd refuses certificates without principals under TrustedUserCAKeys, and an
            // empty list would otherwise mean "any user".
            return Err(format!(
                "{at}: ssh.principals must name at least one principal"
            ));
        }
        let principals = self
            .principals
            .iter()
            .map(|p| principal_source(at, p))
            .collect::<Result<Vec<_>, _>>()?;
        let login = self
            .login
            .as_deref()
            .map(|l| principal_source(at, l))
            .transpose()?;
        if let Some(l) = &login {
            if !principals.contains(l) {
                return Err(format!("{at}: ssh.login must be one of ssh.principals"));
            }
        }
        for e in &self.extensions {
            let custom = e
                .split_once('@')
                .is_some_and(|(n, d)| !n.is_empty() && d.contains('.'));
            if !EXTENSIONS.contains(&e.as_str()) && !custom {
                return Err(format!(
                    "{at}: ssh.extensions: {e:?} is not one of {} (or NAME@DOMAIN)",
                    EXTENSIONS.join(", ")
                ));
            }
        }
        let mut extensions = self.extensions;
        extensions.sort();
        extensions.dedup();
        let source_address = self
            .source_address
            .iter()
            .map(|s| source_address(at, s))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(c) = &self.force_command {
            if c.trim().is_empty() || c.contains(['\n', '\0']) {
                return Err(format!(
                    "{at}: ssh.force_command must be one non-empty line"
                ));
            }
        }
        let max_validity = match &self.max_validity {
            Some(v) => duration::parse(v).map_err(|e| format!("{at}: ssh.max_validity: {e}"))?,
            None => DEFAULT_VALIDITY,
        };
        if max_validity.is_zero() || max_validity > MAX_VALIDITY {
            return Err(format!(
                "{at}: ssh.max_validity must be positive and at most 24h"
            ));
        }
        Ok(SshRole {
            principals,
            extensions,
            source_address,
            force_command: self.force_command,
            max_validity,
            login,
        })
    }
}

impl SshRole {
    /// The principals for a user with this `email` and `subject`, in the role's order,
    /// each named once.
    pub fn principals_for(
        &self,
        email: Option<&str>,
        subject: &str,
    ) -> Result<Vec<String>, PrincipalError> {
        let mut out: Vec<String> = Vec::new();
        for p in &self.principals {
            let name = render(p, email, subject)?;
            if !out.contains(&name) {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// The principal `latchkey ssh` logs in as.
    pub fn login_for(&self, email: Option<&str>, subject: &str) -> Result<String, PrincipalError> {
        let source = self.login.as_ref().or(self.principals.first());
        match source {
            Some(p) => render(p, email, subject),
            None => Err(PrincipalError::Unsafe(String::new(), "the role")),
        }
    }
}

/// One principal for one user.
fn render(
    p: &PrincipalSource,
    email: Option<&str>,
    subject: &str,
) -> Result<String, PrincipalError> {
    let (value, from) = match p {
        PrincipalSource::Fixed(s) => return Ok(s.clone()),
        PrincipalSource::Email => (
            email.ok_or(PrincipalError::NoEmail("{email}"))?.to_string(),
            "{email}",
        ),
        PrincipalSource::EmailLocal => {
            let e = email.ok_or(PrincipalError::NoEmail("{email.local}"))?;
            (
                e.rsplit_once('@').map_or(e, |(l, _)| l).to_string(),
                "{email.local}",
            )
        }
        PrincipalSource::Subject => (subject.to_string(), "{subject}"),
    };
    if is_safe_principal(&value) {
        Ok(value)
    } else {
        Err(PrincipalError::Unsafe(value, from))
    }
}

/// A name sshd matches against `AuthorizedPrincipalsFile` and login names without
/// surprise: no commas (lists), spaces, quotes, wildcards or control characters.
pub fn is_safe_principal(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_PRINCIPAL
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

fn principal_source(at: &str, p: &str) -> Result<PrincipalSource, String> {
    match p {
        "{email}" => Ok(PrincipalSource::Email),
        "{email.local}" => Ok(PrincipalSource::EmailLocal),
        "{subject}" => Ok(PrincipalSource::Subject),
        _ if p.contains(['{', '}']) => Err(format!(
            "{at}: ssh.principals: {p:?}: the templates are {{email}}, {{email.local}} and {{subject}}"
        )),
        _ if is_safe_principal(p) => Ok(PrincipalSource::Fixed(p.to_string())),
        _ => Err(format!(
            "{at}: ssh.principals: {p:?} is not a login name (letters, digits, '.', '_', '-', '@')"
        )),
    }
}

fn source_address(at: &str, s: &str) -> Result<SourceAddress, String> {
    if s == "caller" {
        return Ok(SourceAddress::Caller);
    }
    let (addr, prefix) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
    let ip: IpAddr = addr.parse().map_err(|_| {
        format!(
            "{at}: ssh.source_address: {s:?} is neither \"caller\" nor an address or CIDR block"
        )
    })?;
    if let Some(p) = prefix {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if p.parse::<u8>().map_or(true, |n| n > max) {
            return Err(format!(
                "{at}: ssh.source_address: {s:?} has a bad prefix length"
            ));
        }
    }
    Ok(SourceAddress::Cidr(s.to_string()))
}

/// The role binds certificates to the caller's address, and it is not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the role binds certificates to the caller's address, and the broker cannot tell it")]
pub struct CallerUnknown;

/// `source-address` for a certificate: the role's blocks, `caller` made the caller's own
/// address. `None` when the role sets none, or when it asks for the caller and the broker
/// does not know it (a refusal is the caller's to make: see `credentials_ssh`).
pub fn source_address_for(
    role: &SshRole,
    caller: Option<IpAddr>,
) -> Result<Option<String>, CallerUnknown> {
    if role.source_address.is_empty() {
        return Ok(None);
    }
    let mut parts = Vec::new();
    for s in &role.source_address {
        match s {
            SourceAddress::Cidr(c) => parts.push(c.clone()),
            SourceAddress::Caller => {
                let ip = caller.ok_or(CallerUnknown)?;
                let ip = match ip {
                    IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
                    v4 => v4,
                };
                parts.push(match ip {
                    IpAddr::V4(a) => format!("{a}/32"),
                    IpAddr::V6(a) => format!("{a}/128"),
                });
            }
        }
    }
    Ok(Some(parts.join(",")))
}

#[cfg(test)]
mod tests;
