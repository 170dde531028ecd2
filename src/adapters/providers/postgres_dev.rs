//! What a development server makes on a loopback PostgreSQL so that the example
//! catalogue's `db` resources work as shipped: for each database the catalogue names, the
//! broker's own role (`LOGIN CREATEROLE`, `pg_signal_backend`, each group WITH ADMIN
//! OPTION: exactly what a DBA would grant), the group roles, and, in a database it makes
//! itself, an `events` table the groups may use and a `payouts` table none of them may.
//! Connected as the server's superuser (`development.postgres`); every step is safe to run
//! again and alongside another development server doing the same.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use crate::adapters::providers::postgres::ident;
use crate::model::policy::db::DbConnection;
use crate::model::secret::Secret;

/// What one database needs: its connection and each group with the catalogue role it serves.
pub struct Wanted {
    /// The connection (database, the broker's role).
    pub connection: DbConnection,
    /// Group → the name of a catalogue role it serves (`readonly` gets only `SELECT`).
    pub groups: BTreeMap<String, String>,
}

/// SQLSTATEs meaning "someone did it first": duplicate database, duplicate role, a
/// concurrent change of the same catalog row, a template in use by a concurrent CREATE DATABASE.
const RACED: [&str; 4] = ["42P04", "42710", "XX000", "55006"];

async fn run(c: &mut sqlx::PgConnection, sql: &str) -> Result<(), sqlx::Error> {
    for attempt in 0..20 {
        match sqlx::raw_sql(sql).execute(&mut *c).await {
            Ok(_) => return Ok(()),
            Err(sqlx::Error::Database(db))
                if db
                    .code()
                    .as_deref()
                    .is_some_and(|c| RACED[..2].contains(&c)) =>
            {
                return Ok(())
            }
            Err(sqlx::Error::Database(db))
                if attempt < 19
                    && db
                        .code()
                        .as_deref()
                        .is_some_and(|c| RACED[2..].contains(&c)) =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Makes what `wanted` needs; returns the databases it made now.
pub async fn bootstrap(superuser: &Secret, wanted: &[Wanted]) -> Result<Vec<String>, sqlx::Error> {
    let base = PgConnectOptions::from_str(superuser.expose())?
        .application_name("latchkey-dev")
        .log_statements(tracing::log::LevelFilter::Debug);
    let mut made = Vec::new();
    let mut admin = base.connect().await?;
    for w in wanted {
        let c = &w.connection;
        let db = ident(&c.database);
        let me = ident(&c.admin_user);
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&c.database)
                .fetch_one(&mut admin)
                .await?;
        if !exists {
            run(&mut admin, &format!("CREATE DATABASE {db}")).await?;
            made.push(c.database.clone());
        }
        run(&mut admin, &format!("CREATE ROLE {me} LOGIN CREATEROLE")).await?;
        run(&mut admin, &format!("GRANT pg_signal_backend TO {me}")).await?;
        run(
            &mut admin,
            &format!("GRANT CONNECT ON DATABASE {db} TO {me}"),
        )
        .await?;
        for g in w.groups.keys() {
            let g = ident(g);
            run(&mut admin, &format!("CREATE ROLE {g} NOLOGIN")).await?;
            run(&mut admin, &format!("GRANT {g} TO {me} WITH ADMIN OPTION")).await?;
            run(
                &mut admin,
                &format!("GRANT CONNECT ON DATABASE {db} TO {g}"),
            )
            .await?;
        }
        if !exists {
            seed(&base, w).await?;
        }
    }
    admin.close().await?;
    Ok(made)
}

/// The example tables of a database made now, and what each group may do with them.
async fn seed(base: &PgConnectOptions, w: &Wanted) -> Result<(), sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(base.clone().database(&w.connection.database))
        .await?;
    let mut c = pool.acquire().await?;
    run(&mut c, "CREATE TABLE IF NOT EXISTS events (id bigserial PRIMARY KEY, event text NOT NULL, distinct_id text NOT NULL, at timestamptz NOT NULL DEFAULT now())").await?;
    run(&mut c, "CREATE TABLE IF NOT EXISTS payouts (id bigserial PRIMARY KEY, account text NOT NULL, cents bigint NOT NULL)").await?;
    run(&mut c, "INSERT INTO events (event, distinct_id) SELECT e, 'user-' || n FROM unnest(ARRAY['$pageview', 'signed_up', '$pageview', 'purchase']) WITH ORDINALITY AS t(e, n) WHERE NOT EXISTS (SELECT 1 FROM events)").await?;
    run(&mut c, "INSERT INTO payouts (account, cents) SELECT 'acct-1', 125000 WHERE NOT EXISTS (SELECT 1 FROM payouts)").await?;
    for (g, role) in &w.groups {
        let g = ident(g);
        run(&mut c, &format!("GRANT USAGE ON SCHEMA public TO {g}")).await?;
        if role.contains("read") {
            run(&mut c, &format!("GRANT SELECT ON events TO {g}")).await?;
        } else {
            run(
                &mut c,
                &format!("GRANT SELECT, INSERT, UPDATE, DELETE ON events TO {g}"),
            )
            .await?;
            run(
                &mut c,
                &format!("GRANT USAGE ON SEQUENCE events_id_seq TO {g}"),
            )
            .await?;
        }
    }
    drop(c);
    pool.close().await;
    Ok(())
}
