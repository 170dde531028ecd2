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

use crate::adapters::providers::postgres_error::no_such_group;
pub use crate::adapters::providers::postgres_error::PgError;
use crate::model::policy::db::{DbConnection, DbRole, PasswordSource, LOGIN_PREFIX};
use crate::model::secret::Secret;

/// The longest the broker waits for a connection to a target.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the broker waits for terminated backends to exit before going on.
const TERMINATE_WAIT: Duration = Duration::from_secs(3);

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
    pub(crate) fn pool(&self, conn: &DbConnection) -> Result<PgPool, PgError> {
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

    pub(crate) fn err(&self, conn: &DbConnection, e: sqlx::Error) -> PgError {
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
        // Made afresh nearly always: CREATE first, and only if the name exists (a making
        // retried after a crash) bring the role back to what the grant says.
        let groups = &spec.role.groups;
        match self
            .run_script(conn, &pool, &login_script(spec, false))
            .await
        {
            Err(e) if e.sqlstate() == Some("42710") => {
                self.run_script(conn, &pool, &login_script(spec, true))
                    .await
                    .map_err(|e| no_such_group(e, groups))?;
                Ok(false)
            }
            Err(e) => Err(no_such_group(e, groups)),
            Ok(()) => Ok(true),
        }
    }

    /// One simple query: PostgreSQL runs its statements as one transaction, so a refusal
    /// of any (a missing group, a missing grant) leaves nothing behind.
    async fn run_script(
        &self,
        conn: &DbConnection,
        pool: &PgPool,
        script: &str,
    ) -> Result<(), PgError> {
        sqlx::raw_sql(script)
            .execute(pool)
            .await
            .map(drop)
            .map_err(|e| self.err(conn, e))
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

    /// Signals every backend of the role and waits (polling every 5 ms, at most
    /// `TERMINATE_WAIT`) until they are gone. `pg_terminate_backend(pid, timeout)` would
    /// wait too, but it sleeps 100 ms between its checks, and every login's end would pay it.
    async fn terminate(
        &self,
        conn: &DbConnection,
        c: &PgPool,
        oid: sqlx::postgres::types::Oid,
    ) -> Result<u64, PgError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usesysid = $1",
        )
        .bind(oid)
        .fetch_one(c)
        .await
        .map_err(|e| self.err(conn, e))?;
        if n > 0 {
            let began = std::time::Instant::now();
            while began.elapsed() < TERMINATE_WAIT {
                let left: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE usesysid = $1")
                        .bind(oid)
                        .fetch_one(c)
                        .await
                        .map_err(|e| self.err(conn, e))?;
                if left == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
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
}

/// The statements that make a login (`exists`: bring an existing one back to the spec).
fn login_script(spec: &LoginSpec<'_>, exists: bool) -> String {
    let name = ident(spec.name);
    let until = literal(
        &spec
            .valid_until
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    );
    let groups: Vec<String> = spec.role.groups.iter().map(|g| ident(g)).collect();
    let (limit, verifier) = (spec.role.connection_limit, literal(spec.verifier));
    let mut statements = if exists {
        vec![
            format!("ALTER ROLE {name} WITH LOGIN INHERIT CONNECTION LIMIT {limit} PASSWORD {verifier} VALID UNTIL {until}"),
            format!("GRANT {} TO {name}", groups.join(", ")),
        ]
    } else {
        vec![format!(
            "CREATE ROLE {name} WITH LOGIN INHERIT CONNECTION LIMIT {limit} PASSWORD {verifier} VALID UNTIL {until} IN ROLE {}",
            groups.join(", ")
        )]
    };
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
    statements.join(";\n")
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
}
