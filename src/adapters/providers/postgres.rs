//! PostgreSQL logins per grant, on the databases the catalogue names, administered by the
//! broker's own role (CREATEROLE, ADMIN OPTION on each group it hands out, and
//! `pg_signal_backend`; never a superuser).
//!
//! - A login is made in one transaction on the target (one multi-statement query) (`CREATE ROLE … LOGIN … IN ROLE
//!   groups`, then its session settings), so a failure leaves nothing behind; made again
//!   for the same name it is brought back to what the grant says (idempotent).
//! - A login ends in steps that each count "already gone" as done: `NOLOGIN` (no new
//!   sessions), every backend of the role terminated, its memberships revoked, terminated
//!   again (a session that slipped in between), then `DROP ROLE`. A role that owns objects
//!   cannot be dropped: it is left `NOLOGIN` and without memberships, never `REASSIGN
//!   OWNED` into a privileged role.
//! - Every statement the broker runs there is bounded (`statement_timeout`,
//!   `lock_timeout`, the pool's acquire timeout), so an outage never hangs a caller.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Row;

use crate::model::policy::db::{DbConnection, DbRole, PasswordSource, LOGIN_PREFIX};
use crate::model::secret::Secret;

/// The longest the broker waits for a connection to a target.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `pg_terminate_backend` waits for each backend to exit.
const TERMINATE_WAIT_MS: i64 = 3000;

/// Why a database did not do what the broker asked; each with a stable code.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PgError {
    /// The server could not be reached (or did not answer in time).
    #[error("the database at {target} cannot be reached: {message}")]
    Unreachable {
        /// `host:port/database`.
        target: String,
        /// What failed.
        message: String,
    },
    /// The server refused the broker's own login.
    #[error("the database at {target} refused the broker's login as {user}: {message} (check db.password_env / db.password_file and pg_hba.conf)")]
    AuthFailed {
        /// `host:port/database`.
        target: String,
        /// The broker's role.
        user: String,
        /// The server's message.
        message: String,
    },
    /// The database does not exist.
    #[error("there is no database {target}")]
    UnknownDatabase {
        /// `host:port/database`.
        target: String,
    },
    /// A group role the catalogue names does not exist.
    #[error("group role {group:?} does not exist on {target}: {message}")]
    NoSuchGroup {
        /// The group.
        group: String,
        /// `host:port/database`.
        target: String,
        /// The server's message.
        message: String,
    },
    /// The broker's role lacks a privilege it needs.
    #[error("the broker's role may not do this on {target}: {message} (the start-up log names each missing grant; see \"PostgreSQL logins\" in the README)")]
    MissingGrant {
        /// `host:port/database`.
        target: String,
        /// The server's message.
        message: String,
    },
    /// The broker's password could not be read.
    #[error("the broker's password for {target} cannot be read: {0}", target = .1)]
    Password(String, String),
    /// Anything else the server said.
    #[error("the database at {target} refused ({sqlstate}): {message}")]
    Refused {
        /// `host:port/database`.
        target: String,
        /// SQLSTATE.
        sqlstate: String,
        /// The server's message.
        message: String,
    },
}

