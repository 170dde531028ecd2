//! A database of its own for database-login tests, on the test PostgreSQL: the broker's
//! role as a DBA would make it (LOGIN CREATEROLE, pg_signal_backend, each group WITH ADMIN
//! OPTION), two groups (`<p>_ro` may read `readable`; `<p>_rw` may also write it and create
//! tables), a `secret` table no group may read, and a policy directory whose `db:test`
//! resource points at it. Every name carries a fresh prefix: roles are cluster-wide and
//! tests run side by side.

use std::path::{Path, PathBuf};

use sqlx::{Connection, PgConnection};

use crate::helpers::{fresh_postgres, fresh_postgres_at, PgDb};

pub struct DbFixture {
    pub db: PgDb,
    /// Prefix of every role made here.
    pub prefix: String,
    /// The broker's role.
    pub admin: String,
    /// The database's name.
    pub name: String,
    /// Where its server listens (`host:port`).
    pub server: String,
    pub policy: tempfile::TempDir,
    /// Logins the tests were given, dropped at the end whatever became of them.
    pub logins: std::sync::Mutex<Vec<String>>,
}

pub const POLICY: &str = "p, group:eng, db:*, request, allow
p, group:eng, db:*#*, auto_approve, allow
p, group:admin, broker, admin, allow
p, group:admin, *, review, allow
";

impl DbFixture {
    /// `None` where PostgreSQL is missing (a skip outside CI).
    pub async fn new() -> Option<Self> {
        Self::with(true).await
    }

    /// With or without the grants the broker's role needs.
    pub async fn with(granted: bool) -> Option<Self> {
        Self::made(fresh_postgres().await?, granted).await
    }

    /// On another server (`admin_url`: a superuser's connection to it).
    pub async fn at(admin_url: &str, granted: bool) -> Option<Self> {
        Self::made(fresh_postgres_at(admin_url).await?, granted).await
    }

    async fn made(db: PgDb, granted: bool) -> Option<Self> {
        let url = url::Url::parse(&db.url).unwrap();
        let name = url.path().trim_start_matches('/').to_string();
        let server = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
        let prefix = format!("t{}", &name[name.len() - 10..]);
        let admin = format!("{prefix}_admin");
        let mut su = PgConnection::connect(&db.admin_url()).await.unwrap();
        let mut setup = vec![
            format!("CREATE ROLE {admin} LOGIN CREATEROLE"),
            format!("CREATE ROLE {prefix}_ro NOLOGIN"),
            format!("CREATE ROLE {prefix}_rw NOLOGIN"),
        ];
        if !granted {
            // Groups then connect only if granted CONNECT themselves.
            setup.push(format!("REVOKE CONNECT ON DATABASE {name} FROM PUBLIC"));
        } else {
            setup.extend([
                format!("GRANT pg_signal_backend TO {admin}"),
                format!("GRANT {prefix}_ro TO {admin} WITH ADMIN OPTION"),
                format!("GRANT {prefix}_rw TO {admin} WITH ADMIN OPTION"),
                format!("GRANT CONNECT ON DATABASE {name} TO {prefix}_ro, {prefix}_rw"),
            ]);
        }
        for s in setup {
            sqlx::raw_sql(&s).execute(&mut su).await.unwrap();
        }
        let mut c = PgConnection::connect(&db.url).await.unwrap();
        for s in [
            "CREATE TABLE readable (id int PRIMARY KEY, v text)".to_string(),
            "INSERT INTO readable VALUES (1, 'one'), (2, 'two')".into(),
            "CREATE TABLE secret (v text)".into(),
            "INSERT INTO secret VALUES ('do not read')".into(),
            format!("GRANT USAGE ON SCHEMA public TO {prefix}_ro, {prefix}_rw"),
            format!("GRANT SELECT ON readable TO {prefix}_ro"),
            format!("GRANT SELECT, INSERT, UPDATE ON readable TO {prefix}_rw"),
            format!("GRANT CREATE ON SCHEMA public TO {prefix}_rw"),
        ] {
            sqlx::raw_sql(&s).execute(&mut c).await.unwrap();
        }
        let policy = tempfile::tempdir().unwrap();
        let fixture = Self {
            db,
            prefix,
            admin,
            name,
            server,
            policy,
            logins: Default::default(),
        };
        fixture.write_policy(&fixture.catalogue(&[]));
        Some(fixture)
    }

