//! Before database logins are handed out: a development server makes the example
//! databases and roles on its loopback PostgreSQL, and every broker checks, for each
//! database of the catalogue, that its own role holds what it needs (CREATEROLE,
//! `pg_signal_backend`, each group WITH ADMIN OPTION from PostgreSQL 16, the groups'
//! CONNECT), naming each missing grant with the statement that gives it.

use std::collections::BTreeMap;

use crate::adapters::providers::postgres::{PgError, Postgres};
use crate::adapters::providers::postgres_check::Problem;
use crate::adapters::providers::postgres_dev::{bootstrap, Wanted};
use crate::app::core::Core;
use crate::model::policy::db::DbConnection;

/// Each database of the catalogue, with the groups its roles hand out there and the
/// catalogue role each serves.
pub fn databases(core: &Core) -> BTreeMap<String, (DbConnection, BTreeMap<String, String>)> {
    let policy = core.policy.current();
    let mut all: BTreeMap<String, (DbConnection, BTreeMap<String, String>)> = BTreeMap::new();
    for r in policy.catalogue.resources.values() {
        for role in r.roles.values() {
            if let Some(db) = &role.db {
                let entry = all
                    .entry(db.connection.target.clone())
                    .or_insert_with(|| (db.connection.clone(), BTreeMap::new()));
                for g in &db.groups {
                    entry
                        .1
                        .entry(g.clone())
                        .or_insert_with(|| role.name.clone());
                }
            }
        }
    }
    all
}

/// What the check found on one database.
pub struct Checked {
    /// `host:port/database`.
    pub target: String,
    /// The broker's role there.
    pub admin_user: String,
    /// What is missing (empty: all is well), or why it could not be checked.
    pub found: Result<Vec<Problem>, PgError>,
}

/// Checks every database of the catalogue.
pub async fn check(core: &Core, postgres: &Postgres) -> Vec<Checked> {
    let mut out = Vec::new();
    for (target, (conn, groups)) in databases(core) {
        let groups: Vec<&str> = groups.keys().map(String::as_str).collect();
        out.push(Checked {
            target,
            admin_user: conn.admin_user.clone(),
            found: postgres.check(&conn, &groups).await,
        });
    }
    out
}

/// Checks every database and logs what is wrong, one error per missing grant.
pub async fn check_and_log(core: &Core, postgres: &Postgres) {
    for c in check(core, postgres).await {
        match c.found {
            Ok(problems) if problems.is_empty() => {
                tracing::info!(target = %c.target, role = %c.admin_user, "database logins: the broker's role holds what it needs")
            }
            Ok(problems) => {
                for p in problems {
                    tracing::error!(target = %c.target, missing = %p.what, fix = %p.fix, "database logins: the broker's role lacks a grant; logins there will fail until a DBA runs the fix");
                }
            }
            Err(e) => {
                tracing::warn!(target = %c.target, code = e.code(), error = %e, "database logins: not checked; logins there fail until it answers")
            }
        }
    }
}

/// In development mode: makes the catalogue's loopback databases, the broker's role and
/// the groups, and says so.
pub async fn prepare_dev(core: &Core) {
    let Some(superuser) = &core.config.dev_postgres else {
        return;
    };
    let wanted: Vec<Wanted> = databases(core)
        .into_values()
        .filter(|(c, _)| matches!(c.host.as_str(), "127.0.0.1" | "localhost" | "::1"))
        .map(|(connection, groups)| Wanted { connection, groups })
        .collect();
    if wanted.is_empty() {
        return;
    }
    match bootstrap(superuser, &wanted).await {
        Ok(made) => {
            for w in &wanted {
                let c = &w.connection;
                let groups: Vec<&String> = w.groups.keys().collect();
                tracing::warn!(
                    target = %c.target, role = %c.admin_user, ?groups, made_database = made.contains(&c.database),
                    "development mode: made (where missing) this database, the broker's role and the group roles on the local PostgreSQL, for the example catalogue's db resources"
                );
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "development mode: no PostgreSQL to make the example databases on (set development.postgres, or off); db resources will not work")
        }
    }
}
