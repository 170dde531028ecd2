//! The binary: start-up refusals that say what to set, the dev walkthrough, SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

pub(crate) fn latchkey(config_home: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("XDG_CONFIG_HOME", config_home)
        .env("HOME", config_home);
    c
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn refusal(args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = latchkey(dir.path());
    cmd.args(args).current_dir(dir.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "expected a refusal for {args:?}");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn serve_without_a_provider_says_what_to_set() {
    let err = refusal(&["serve"], &[]);
    assert!(
        err.contains("LATCHKEY_OIDC_ISSUER") && err.contains("--dev"),
        "{err}"
    );
}

#[test]
fn serve_refuses_plain_http_off_loopback() {
    let env = [
        ("LATCHKEY_OIDC_ISSUER", "https://idp.example.com"),
        ("LATCHKEY_OIDC_CLIENT_ID", "cli"),
    ];
    let err = refusal(&["serve", "--listen", "0.0.0.0:0"], &env);
    assert!(
        err.contains("behind_tls_proxy") && err.contains("tls.cert"),
        "{err}"
    );
    let err = refusal(&["serve", "--dev", "--listen", "0.0.0.0:0"], &[]);
    assert!(err.contains("loopback"), "{err}");
}

#[test]
fn a_bad_config_file_or_variable_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latchkey.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\n[oidc]\nisuer = \"typo\"\n",
    )
    .unwrap();
    let err = refusal(&["serve", "--config", file.to_str().unwrap()], &[]);
    assert!(err.contains("isuer"), "{err}");
    let err = refusal(
        &["serve", "--dev"],
        &[("LATCHKEY_SESSION_LIFETIME", "forever")],
    );
    assert!(err.contains("LATCHKEY_SESSION_LIFETIME"), "{err}");
}

