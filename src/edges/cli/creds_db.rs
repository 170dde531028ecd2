//! `latchkey creds db` and what `exec` and `psql` give a libpq client: the grant's login
//! as text, libpq's environment variables, a URI, JSON, or a line of a pgpass file (the
//! only form that touches disk, 0600). The password is otherwise only printed or passed in
//! the child's environment.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::ValueEnum;
use serde_json::json;

use crate::edges::cli::client::ApiClient;
use crate::edges::cli::error::CliError;
use crate::model::wire::DbCredentials;

/// How `creds db` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DbFormat {
    /// For people: one field per line.
    Text,
    /// `export PGHOST=…` lines for a shell (libpq's variables).
    Env,
    /// A `postgresql://` connection URI.
    Uri,
    /// The broker's answer.
    Json,
    /// Writes the login to your pgpass file (mode 0600) and prints the variables without the password.
    Pgpass,
}

/// The grant's login for `resource`.
pub async fn db_credentials(api: &ApiClient, resource: &str) -> Result<DbCredentials, CliError> {
    Ok(api
        .post("/v1/credentials/db", &json!({ "resource": resource }))
        .await?)
}

/// libpq's variables for a login (with the password or not).
pub fn libpq_env(c: &DbCredentials, with_password: bool) -> Vec<(&'static str, String)> {
    let mut vars = vec![
        ("PGHOST", c.host.clone()),
        ("PGPORT", c.port.to_string()),
        ("PGDATABASE", c.database.clone()),
        ("PGUSER", c.user.clone()),
        ("PGSSLMODE", c.sslmode.clone()),
    ];
    if with_password {
        vars.push(("PGPASSWORD", c.password.clone()));
    }
    vars
}

/// Variables that would send a libpq client somewhere else than the login says.
pub const LIBPQ_OVERRIDES: [&str; 3] = ["PGSERVICE", "PGSERVICEFILE", "PGHOSTADDR"];

/// `'value'` for a POSIX shell.
fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

/// The login as a `postgresql://` URI.
pub fn uri(c: &DbCredentials) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let host = if c.host.contains(':') {
        format!("[{}]", c.host)
    } else {
        c.host.clone()
    };
    format!(
        "postgresql://{}:{}@{host}:{}/{}?sslmode={}",
        enc(&c.user),
        enc(&c.password),
        c.port,
        enc(&c.database),
        c.sslmode
    )
}

/// A pgpass field: `:` and `\` escaped.
fn pgpass_field(v: &str) -> String {
    v.replace('\\', "\\\\").replace(':', "\\:")
}

/// The pgpass file libpq reads: `$PGPASSFILE`, else `~/.pgpass`.
pub fn pgpass_path() -> Result<PathBuf, CliError> {
    if let Some(p) = std::env::var_os("PGPASSFILE") {
        return Ok(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME")
        .ok_or_else(|| CliError::Other(anyhow::anyhow!("HOME is not set; set PGPASSFILE")))?;
    Ok(Path::new(&home).join(".pgpass"))
}

/// Puts the login's line in the pgpass file (replacing an earlier line for the same
/// login), keeping the file 0600, as libpq requires.
pub fn write_pgpass(path: &Path, c: &DbCredentials) -> Result<(), CliError> {
    let line = [
        c.host.as_str(),
        &c.port.to_string(),
        &c.database,
        &c.user,
        &c.password,
    ]
    .map(pgpass_field)
    .join(":");
    let prefix = format!(
        "{}:",
        [c.host.as_str(), &c.port.to_string(), &c.database, &c.user]
            .map(pgpass_field)
            .join(":")
    );
    let old = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(anyhow::Error::from(e)
                .context(format!("reading {}", path.display()))
                .into())
        }
    };
    let mut text: String = old
        .lines()
        .filter(|l| !l.starts_with(&prefix))
        .map(|l| format!("{l}\n"))
        .collect();
    text.push_str(&line);
    text.push('\n');
    // Written beside it and renamed over it: never a moment with a readable or half file.
    let tmp = path.with_extension(format!("latchkey-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
        .context("making the pgpass file private")?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Runs `creds db`.
pub async fn run(api: &ApiClient, resource: &str, format: DbFormat) -> Result<(), CliError> {
    let c = db_credentials(api, resource).await?;
    let until = c
        .expires_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match format {
        DbFormat::Text => {
            println!("host:     {}", c.host);
            println!("port:     {}", c.port);
            println!("database: {}", c.database);
            println!("user:     {}", c.user);
            println!("password: {}", c.password);
            println!("sslmode:  {}", c.sslmode);
            println!("groups:   {}", c.groups.join(", "));
            println!("until:    {until} (the login is dropped and its sessions ended when grant {} ends)", c.grant_id);
        }
        DbFormat::Env => {
            for (k, v) in libpq_env(&c, true) {
                println!("export {k}={}", shell_quote(&v));
            }
        }
        DbFormat::Uri => println!("{}", uri(&c)),
        DbFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&c).map_err(anyhow::Error::from)?
        ),
        DbFormat::Pgpass => {
            let path = pgpass_path()?;
            write_pgpass(&path, &c)?;
            eprintln!(
                "wrote the password of {} to {} (mode 0600); it stops working at {until}",
                c.user,
                path.display()
            );
            for (k, v) in libpq_env(&c, false) {
                println!("export {k}={}", shell_quote(&v));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> DbCredentials {
        DbCredentials {
            host: "db.internal".into(),
            port: 5432,
            database: "events".into(),
            user: "lk_alice_12345678".into(),
            password: "p@ss:w/rd'x".into(),
            sslmode: "require".into(),
            groups: vec!["events_ro".into()],
            expires_at: chrono::Utc::now(),
            grant_id: "g".into(),
            role: "readonly".into(),
            created: true,
        }
    }

    #[test]
    fn the_uri_escapes_what_it_must() {
        assert_eq!(
            uri(&creds()),
            "postgresql://lk%5Falice%5F12345678:p%40ss%3Aw%2Frd%27x@db.internal:5432/events?sslmode=require"
        );
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn the_pgpass_line_replaces_its_earlier_one_and_stays_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        std::fs::write(
            &path,
            "other:5432:*:bob:secret\ndb.internal:5432:events:lk_alice_12345678:old\n",
        )
        .unwrap();
        write_pgpass(&path, &creds()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "other:5432:*:bob:secret\ndb.internal:5432:events:lk_alice_12345678:p@ss\\:w/rd'x\n"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