impl PgError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            PgError::Unreachable { .. } => "db_unreachable",
            PgError::AuthFailed { .. } => "db_admin_login_refused",
            PgError::UnknownDatabase { .. } => "db_unknown_database",
            PgError::NoSuchGroup { .. } => "db_no_such_group",
            PgError::MissingGrant { .. } => "db_missing_grant",
            PgError::Password(..) => "db_admin_password_unreadable",
            PgError::Refused { .. } => "db_refused",
        }
    }

    /// The SQLSTATE, where the server gave one.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            PgError::Refused { sqlstate, .. } => Some(sqlstate),
            PgError::NoSuchGroup { .. } => Some("42704"),
            PgError::MissingGrant { .. } => Some("42501"),
            PgError::UnknownDatabase { .. } => Some("3D000"),
            PgError::AuthFailed { .. } => Some("28P01"),
            _ => None,
        }
    }

    fn from_sqlx(target: &str, user: &str, e: sqlx::Error) -> Self {
        let target = target.to_string();
        match e {
            sqlx::Error::Database(db) => {
                let sqlstate = db.code().map(|c| c.to_string()).unwrap_or_default();
                let message = db.message().to_string();
                match sqlstate.as_str() {
                    "28P01" | "28000" => PgError::AuthFailed {
                        target,
                        user: user.into(),
                        message,
                    },
                    "3D000" => PgError::UnknownDatabase { target },
                    "42501" => PgError::MissingGrant { target, message },
                    // Connection limits, shutdown, cannot connect now: try again later.
                    "53300" | "57P01" | "57P02" | "57P03" | "08006" | "08001" | "08004" => {
                        PgError::Unreachable { target, message }
                    }
                    _ => PgError::Refused {
                        target,
                        sqlstate,
                        message,
                    },
                }
            }
            other => PgError::Unreachable {
                target,
                message: other.to_string(),
            },
        }
    }
}

/// What a login is made with.
pub struct LoginSpec<'a> {
    /// The login's name (`lk_…`, needs no quoting).
    pub name: &'a str,
    /// The verifier of its password.
    pub verifier: &'a str,
    /// `VALID UNTIL`: the grant's end.
    pub valid_until: DateTime<Utc>,
    /// Groups, connection limit and session settings.
    pub role: &'a DbRole,
}

/// How a login ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Dropped.
    Dropped,
    /// It owns objects: left `NOLOGIN`, without memberships.
    Disabled(String),
    /// It did not exist (dropped before, or never made).
    Gone,
}

/// The outcome of ending a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndOutcome {
    /// Backends terminated.
    pub terminated: u64,
    /// Memberships revoked.
    pub revoked: Vec<String>,
    /// What became of the role.
    pub ended: Ended,
}

/// What the start-up check found wrong with the broker's role on one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is missing.
    pub what: String,
    /// The statement a DBA runs to fix it.
    pub fix: String,
}

/// Connections to the catalogue's databases, one small pool per DSN.
#[derive(Default)]
pub struct Postgres {
    pools: Mutex<HashMap<String, PgPool>>,
}