/// `latchkey serve --dev` on a free port with its state in `dir`, ready; stderr is piped.
/// Runs a CLI command to its end: exit code, stdout, stderr.
pub(crate) fn outcome(cmd: &mut Command) -> (Option<i32>, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

pub(crate) fn dev_server(
    dir: &std::path::Path,
    policy: &std::path::Path,
) -> (String, std::process::Child) {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = latchkey(dir)
        .args([
            "serve",
            "--dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.join("state"))
        .env("LATCHKEY_POLICY_DIR", policy)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&url, &mut server);
    (url, server)
}

pub(crate) fn wait_ready(url: &str, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(resp) = raw_http::get(&format!("{url}/readyz")) {
            if resp == 200 {
                return;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the server exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the server did not become ready");
}

/// A tiny blocking GET without pulling in reqwest's blocking client.
mod raw_http {
    pub fn get(url: &str) -> std::io::Result<u16> {
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest
            .split_once('/')
            .map(|(h, p)| (h, format!("/{p}")))
            .unwrap();
        let mut s = std::net::TcpStream::connect(host)?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )?;
        let mut buf = String::new();
        s.read_to_string(&mut buf)?;
        Ok(buf.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0))
    }
}

#[test]
fn the_dev_walkthrough_works_from_the_binary_and_sigterm_stops_it_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (url, mut server) = dev_server(
        dir.path(),
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/policies")),
    );
    let run = |args: &[&str]| outcome(latchkey(dir.path()).args(args));
    let (code, out, err) = run(&[
        "login",
        "--server",
        &url,
        "--dev",
        "alice@example.com",
        "--groups",
        "eng,sre",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    // The next verbs remember the server.
    let (code, out, _) = run(&["whoami"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("alice@example.com")
            && out.contains("eng, sre")
            && out.contains(&url)
            && out.contains("development"),
        "{out}"
    );
    let (_, json, _) = run(&["whoami", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["groups"], serde_json::json!(["eng", "sre"]));
    let creds = dir.path().join("latchkey/sessions.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The example database, as the README's walkthrough shows it: the development
    // server made it on the local PostgreSQL.
    let (code, out, err) = run(&["request", "db:events", "--role", "readonly"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, err) = run(&[
        "exec",
        "db:events",
        "--",
        "psql",
        "-XAtc",
        "select count(*) > 0 from events",
    ]);
    assert_eq!((code, out.as_str()), (Some(0), "t\n"), "{err}");
    let (code, _, err) = run(&["psql", "db:events", "--", "-XAtc", "select * from payouts"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("permission denied for table payouts"), "{err}");
    // Not an administrator: exit code 4. Logged out: exit code 3.
    let (code, _, err) = run(&["lock", "bob@example.com"]);
    assert_eq!(code, Some(4), "{err}");
    let (code, _, _) = run(&["keys", "list"]);
    assert_eq!(code, Some(0));
    let (code, _, _) = run(&["logout"]);
    assert_eq!(code, Some(0));
    let (code, _, err) = run(&["whoami"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("latchkey login"), "{err}");
    // SIGTERM: a clean exit.
    let pid = server.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = server.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    let mut log = String::new();
    std::io::Read::read_to_string(server.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(log.contains("latchkey stopped"), "{log}");
    assert!(
        log.contains("development mode: made (where missing)"),
        "{log}"
    );
}

#[test]
fn migrate_applies_migrations_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let out = latchkey(dir.path())
        .args([
            "migrate",
            "--dev",
            "--database-url",
            &format!("sqlite://{}", db.display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.exists());
}

#[test]
fn the_cli_says_why_a_request_is_refused_and_wait_exits_by_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let (url, mut server) = dev_server(
        dir.path(),
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/policies")),
    );
    let home = |who: &str| dir.path().join(who);
    let run = |who: &str, args: &[&str]| outcome(latchkey(&home(who)).args(args));
    assert_eq!(
        run(
            "bob",
            &[
                "login",
                "--server",
                &url,
                "--dev",
                "bob@example.com",
                "--groups",
                "eng"
            ]
        )
        .0,
        Some(0)
    );
    assert_eq!(
        run(
            "frank",
            &[
                "login",
                "--server",
                &url,
                "--dev",
                "frank@example.com",
                "--groups",
                "security"
            ]
        )
        .0,
        Some(0)
    );
    let (code, _, err) = run(
        "bob",
        &[
            "request",
            "aws:prod",
            "--role",
            "admin",
            "--reason",
            "rotate the key now",
        ],
    );
    assert_eq!(code, Some(1));
    assert!(
        err.contains("aws:prod#admin requires a ticket (like INC-123 or CHG-123)")
            && err.contains("to make it possible: give a ticket (like INC-123 or CHG-123)"),
        "{err}"
    );
    // Every unmet term at once, not one refusal at a time.
    let (code, _, err) = run("bob", &["request", "aws:prod", "--role", "admin"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("does not meet 2 of the role's terms:\n")
            && err.contains("(reason_required, request ")
            && err.contains("  - aws:prod#admin requires a reason (at least 10 characters)")
            && err.contains("  - aws:prod#admin requires a ticket (like INC-123 or CHG-123)"),
        "{err}"
    );
    let (code, _, err) = run("bob", &["request", "aws:moon"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("known resources: aws:prod, aws:staging"),
        "{err}"
    );
    // --wait: frank denies while bob waits; bob's command exits 5.
    let mut waiting = latchkey(&home("bob"))
        .args([
            "--output",
            "json",
            "request",
            "aws:prod",
            "--role",
            "readonly",
            "--reason",
            "debugging INC-42 latency",
            "--wait",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = {
        let mut stdout = std::io::BufReader::new(waiting.stdout.take().unwrap());
        let mut doc = String::new();
        let mut line = String::new();
        while std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() > 0 {
            doc.push_str(&line);
            if line.starts_with('}') {
                break;
            }
            line.clear();
        }
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
        v["request"]["id"].as_str().unwrap().to_string()
    };
    let (code, out, err) = run("frank", &["deny", &id, "--reason", "use staging"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let status = waiting.wait().unwrap();
    assert_eq!(status.code(), Some(5));
    // The requester reads why, in the denier's words: at the end of --wait and in `show`.
    let mut waited = String::new();
    std::io::Read::read_to_string(waiting.stderr.as_mut().unwrap(), &mut waited).unwrap();
    assert!(
        waited.contains(r#"denied by frank@example.com: "use staging""#),
        "{waited}"
    );
    let (code, out, err) = run("bob", &["show", &id]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(r#"denied by frank@example.com: "use staging""#),
        "{out}"
    );
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn policy_test_and_check_exit_non_zero_on_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policies");
    std::fs::create_dir_all(policy.join("tests")).unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for f in ["catalogue.toml", "model.conf", "policy.csv"] {
        std::fs::copy(src.join(f), policy.join(f)).unwrap();
    }
    std::fs::write(
        policy.join("tests/wrong.toml"),
        "[[case]]\nname = \"engineers get production admin at once\"\nuser = \"bob@example.com\"\ngroups = [\"eng\"]\nresource = \"aws:prod\"\nrole = \"admin\"\nexpect = \"auto_approved\"\n",
    )
    .unwrap();
    let out = latchkey(dir.path())
        .args(["policy", "test"])
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL  wrong: engineers get production admin at once")
            && text.contains("0 passed, 1 failed"),
        "{text}"
    );
    let out = latchkey(dir.path())
        .args(["policy", "check"])
        .arg(&policy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::fs::write(
        policy.join("policy.csv"),
        "p, group:eng, aws:prd#*, request, allow\n",
    )
    .unwrap();
    let out = latchkey(dir.path())
        .args(["policy", "check"])
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("names no known resource") && text.contains("nobody may review"),
        "{text}"
    );
}

#[test]
fn sighup_reloads_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policies");
    std::fs::create_dir_all(&policy).unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for f in ["catalogue.toml", "model.conf", "policy.csv"] {
        std::fs::copy(src.join(f), policy.join(f)).unwrap();
    }
    let (url, mut server) = dev_server(dir.path(), &policy);
    // Change the rules but keep the file's time, so only the signal can reveal the change.
    let csv = policy.join("policy.csv");
    let reference = dir.path().join("mtime");
    assert!(Command::new("touch")
        .arg("-r")
        .arg(&csv)
        .arg(&reference)
        .status()
        .unwrap()
        .success());
    let text = std::fs::read_to_string(&csv).unwrap();
    std::fs::write(
        &csv,
        format!("{text}\np, group:eng, aws:prod#readonly, auto_approve, allow\n"),
    )
    .unwrap();
    assert!(Command::new("touch")
        .arg("-r")
        .arg(&reference)
        .arg(&csv)
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_millis(2500));
    assert!(Command::new("kill")
        .args(["-HUP", &server.id().to_string()])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_millis(500));
    let home = dir.path().join("bob");
    let out = latchkey(&home)
        .args([
            "login",
            "--server",
            &url,
            "--dev",
            "bob@example.com",
            "--groups",
            "eng",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = latchkey(&home)
        .args([
            "--output",
            "json",
            "request",
            "aws:prod",
            "--role",
            "readonly",
            "--reason",
            "debugging INC-42 latency",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["request"]["state"], "active", "{v}");
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    let mut log = String::new();
    std::io::Read::read_to_string(server.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(
        log.contains("policy reloaded") && log.contains("by_signal=true"),
        "{log}"
    );
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish_and_name_the_verbs() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef latchkey"),
        ("fish", "complete -c latchkey"),
    ] {
        let out = latchkey(dir.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: {script}");
        for verb in ["serve", "login", "request", "audit", "completions"] {
            assert!(script.contains(verb), "{shell} names {verb}");
        }
    }
    let out = latchkey(dir.path())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn a_duration_without_a_unit_is_refused_not_guessed() {
    let dir = tempfile::tempdir().unwrap();
    let (url, mut server) = dev_server(
        dir.path(),
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/policies")),
    );
    let run = |args: &[&str]| outcome(latchkey(dir.path()).args(args));
    let login = [
        "login",
        "--server",
        &url,
        "--dev",
        "bob@example.com",
        "--groups",
        "eng",
    ];
    assert_eq!(run(&login).0, Some(0));
    // `--for 90` once made a 90-second grant and exited 0.
    let (code, _, err) = run(&["request", "aws:staging", "--role", "admin", "--for", "90"]);
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("has no unit") && err.contains("90m"), "{err}");
    // `1h1h` was read as two hours.
    let (code, _, err) = run(&["request", "aws:staging", "--role", "admin", "--for", "1h1h"]);
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("each unit once"), "{err}");
    // Nothing was requested by either.
    let (code, out, err) = run(&["--output", "json", "requests"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        serde_json::json!([])
    );
    // A token lifetime of zero is no lifetime.
    let (code, _, err) = run(&[
        "request",
        "token:metrics-api",
        "--role",
        "read",
        "--for",
        "30m",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(&["token", "token:metrics-api", "--ttl", "0s"]);
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("no time at all"), "{err}");
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn policy_explain_decides_as_if_the_terms_were_met_and_lists_them_apart() {
    let dir = tempfile::tempdir().unwrap();
    let policies = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");
    let (code, out, err) = outcome(latchkey(dir.path()).args([
        "policy",
        "explain",
        "--as",
        "bob@example.com",
        "--groups",
        "eng",
        "--resource",
        "aws:prod",
        "--role",
        "admin",
        "--policy-dir",
        policies,
    ]));
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("NEEDS REVIEW")
            && out.contains("who can approve: group:sre, group:security")
            && out.contains("a real request would also need: a reason (at least 10 characters) and a ticket (like INC-123 or CHG-123)"),
        "{out}"
    );
}

#[test]
fn each_verbs_help_lists_the_global_options_once_apart_from_its_own() {
    let dir = tempfile::tempdir().unwrap();
    for verb in ["request", "creds", "exec", "psql", "audit", "requests"] {
        let (code, out, err) = outcome(latchkey(dir.path()).args([verb, "--help"]));
        assert_eq!(code, Some(0), "{verb}: {err}");
        let (own, global) = out
            .split_once("Global options:")
            .unwrap_or_else(|| panic!("{verb} --help has no global options heading:\n{out}"));
        for option in ["--server", "--output"] {
            assert!(
                !own.contains(option),
                "{verb}: {option} among the verb's own options:\n{own}"
            );
            assert_eq!(
                global.matches(option).count(),
                1,
                "{verb}: {option} once:\n{global}"
            );
        }
    }
}
