//! The start-up check of the broker's role on a database: what it lacks (CREATEROLE,
//! `pg_signal_backend`, CONNECT, each group WITH ADMIN OPTION from PostgreSQL 16), each
//! with the statement a DBA runs to give it.

use sqlx::Row;

use crate::adapters::providers::postgres::{ident, Postgres};
use crate::adapters::providers::postgres_error::PgError;
use crate::model::policy::db::DbConnection;

/// What the start-up check found wrong with the broker's role on one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is missing.
    pub what: String,
    /// The statement a DBA runs to fix it.
    pub fix: String,
}

impl Postgres {
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
