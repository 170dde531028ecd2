//! Database logins through the CLI as a user runs it: `exec … -- psql`, `psql`, and each
//! `creds db` format, with psql itself on the other end.

use serde_json::Value;

use crate::db::broker;
use crate::db_fixture::DbFixture;

/// The CLI as a user runs it: `exec … -- psql`, `psql`, and each `creds db` format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_runs_psql_with_the_grants_login_and_prints_every_format() {
    let Some(f) = DbFixture::new().await else {
        return;
    };
    let Ok(psql) = which("psql") else {
        crate::helpers::missing_peer("psql (Debian: postgresql-client)");
        return;
    };
    let app = broker(&f, None).await;
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = crate::cli_and_config::latchkey(home.path())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, _, err) = run(&[
        "login",
        "--server",
        &app.url,
        "--dev",
        "bob@example.com",
        "--groups",
        "eng",
    ]);
    assert_eq!(code, Some(0), "{err}");
    // No grant yet: a clear refusal naming the command to run.
    let (code, _, err) = run(&["exec", "db:test", "--", "psql", "-c", "select 1"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("latchkey request db:test"), "{err}");
    let (code, _, err) = run(&["request", "db:test", "--role", "readonly", "--for", "1h"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = run(&[
        "exec",
        "db:test",
        "--",
        &psql,
        "-XAtc",
        "select v from readable order by id",
    ]);
    assert_eq!((code, out.as_str()), (Some(0), "one\ntwo\n"), "{err}");
    // Exactly the group's privileges: psql's own refusal, its exit code passed on.
    let (code, _, err) = run(&[
        "exec",
        "db:test",
        "--",
        &psql,
        "-XAtc",
        "select * from secret",
        "-v",
        "ON_ERROR_STOP=1",
    ]);
    assert_ne!(code, Some(0));
    assert!(err.contains("permission denied for table secret"), "{err}");
    let (code, out, err) = run(&["psql", "db:test", "--", "-XAtc", "select current_user"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("lk_bob_"), "{out}");
    let (_, json_out, _) = run(&["creds", "db", "db:test", "--format", "json"]);
    let creds: Value = serde_json::from_str(&json_out).unwrap();
    f.track(&creds);
    assert_eq!(creds["user"], out.trim());
    let (_, env_out, _) = run(&["creds", "db", "db:test", "--format", "env"]);
    assert!(
        env_out.contains(&format!(
            "export PGUSER='{}'",
            creds["user"].as_str().unwrap()
        )),
        "{env_out}"
    );
    assert!(env_out.contains("export PGPASSWORD='"), "{env_out}");
    let (_, uri_out, _) = run(&["creds", "db", "db:test", "--format", "uri"]);
    let (code, out, err) = run(&[
        "exec",
        "db:test",
        "--",
        &psql,
        uri_out.trim(),
        "-XAtc",
        "select 1",
    ]);
    assert_eq!((code, out.as_str()), (Some(0), "1\n"), "{err}");
    // pgpass: the one format that writes the password, 0600, and prints no password.
    let (code, out, err) = run(&["creds", "db", "db:test", "--format", "pgpass"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !out.contains("PGPASSWORD") && !out.contains(creds["password"].as_str().unwrap()),
        "{out}"
    );
    let pgpass = home.path().join(".pgpass");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&pgpass).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let mut cmd = std::process::Command::new(&psql);
    cmd.args(["-XAtc", "select 2"])
        .env("PGPASSFILE", &pgpass)
        .env_remove("PGPASSWORD");
    for line in out.lines() {
        let (k, v) = line.trim_start_matches("export ").split_once('=').unwrap();
        cmd.env(k, v.trim_matches('\''));
    }
    let done = cmd.output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&done.stdout),
        "2\n",
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    app.stop().await.unwrap();
    f.drop_all().await;
}

fn which(program: &str) -> Result<String, ()> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| std::path::Path::new(d).join(program))
        .find(|p| p.is_file())
        .map(|p| p.to_string_lossy().to_string())
        .ok_or(())
}