/// `"name"`, quoted as an identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`, quoted as a literal (standard_conforming_strings, on since 9.1).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl Postgres {
    fn password(conn: &DbConnection) -> Result<Option<Secret>, PgError> {
        let unreadable = |m: String| PgError::Password(m, conn.target.clone());
        match &conn.password {
            PasswordSource::None => Ok(None),
            PasswordSource::Env(v) => std::env::var(v)
                .map(|p| Some(Secret::new(p)))
                .map_err(|_| unreadable(format!("the environment variable {v} is not set"))),
            PasswordSource::File(f) => std::fs::read_to_string(f)
                .map(|p| Some(Secret::new(p.lines().next().unwrap_or("").to_string())))
                .map_err(|e| unreadable(format!("{}: {e}", f.display()))),
        }
    }

    /// The pool for a connection (made lazily: nothing connects until it is used).
    fn pool(&self, conn: &DbConnection) -> Result<PgPool, PgError> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = pools.get(&conn.dsn) {
            return Ok(p.clone());
        }
        let mut options = PgConnectOptions::from_str(&conn.dsn)
            .map_err(|e| PgError::Unreachable {
                target: conn.target.clone(),
                message: e.to_string(),
            })?
            .application_name("latchkey")
            // Nothing the broker runs there may hang: a lock held by someone else, a
            // server that stopped answering.
            .options([("statement_timeout", "10s"), ("lock_timeout", "5s")]);
        if let Some(pw) = Self::password(conn)? {
            options = options.password(pw.expose());
        }
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .acquire_timeout(CONNECT_TIMEOUT)
            .idle_timeout(Duration::from_secs(60))
            .connect_lazy_with(options);
        pools.insert(conn.dsn.clone(), pool.clone());
        Ok(pool)
    }

    /// Forgets the pool of a connection whose login was refused, so its password is
    /// read again next time (it may have been rotated).
    fn forget(&self, conn: &DbConnection, e: &PgError) {
        if matches!(e, PgError::AuthFailed { .. } | PgError::Password(..)) {
            let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
            pools.remove(&conn.dsn);
        }
    }

    fn err(&self, conn: &DbConnection, e: sqlx::Error) -> PgError {
        let e = PgError::from_sqlx(&conn.target, &conn.admin_user, e);
        self.forget(conn, &e);
        e
    }

    /// Makes (or brings back to `spec`) a login in one transaction on the target.
    /// Returns whether it was made now.
    pub async fn ensure_login(
        &self,
        conn: &DbConnection,
        spec: &LoginSpec<'_>,
    ) -> Result<bool, PgError> {
        let pool = self.pool(conn)?;
        let exists = sqlx::query("SELECT 1 FROM pg_roles WHERE rolname = $1")
            .bind(spec.name)
            .fetch_optional(&pool)
            .await
            .map_err(|e| self.err(conn, e))?
            .is_some();
        let name = ident(spec.name);
        let until = literal(
            &spec
                .valid_until
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        );
        let groups: Vec<String> = spec.role.groups.iter().map(|g| ident(g)).collect();
        let mut statements = Vec::new();
        if exists {
            statements.push(format!(
                "ALTER ROLE {name} WITH LOGIN INHERIT CONNECTION LIMIT {} PASSWORD {} VALID UNTIL {until}",
                spec.role.connection_limit,
                literal(spec.verifier)
            ));
            statements.push(format!("GRANT {} TO {name}", groups.join(", ")));
        } else {
            statements.push(format!(
                "CREATE ROLE {name} WITH LOGIN INHERIT CONNECTION LIMIT {} PASSWORD {} VALID UNTIL {until} IN ROLE {}",
                spec.role.connection_limit,
                literal(spec.verifier),
                groups.join(", ")
            ));
        }
        if !spec.role.search_path.is_empty() {
            let path: Vec<String> = spec.role.search_path.iter().map(|s| ident(s)).collect();
            statements.push(format!(
                "ALTER ROLE {name} SET search_path TO {}",
                path.join(", ")
            ));
        }
        if let Some(t) = spec.role.statement_timeout {
            statements.push(format!(
                "ALTER ROLE {name} SET statement_timeout = {}",
                literal(&format!("{}ms", t.as_millis()))
            ));
        }
        // One simple query: PostgreSQL runs its statements as one transaction, so a
        // refusal of any (a missing group, a missing grant) leaves nothing behind.
        let script = statements.join(";\n");
        if let Err(e) = sqlx::raw_sql(&script).execute(&pool).await {
            return Err(no_such_group(self.err(conn, e), &spec.role.groups));
        }
        Ok(!exists)
    }

    /// Moves a live login's `VALID UNTIL` (the grant was extended).
    pub async fn set_valid_until(
        &self,
        conn: &DbConnection,
        name: &str,
        until: DateTime<Utc>,
    ) -> Result<(), PgError> {
        let pool = self.pool(conn)?;
        let sql = format!(
            "ALTER ROLE {} VALID UNTIL {}",
            ident(name),
            literal(&until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        );
        sqlx::raw_sql(&sql)
            .execute(&pool)
            .await
            .map_err(|e| self.err(conn, e))?;
        Ok(())
    }

    /// Ends a login: no new sessions, the live ones terminated, memberships revoked, the
    /// role dropped (or left disabled if it owns objects). Each step counts "already
    /// gone" as done, so a retry after any failure picks up where it stopped.
    pub async fn end_login(&self, conn: &DbConnection, name: &str) -> Result<EndOutcome, PgError> {
        // Each step commits on its own, on whichever pooled connection is free.
        let pool = self.pool(conn)?;
        let c = &pool;
        let oid: Option<sqlx::postgres::types::Oid> =
            sqlx::query_scalar("SELECT oid FROM pg_roles WHERE rolname = $1")
                .bind(name)
                .fetch_optional(c)
                .await
                .map_err(|e| self.err(conn, e))?;
        let Some(oid) = oid else {
            return Ok(EndOutcome {
                terminated: 0,
                revoked: Vec::new(),
                ended: Ended::Gone,
            });
        };
        let role = ident(name);
        let gone = |e: &PgError| e.sqlstate() == Some("42704");
        // 1. No new sessions from here on.
        let nologin = format!("ALTER ROLE {role} NOLOGIN");
        if let Err(e) = sqlx::raw_sql(&nologin)
            .execute(c)
            .await
            .map_err(|e| self.err(conn, e))
        {
            if gone(&e) {
                return Ok(EndOutcome {
                    terminated: 0,
                    revoked: Vec::new(),
                    ended: Ended::Gone,
                });
            }
            return Err(e);
        }
        // 2. The live ones end now (by oid: once dropped, the name no longer matches).
        let mut terminated = self.terminate(conn, c, oid).await?;
        // 3. Its privileges go with its memberships, whatever the catalogue says now.
        let groups: Vec<String> = sqlx::query_scalar(
            "SELECT r.rolname::text FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE m.member = $1",
        )
        .bind(oid)
        .fetch_all(c)
        .await
        .map_err(|e| self.err(conn, e))?;
        let mut revoked = Vec::new();
        for g in groups {
            let revoke = format!("REVOKE {} FROM {role}", ident(&g));
            match sqlx::raw_sql(&revoke)
                .execute(c)
                .await
                .map_err(|e| self.err(conn, e))
            {
                Ok(_) => revoked.push(g),
                Err(e) if gone(&e) => {}
                Err(e) => return Err(e),
            }
        }
        // 4. A session that authenticated just before NOLOGIN committed.
        terminated += self.terminate(conn, c, oid).await?;
        // 5. Dropped, or disabled if it owns objects (or holds privileges granted to it).
        let drop = format!("DROP ROLE IF EXISTS {role}");
        let ended = match sqlx::raw_sql(&drop).execute(c).await {
            Ok(_) => Ended::Dropped,
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("2BP01") => {
                Ended::Disabled(db.message().to_string())
            }
            Err(e) => return Err(self.err(conn, e)),
        };
        Ok(EndOutcome {
            terminated,
            revoked,
            ended,
        })
    }

    async fn terminate(
        &self,
        conn: &DbConnection,
        c: &PgPool,
        oid: sqlx::postgres::types::Oid,
    ) -> Result<u64, PgError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, $2)) FROM pg_stat_activity WHERE usesysid = $1",
        )
        .bind(oid)
        .bind(TERMINATE_WAIT_MS)
        .fetch_one(c)
        .await
        .map_err(|e| self.err(conn, e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The broker's logins on a target (roles named with its prefix).
    pub async fn logins(&self, conn: &DbConnection) -> Result<Vec<String>, PgError> {
        let pool = self.pool(conn)?;
        sqlx::query_scalar(
            "SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1",
        )
        .bind(LOGIN_PREFIX)
        .fetch_all(&pool)
        .await
        .map_err(|e| self.err(conn, e))
    }

    /// Checks that the broker's role can do its work with these groups on a target: each
    /// problem with the statement that fixes it. An unreachable server is an error.
    pub async fn check(
        &self,
        conn: &DbConnection,
        groups: &[&str],
    ) -> Result<Vec<Problem>, PgError> {
        let pool = self.pool(conn)?;
        let me = sqlx::query(
            "SELECT current_setting('server_version_num')::int AS version, r.rolsuper, r.rolcreaterole,
                    pg_has_role(current_user, 'pg_signal_backend', 'USAGE') AS signal
             FROM pg_roles r WHERE r.rolname = current_user",
        )
        .fetch_one(&pool)
        .await
        .map_err(|e| self.err(conn, e));
        let me = match me {
            Ok(me) => me,
            // Refused at the door: the broker's role may not connect to the database.
            Err(PgError::MissingGrant { .. }) => {
                return Ok(vec![Problem {
                    what: format!("{} may not connect to {}", conn.admin_user, conn.database),
                    fix: format!(
                        "GRANT CONNECT ON DATABASE {} TO {};",
                        ident(&conn.database),
                        ident(&conn.admin_user)
                    ),
                }])
            }
            Err(e) => return Err(e),
        };
        let version: i32 = me.get("version");
        let superuser: bool = me.get("rolsuper");
        let user = ident(&conn.admin_user);
        let mut problems = Vec::new();
        if !superuser && !me.get::<bool, _>("rolcreaterole") {
            problems.push(Problem {
                what: format!("{} lacks CREATEROLE", conn.admin_user),
                fix: format!("ALTER ROLE {user} CREATEROLE;"),
            });
        }
        if !superuser && !me.get::<bool, _>("signal") {
            problems.push(Problem {
                what: format!("{} may not end its logins' sessions", conn.admin_user),
                fix: format!("GRANT pg_signal_backend TO {user};"),
            });
        }
        for g in groups {
            let row = sqlx::query(
                "SELECT r.rolsuper, r.rolcanlogin,
                        pg_has_role(current_user, r.oid, 'MEMBER WITH ADMIN OPTION') AS admin,
                        has_database_privilege(r.oid, current_database(), 'CONNECT') AS connect
                 FROM pg_roles r WHERE r.rolname = $1",
            )
            .bind(g)
            .fetch_optional(&pool)
            .await
            .map_err(|e| self.err(conn, e))?;
            let Some(row) = row else {
                problems.push(Problem {
                    what: format!("group role {g} does not exist"),
                    fix: format!(
                        "CREATE ROLE {} NOLOGIN; -- then grant it what the role may do",
                        ident(g)
                    ),
                });
                continue;
            };
            if row.get::<bool, _>("rolsuper") {
                problems.push(Problem {
                    what: format!("group role {g} is a superuser: a login in it would be one"),
                    fix: format!("ALTER ROLE {} NOSUPERUSER;", ident(g)),
                });
            }
            // From PostgreSQL 16, CREATEROLE grants only roles held WITH ADMIN OPTION.
            if !superuser && version >= 160_000 && !row.get::<bool, _>("admin") {
                problems.push(Problem {
                    what: format!(
                        "{} does not hold {g} WITH ADMIN OPTION (PostgreSQL 16 and later)",
                        conn.admin_user
                    ),
                    fix: format!("GRANT {} TO {user} WITH ADMIN OPTION;", ident(g)),
                });
            }
            if !row.get::<bool, _>("connect") {
                problems.push(Problem {
                    what: format!("group role {g} may not connect to {}", conn.database),
                    fix: format!(
                        "GRANT CONNECT ON DATABASE {} TO {};",
                        ident(&conn.database),
                        ident(g)
                    ),
                });
            }
        }
        Ok(problems)
    }
}

/// A refusal to grant a group that does not exist, named as such.
fn no_such_group(e: PgError, groups: &[String]) -> PgError {
    match e {
        PgError::Refused {
            target,
            sqlstate,
            message,
        } if sqlstate == "42704" => {
            let group = groups
                .iter()
                .find(|g| message.contains(&format!("\"{g}\"")))
                .cloned()
                .unwrap_or_default();
            PgError::NoSuchGroup {
                group,
                target,
                message,
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(ident("events_ro"), "\"events_ro\"");
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(literal("it's"), "'it''s'");
    }

    #[test]
    fn server_errors_keep_their_sqlstate_and_code() {
        let e = no_such_group(
            PgError::Refused {
                target: "h:5432/db".into(),
                sqlstate: "42704".into(),
                message: "role \"events_ro\" does not exist".into(),
            },
            &["events_ro".into()],
        );
        assert_eq!(e.code(), "db_no_such_group");
        assert_eq!(e.sqlstate(), Some("42704"));
        assert!(e.to_string().contains("\"events_ro\""), "{e}");
    }
}
