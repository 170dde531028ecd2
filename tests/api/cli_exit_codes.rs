//! The exit codes are a contract: the README's table lists them, and each one is made
//! here by running the binary, in text and with `--output json`. With JSON, stdout's last
//! line is one object whose `exit_code` is the process's, so scripts never read stderr.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Stdio};

use serde_json::Value;

use crate::cli_and_config::{dev_server, latchkey, outcome};

/// The codes of the README's exit-code table (rows "| `N` | … |" under "Exit codes").
fn documented_codes() -> BTreeSet<i32> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let table = readme
        .split_once("| exit code | meaning |")
        .expect("the README has an exit-code table")
        .1;
    table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cell = l.split('|').nth(1).unwrap().trim().trim_matches('`');
            cell.parse()
                .unwrap_or_else(|_| panic!("exit code cell {cell:?}"))
        })
        .collect()
}

/// The one JSON failure object: stdout's last line.
fn failure(stdout: &str) -> Value {
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty());
    let last = last.unwrap_or_else(|| panic!("no JSON failure on stdout: {stdout:?}"));
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"))
}

/// Runs `args` as `home`'s user in text and in JSON: both exit `code`; the JSON failure
/// object (returned) says the same exit code and has every field.
fn expect(home: &Path, args: &[&str], code: i32) -> Value {
    let (got, out, err) = outcome(latchkey(home).args(args));
    assert_eq!(got, Some(code), "{args:?}: {out}{err}");
    assert!(
        err.starts_with("error: "),
        "{args:?}: a line for people: {err}"
    );
    let (got, out, err) = outcome(latchkey(home).args(["--output", "json"]).args(args));
    assert_eq!(got, Some(code), "{args:?} --output json: {out}{err}");
    let v = failure(&out);
    assert_eq!(out.trim().lines().count(), 1, "exactly one object: {out}");
    assert_eq!(v["exit_code"], code, "{v}");
    assert!(v["code"].as_str().is_some_and(|c| !c.is_empty()), "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(v.get("request_id").is_some(), "{v}");
    v
}

fn login(home: &Path, url: &str, email: &str, groups: &str) {
    let args = ["login", "--server", url, "--dev", email, "--groups", groups];
    let (code, out, err) = outcome(latchkey(home).args(args));
    assert_eq!(code, Some(0), "{out}{err}");
}

/// `request … --wait --output json` started, with the id of the request it made.
fn waiting(home: &Path, args: &[&str]) -> (Child, BufReader<ChildStdout>, String) {
    let mut child = latchkey(home)
        .args(["--output", "json", "request"])
        .args(args)
        .arg("--wait")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (mut doc, mut line) = (String::new(), String::new());
    while stdout.read_line(&mut line).unwrap() > 0 {
        doc.push_str(&line);
        if line.starts_with('}') {
            break;
        }
        line.clear();
    }
    let v: Value = serde_json::from_str(&doc).unwrap_or_else(|e| panic!("{e}: {doc}"));
    assert_eq!(v["request"]["state"], "pending", "{v}");
    let id = v["request"]["id"].as_str().unwrap().to_string();
    (child, stdout, id)
}

/// How a `--wait` ended: its exit code and what followed the request on stdout.
fn ended(mut child: Child, mut stdout: BufReader<ChildStdout>) -> (Option<i32>, String) {
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    (child.wait().unwrap().code(), rest)
}

/// The example policy, with production administration expiring 2 s after it is asked.
fn policy_in(dir: &Path) -> PathBuf {
    let policy = dir.join("policies");
    std::fs::create_dir_all(&policy).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for f in ["catalogue.toml", "model.conf", "policy.csv"] {
        std::fs::copy(src.join(f), policy.join(f)).unwrap();
    }
    let catalogue = std::fs::read_to_string(policy.join("catalogue.toml")).unwrap();
    let short = catalogue.replacen("pending_timeout = \"30m\"", "pending_timeout = \"2s\"", 1);
    assert_ne!(short, catalogue);
    std::fs::write(policy.join("catalogue.toml"), short).unwrap();
    policy
}

#[test]
fn every_documented_exit_code_is_what_the_binary_exits_with() {
    use latchkey::edges::cli::exit;
    let dir = tempfile::tempdir().unwrap();
    let (url, mut server) = dev_server(dir.path(), &policy_in(dir.path()));
    let home = |who: &str| dir.path().join(who);
    let (bob, frank, ann) = (home("bob"), home("frank"), home("ann"));
    login(&bob, &url, "bob@example.com", "eng");
    login(&frank, &url, "frank@example.com", "security");
    login(&ann, &url, "ann@example.com", "auditor");
    let mut seen = BTreeSet::new();
    let readonly = [
        "aws:prod",
        "--role",
        "readonly",
        "--reason",
        "debugging INC-42 latency",
    ];

    // 0: success, and with --wait an approved request.
    let (code, out, err) = outcome(latchkey(&bob).args(["whoami"]));
    assert_eq!(code, Some(0), "{out}{err}");
    let (child, stdout, id) = waiting(&bob, &readonly);
    assert_eq!(outcome(latchkey(&frank).args(["approve", &id])).0, Some(0));
    assert_eq!(ended(child, stdout).0, Some(0));
    seen.insert(0);

    // 1: a refusal of the request's input (the message says what to change), a broker
    // that cannot be reached, a local file that cannot be read.
    let admin = [
        "request",
        "aws:prod",
        "--role",
        "admin",
        "--reason",
        "rotate the key now",
    ];
    let v = expect(&bob, &admin, i32::from(exit::FAILURE));
    assert_eq!(v["code"], "ticket_required", "{v}");
    assert!(
        v["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{v}"
    );
    assert!(v["hint"].as_str().is_some(), "{v}");
    let nowhere = [
        "login",
        "--server",
        "http://127.0.0.1:1",
        "--dev",
        "x@example.com",
    ];
    let v = expect(&home("nobody"), &nowhere, 1);
    assert_eq!(
        (&v["code"], &v["request_id"]),
        (&"unreachable".into(), &Value::Null)
    );
    let v = expect(&bob, &["policy", "test", "/nonexistent/policies"], 1);
    assert_eq!(v["code"], "io_error", "{v}");
    seen.insert(1);

    // 2: usage errors, a malformed flag value among them, before anything is asked.
    let v = expect(&bob, &["request", "aws:staging", "--for", "90"], 2);
    assert_eq!(
        (&v["code"], &v["request_id"]),
        (&"usage".into(), &Value::Null)
    );
    assert!(
        v["message"].as_str().unwrap().contains("has no unit"),
        "{v}"
    );
    expect(&bob, &["whoami", "--frobnicate"], i32::from(exit::USAGE));
    expect(
        &bob,
        &[
            "audit",
            "export",
            "--from",
            "July",
            "--to",
            "2026-07-02",
            "--out",
            "x",
        ],
        2,
    );
    seen.insert(2);

    // 3: not logged in.
    let v = expect(
        &home("nobody"),
        &["whoami"],
        i32::from(exit::UNAUTHENTICATED),
    );
    assert_eq!(v["code"], "not_logged_in", "{v}");
    seen.insert(3);

    // 4: not allowed: the policy refuses, or the verb is for administrators.
    let v = expect(&ann, &["request", "aws:staging", "--role", "admin"], 4);
    assert_eq!(v["code"], "not_allowed", "{v}");
    assert!(
        v["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{v}"
    );
    expect(
        &bob,
        &["lock", "frank@example.com"],
        i32::from(exit::FORBIDDEN),
    );
    seen.insert(4);

    // 5, 6, 7: --wait ends denied, expired, cancelled; the last line says so.
    let (child, stdout, id) = waiting(&bob, &readonly);
    let denied = outcome(latchkey(&frank).args(["deny", &id, "--reason", "use staging"]));
    assert_eq!(denied.0, Some(0));
    let (code, rest) = ended(child, stdout);
    assert_eq!(code, Some(i32::from(exit::DENIED)));
    assert_eq!(
        (
            failure(&rest)["code"].clone(),
            failure(&rest)["exit_code"].clone()
        ),
        ("denied".into(), 5.into())
    );
    seen.insert(5);
    let ticketed = [
        "aws:prod",
        "--role",
        "admin",
        "--reason",
        "rotate the key now",
        "--ticket",
        "INC-7",
    ];
    let (child, stdout, _) = waiting(&bob, &ticketed);
    let (code, rest) = ended(child, stdout);
    assert_eq!(
        (code, failure(&rest)["exit_code"].clone()),
        (Some(6), 6.into())
    );
    seen.insert(6);
    let (child, stdout, id) = waiting(&bob, &readonly);
    assert_eq!(outcome(latchkey(&bob).args(["cancel", &id])).0, Some(0));
    let (code, rest) = ended(child, stdout);
    assert_eq!(
        (code, failure(&rest)["exit_code"].clone()),
        (Some(7), 7.into())
    );
    seen.insert(7);

    // 8: an evidence bundle that does not verify; its report is the failure's details.
    let key = dir.path().join("audit-key.jwk");
    let (code, jwk, err) = outcome(latchkey(&ann).args(["audit", "key"]));
    assert_eq!(code, Some(0), "{err}");
    std::fs::write(&key, jwk).unwrap();
    let bundle = dir.path().join("bundle");
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let export = ["audit", "export", "--from", &today, "--to", &today, "--out"];
    let (code, out, err) = outcome(latchkey(&ann).args(export).arg(&bundle));
    assert_eq!(code, Some(0), "{out}{err}");
    let events = bundle.join("events.jsonl");
    let text = std::fs::read_to_string(&events).unwrap();
    std::fs::write(
        &events,
        text.replacen("bob@example.com", "eve@example.com", 1),
    )
    .unwrap();
    let (bundle, key) = (bundle.to_str().unwrap(), key.to_str().unwrap());
    let verify = ["audit", "verify", "--bundle", bundle, "--key", key];
    let v = expect(&ann, &verify, i32::from(exit::TAMPERED));
    assert_eq!(
        (&v["code"], &v["details"]["ok"]),
        (&"audit_not_verified".into(), &false.into())
    );
    seen.insert(8);

    assert_eq!(
        seen,
        documented_codes(),
        "the README's table and the binary agree"
    );
    let _ = server.kill();
    let _ = server.wait();
}
