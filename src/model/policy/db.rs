//! The PostgreSQL settings of a `db` resource and its roles: the connection the broker
//! administers with (a DSN without a password: that comes from the environment or a
//! file), the existing group roles a login becomes a member of, its connection limit and
//! session settings, and the name each login gets. Checked at load, so that a grant never
//! reaches the database with something it would refuse or misread.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::duration;

/// PostgreSQL's longest identifier, in bytes (NAMEDATALEN - 1); longer ones are truncated.
pub const MAX_IDENTIFIER: usize = 63;
/// Every login the broker makes starts with this: how its sweeper knows its own.
pub const LOGIN_PREFIX: &str = "lk_";
/// The longest part of a login name taken from the user.
const MAX_USER_PART: usize = 40;
/// Predefined roles that amount to superuser (reading or writing the server's files,
/// running programs as it): never handed out.
const FORBIDDEN_GROUPS: [&str; 3] = [
    "pg_execute_server_program",
    "pg_write_server_files",
    "pg_read_server_files",
];

/// Connection settings as written, in `[resource.db]` or (overriding) `[resource.role.db]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionFile {
    dsn: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    sslmode: Option<String>,
    client_host: Option<String>,
    client_port: Option<u16>,
}

/// `[resource.role.db]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbRoleFile {
    groups: Vec<String>,
    connection_limit: Option<u32>,
    #[serde(default)]
    search_path: Vec<String>,
    statement_timeout: Option<String>,
    #[serde(flatten)]
    connection: ConnectionFile,
}

/// Where the broker's own password for the target comes from (never the catalogue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "from", content = "name")]
pub enum PasswordSource {
    /// None: the server authenticates the broker otherwise (peer, certificate, trust).
    None,
    /// An environment variable.
    Env(String),
    /// A file (its first line).
    File(PathBuf),
}

/// The validated connection of a role: the broker's and what clients are told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DbConnection {
    /// The DSN the broker administers with (no password in it).
    pub dsn: String,
    /// Where the login lives: `host:port/database`.
    pub target: String,
    /// The broker's own role there.
    pub admin_user: String,
    /// The broker's password.
    pub password: PasswordSource,
    /// The host clients connect to.
    pub host: String,
    /// The port clients connect to.
    pub port: u16,
    /// The database.
    pub database: String,
    /// libpq's `sslmode` clients are told.
    pub sslmode: String,
}

/// The validated database settings of a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DbRole {
    /// Where.
    pub connection: DbConnection,
    /// The existing group roles a login becomes a member of (its only privileges).
    pub groups: Vec<String>,
    /// `CONNECTION LIMIT` of each login.
    pub connection_limit: u32,
    /// `search_path` of the login's sessions, if set.
    pub search_path: Vec<String>,
    /// `statement_timeout` of the login's sessions, if set.
    #[serde(skip)]
    pub statement_timeout: Option<Duration>,
}

const SSLMODES: [&str; 6] = [
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

impl ConnectionFile {
    /// The role's settings over the resource's.
    pub fn over(self, resource: &ConnectionFile) -> ConnectionFile {
        let r = resource.clone();
        // The password source goes with the DSN it is for.
        let (password_env, password_file) = if self.dsn.is_some() {
            (self.password_env, self.password_file)
        } else {
            (
                self.password_env.or(r.password_env),
                self.password_file.or(r.password_file),
            )
        };
        ConnectionFile {
            dsn: self.dsn.or(r.dsn),
            password_env,
            password_file,
            sslmode: self.sslmode.or(r.sslmode),
            client_host: self.client_host.or(r.client_host),
            client_port: self.client_port.or(r.client_port),
        }
    }

    fn validate(self, at: &str) -> Result<DbConnection, String> {
        let dsn = self.dsn.ok_or_else(|| {
            format!("{at}: db.dsn is missing (postgres://USER@HOST:PORT/DATABASE, in [resource.db] or the role's [resource.role.db])")
        })?;
        let url =
            url::Url::parse(&dsn).map_err(|e| format!("{at}: db.dsn {dsn:?} is not a URL: {e}"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!(
                "{at}: db.dsn must start with postgres:// (got {:?})",
                url.scheme()
            ));
        }
        if url.password().is_some() {
            return Err(format!("{at}: db.dsn carries a password; the catalogue never holds one: set db.password_env or db.password_file"));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{at}: db.dsn names no host"))?
            .to_string();
        let user = url.username();
        if user.is_empty() {
            return Err(format!(
                "{at}: db.dsn names no user (the broker's own role, e.g. postgres://latchkey_admin@{host}/DATABASE)"
            ));
        }
        let database = url.path().trim_start_matches('/').to_string();
        if database.is_empty() || database.contains('/') {
            return Err(format!(
                "{at}: db.dsn names no database (postgres://{user}@{host}/DATABASE)"
            ));
        }
        identifier(at, "the DSN's database", &database)?;
        identifier(at, "the DSN's user", user)?;
        let port = url.port().unwrap_or(5432);
        let password = match (self.password_env, self.password_file) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{at}: set one of db.password_env and db.password_file"
                ))
            }
            (Some(v), None) if v.is_empty() || v.contains('=') => {
                return Err(format!(
                    "{at}: db.password_env {v:?} is not a variable name"
                ))
            }
            (Some(v), None) => PasswordSource::Env(v),
            (None, Some(f)) => PasswordSource::File(f),
            (None, None) => PasswordSource::None,
        };
        let sslmode = self.sslmode.unwrap_or_else(|| "prefer".into());
        if !SSLMODES.contains(&sslmode.as_str()) {
            return Err(format!(
                "{at}: db.sslmode {sslmode:?} is not one of {}",
                SSLMODES.join(", ")
            ));
        }
        Ok(DbConnection {
            target: format!("{host}:{port}/{database}"),
            admin_user: user.to_string(),
            host: self.client_host.unwrap_or(host),
            port: self.client_port.unwrap_or(port),
            database,
            password,
            sslmode,
            dsn,
        })
    }
}