    /// The catalogue: `db:test` with `readonly` and `write`, plus `extra` TOML at the end.
    pub fn catalogue(&self, extra: &[&str]) -> String {
        let (p, admin, name, server) = (&self.prefix, &self.admin, &self.name, &self.server);
        format!(
            r#"[[resource]]
name = "db:test"
kind = "db"
description = "test database"

[resource.db]
dsn = "postgres://{admin}@{server}/{name}"
sslmode = "disable"

[[resource.role]]
name = "readonly"
default_duration = "1h"
max_duration = "8h"
max_extensions = 3
auto_approve = true

[resource.role.db]
groups = ["{p}_ro"]
connection_limit = 3
statement_timeout = "30s"

[[resource.role]]
name = "write"
default_duration = "1h"
max_duration = "8h"
auto_approve = true

[resource.role.db]
groups = ["{p}_rw"]
{}
"#,
            extra.join("\n")
        )
    }

    pub fn write_policy(&self, catalogue: &str) {
        let dir = self.policy.path();
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        std::fs::copy(shipped.join("model.conf"), dir.join("model.conf")).unwrap();
        std::fs::write(dir.join("policy.csv"), POLICY).unwrap();
        std::fs::write(dir.join("catalogue.toml"), catalogue).unwrap();
    }

    pub fn policy_dir(&self) -> PathBuf {
        self.policy.path().to_path_buf()
    }

    /// A superuser connection to the fixture's database.
    pub async fn superuser(&self) -> PgConnection {
        PgConnection::connect(&self.db.url).await.unwrap()
    }

    /// The fixture's logins still on the server (`lk_` roles that are members of, or were
    /// made by, its groups are not distinguishable once dropped: this lists every `lk_`
    /// role named in `logins`).
    pub async fn existing(&self, logins: &[String]) -> Vec<String> {
        let mut c = self.superuser().await;
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT rolname::text FROM pg_roles WHERE rolname = ANY($1) ORDER BY 1",
        )
        .bind(logins)
        .fetch_all(&mut c)
        .await
        .unwrap();
        names
    }

    /// Remembers a login the broker gave, to drop it at the end.
    pub fn track(&self, creds: &serde_json::Value) {
        let user = creds["user"].as_str().unwrap().to_string();
        let mut logins = self.logins.lock().unwrap();
        if !logins.contains(&user) {
            logins.push(user);
        }
    }

    /// Drops the database (and the objects in it), then the logins and roles made here.
    pub async fn drop_all(self) {
        let mut su = PgConnection::connect(&self.db.admin_url()).await.unwrap();
        let logins = self.logins.lock().unwrap().clone();
        self.db.drop_db().await;
        for r in logins {
            let _ = sqlx::raw_sql(&format!("DROP ROLE IF EXISTS \"{r}\""))
                .execute(&mut su)
                .await;
        }
        for r in ["ro", "rw", "admin"] {
            let _ = sqlx::raw_sql(&format!("DROP ROLE IF EXISTS {}_{r}", self.prefix))
                .execute(&mut su)
                .await;
        }
    }
}

/// Connects as a login with the credentials the broker gave.
pub async fn connect_as(c: &serde_json::Value) -> Result<PgConnection, sqlx::Error> {
    let options = sqlx::postgres::PgConnectOptions::new()
        .host(c["host"].as_str().unwrap())
        .port(c["port"].as_u64().unwrap() as u16)
        .database(c["database"].as_str().unwrap())
        .username(c["user"].as_str().unwrap())
        .password(c["password"].as_str().unwrap())
        .ssl_mode(sqlx::postgres::PgSslMode::Disable);
    PgConnection::connect_with(&options).await
}