/// A name PostgreSQL keeps as written: 1 to 63 bytes, no NUL.
fn identifier(at: &str, what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_IDENTIFIER || name.contains('\0') {
        return Err(format!(
            "{at}: {what} {name:?} must be 1 to {MAX_IDENTIFIER} bytes (PostgreSQL truncates longer names)"
        ));
    }
    Ok(())
}

impl DbRoleFile {
    /// Validates against PostgreSQL's rules, over the resource's `[resource.db]`; `at`
    /// names the role in messages.
    pub fn validate(self, at: &str, resource: &ConnectionFile) -> Result<DbRole, String> {
        let connection = self.connection.over(resource).validate(at)?;
        if self.groups.is_empty() {
            return Err(format!("{at}: db.groups names no group role; a login's only privileges are the groups it is a member of"));
        }
        for g in &self.groups {
            identifier(at, "db.groups:", g)?;
            if FORBIDDEN_GROUPS.contains(&g.as_str()) {
                return Err(format!(
                    "{at}: db.groups: {g} gives the server's files or programs (superuser in effect) and is never handed out"
                ));
            }
            if g.starts_with(LOGIN_PREFIX) {
                return Err(format!("{at}: db.groups: {g:?} starts with {LOGIN_PREFIX:?}, the prefix of the broker's own logins"));
            }
        }
        let limit = self.connection_limit.unwrap_or(5);
        if !(1..=1000).contains(&limit) {
            return Err(format!(
                "{at}: db.connection_limit must be from 1 to 1000 (got {limit})"
            ));
        }
        for s in &self.search_path {
            if s != "$user" {
                identifier(at, "db.search_path:", s)?;
            }
        }
        let statement_timeout = self
            .statement_timeout
            .map(|t| {
                duration::parse(&t)
                    .map_err(|e| format!("{at}: db.statement_timeout: {e}"))
                    .and_then(|d| {
                        if d.is_zero() {
                            Err(format!("{at}: db.statement_timeout must be positive"))
                        } else {
                            Ok(d)
                        }
                    })
            })
            .transpose()?;
        Ok(DbRole {
            connection,
            groups: self.groups,
            connection_limit: limit,
            search_path: self.search_path,
            statement_timeout,
        })
    }
}

/// The name of a grant's login: `lk_<user>_<first 8 hex digits of the request id>`, and
/// `_<n>` for the n-th login of one grant (one ended early, by a lock, and made again).
/// Only `[a-z0-9_]`, so it needs no quoting anywhere, and at most 63 bytes, so PostgreSQL
/// keeps it whole.
pub fn login_name(user: &str, request_id: &str, incarnation: u32) -> String {
    let local = user.split('@').next().unwrap_or(user).to_lowercase();
    let mut part = String::new();
    for c in local.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if !(c == '_' && (part.is_empty() || part.ends_with('_'))) {
            part.push(c);
        }
        if part.len() >= MAX_USER_PART {
            break;
        }
    }
    let part = part.trim_end_matches('_');
    let part = if part.is_empty() { "user" } else { part };
    let id: String = request_id
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .map(|c| c.to_ascii_lowercase())
        .take(8)
        .collect();
    let mut name = format!("{LOGIN_PREFIX}{part}_{id}");
    if incarnation > 1 {
        name.push_str(&format!("_{incarnation}"));
    }
    name
}

#[cfg(test)]
mod tests;
