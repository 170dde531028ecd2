//! Evidence exports: a seeded quarter checked field by field, its report opened in
//! headless Chromium, its chain checked by an independent Python verifier; a bundle whose
//! files were edited is caught at the right sequence number; the CLI's export and verify.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use latchkey::app::export::bundle::verify_bundle;
use latchkey::app::export::Period;
use latchkey::app::App;
use latchkey::model::access::Verdict;
use latchkey::model::audit::{AuditEvent, EventKind, Origin, SYSTEM};
use latchkey::model::domain::Principal;
use latchkey::model::policy::decide::Ask;

use crate::audit::{audit_key, auditor, export, sql};
use crate::helpers::{layer, missing_peer, spawn_dev_app, Options};

pub(crate) fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub(crate) fn person(email: &str, groups: &[&str], now: DateTime<Utc>) -> Principal {
    Principal {
        user_id: format!("dev|{email}"),
        subject: email.into(),
        email: Some(email.into()),
        name: None,
        groups: groups.iter().map(|g| g.to_string()).collect(),
        session_id: "seeded".into(),
        expires_at: now + chrono::Duration::days(365),
        dev: true,
        auth_time: Some(now),
        groups_claim_missing: None,
    }
}

pub(crate) fn ask(
    resource: &str,
    role: &str,
    duration: &str,
    reason: Option<&str>,
    ticket: Option<&str>,
    breakglass: bool,
) -> Ask {
    Ask {
        resource: resource.into(),
        role: Some(role.into()),
        duration: Some(latchkey::model::duration::parse(duration).unwrap()),
        reason: reason.map(String::from),
        ticket: ticket.map(String::from),
        breakglass,
    }
}

/// Makes a request at `when` (RFC 3339) as `who`; returns its id.
/// The session a seeded principal names, as a login would have recorded it (no events).
pub(crate) async fn seed_session(b: &App, who: &Principal) {
    let identity = latchkey::model::domain::Identity {
        issuer: "dev".into(),
        subject: who.subject.clone(),
        email: who.email.clone(),
        name: None,
        groups: who.groups.clone(),
        auth_time: who.auth_time,
    };
    let since = who.auth_time.unwrap_or(who.expires_at);
    let mut tx = b.core.store.begin().await.unwrap();
    tx.upsert_user(&identity, since).await.unwrap();
    tx.insert_session(&latchkey::model::domain::Session {
        id: who.session_id.clone(),
        user_id: who.user_id.clone(),
        kid: "seeded".into(),
        dev: true,
        created_at: since,
        expires_at: who.expires_at,
        auth_time: who.auth_time,
        revoked_at: None,
        client_addr: None,
        user_agent: None,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

pub(crate) async fn create(b: &App, who: &Principal, a: Ask, when: &str) -> String {
    let (r, _) = b
        .access
        .create_request(who, a, None, &Origin::default(), t(when))
        .await
        .unwrap();
    r.id
}

/// A quarter of activity, with the broker's clocks driven by hand. Returns request ids.
/// It lies ahead of the real clock: audit times never go back in sequence order, so a
/// quarter seeded after the broker's own start-up events must come after them.
async fn seed_quarter(b: &App) -> HashMap<&'static str, String> {
    let o = Origin::default();
    let alice = person("alice@example.com", &["eng"], t("2030-07-01T00:00:00Z"));
    let dave = person("dave@example.com", &["eng"], t("2030-07-01T00:00:00Z"));
    let mut ids = HashMap::new();

    ids.insert(
        "r1",
        create(
            b,
            &alice,
            ask("aws:staging", "admin", "2h", None, None, false),
            "2030-07-02T09:00:00Z",
        )
        .await,
    );
    b.access.sweep(t("2030-07-02T11:01:00Z")).await.unwrap();

    let r2 = create(
        b,
        &alice,
        ask(
            "aws:prod",
            "admin",
            "30m",
            Some("rotate the prod database password"),
            Some("INC-123"),
            false,
        ),
        "2030-07-10T14:00:00Z",
    )
    .await;
    let bob = person("bob@example.com", &["sre"], t("2030-07-10T14:12:00Z"));
    b.access
        .review(
            &bob,
            &r2,
            Verdict::Approve,
            None,
            &o,
            t("2030-07-10T14:12:00Z"),
        )
        .await
        .unwrap();
    b.access
        .activate(&alice, &r2, &o, t("2030-07-10T14:15:00Z"))
        .await
        .unwrap();
    let carol = person(
        "carol@example.com",
        &["security"],
        t("2030-07-10T14:30:00Z"),
    );
    b.access
        .revoke(&carol, &r2, &o, t("2030-07-10T14:30:00Z"))
        .await
        .unwrap();
    ids.insert("r2", r2);

    let policy = AuditEvent::new(EventKind::PolicyReloaded, SYSTEM, &o, t("2030-08-01T08:00:00Z")).unwrap().details(json!({
        "hash": "9f2c".repeat(16), "previous_hash": "11aa".repeat(16), "changed_by": "deploy", "trigger": "SIGHUP", "files": "policy.csv (owner deploy)"
    }));
    let mut tx = b.core.store.begin().await.unwrap();
    tx.append_audit(&policy).await.unwrap();
    tx.commit().await.unwrap();

    let r3 = create(
        b,
        &dave,
        ask("db:events", "write", "30m", Some("backfill"), None, false),
        "2030-08-03T08:00:00Z",
    )
    .await;
    let erin = person("erin@example.com", &["sre"], t("2030-08-03T08:20:00Z"));
    b.access
        .review(
            &erin,
            &r3,
            Verdict::Deny,
            Some("use the replica".into()),
            &o,
            t("2030-08-03T08:20:00Z"),
        )
        .await
        .unwrap();
    ids.insert("r3", r3);

    let bob = person("bob@example.com", &["sre"], t("2030-08-20T03:00:00Z"));
    ids.insert(
        "r4",
        create(
            b,
            &bob,
            ask(
                "aws:prod",
                "admin",
                "30m",
                Some("database is down, paging"),
                Some("INC-9"),
                true,
            ),
            "2030-08-20T03:00:00Z",
        )
        .await,
    );
    b.access.sweep(t("2030-08-20T03:31:00Z")).await.unwrap();

    ids.insert(
        "r5",
        create(
            b,
            &dave,
            ask("token:metrics-api", "read", "8h", None, None, false),
            "2030-09-29T12:00:00Z",
        )
        .await,
    );
    // A credential is handed out only to a live session (checked again at issuance).
    seed_session(b, &dave).await;
    b.credentials
        .issue_token(
            &dave,
            "token:metrics-api",
            None,
            &o,
            t("2030-09-29T12:05:00Z"),
        )
        .await
        .unwrap();
    b.access.sweep(t("2030-09-29T20:01:00Z")).await.unwrap();

    ids.insert(
        "r6",
        create(
            b,
            &alice,
            ask("stream:live-events", "team:2", "8h", None, None, false),
            "2030-09-30T20:00:00Z",
        )
        .await,
    );
    ids
}

/// A small RFC 4180 reader: rows of cells, by header name.
pub(crate) fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut rows: Vec<Vec<String>> = vec![vec![String::new()]];
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        let row = rows.last_mut().unwrap();
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                row.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(String::new()),
            ('\r', false) => {}
            ('\n', false) => rows.push(vec![String::new()]),
            (c, _) => row.last_mut().unwrap().push(c),
        }
    }
    rows.retain(|r| r.len() > 1 || !r[0].is_empty());
    let header = rows.remove(0);
    rows.into_iter()
        .map(|r| header.iter().cloned().zip(r).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_of_a_seeded_quarter_holds_every_fact_and_its_report_opens_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let config = layer(
        &Options {
            dev: true,
            ..Options::default()
        },
        data.path(),
    )
    .validate()
    .unwrap();
    // No server and no sweeper: the test drives the clocks.
    let app = latchkey::startup::Application::build(config).await.unwrap();
    let b = app.app();
    let ids = seed_quarter(&b).await;
    // What the broker itself never allows, forged in the database for the report to flag.
    sql(&b.core.store, &format!("INSERT INTO reviews (request_id, reviewer_id, reviewer_name, verdict, comment, at) VALUES ('{}', 'dev|alice@example.com', 'alice@example.com', 'approve', NULL, {})", ids["r2"], t("2030-07-10T14:13:00Z").timestamp_millis())).await;
    sql(
        &b.core.store,
        &format!(
            "UPDATE access_requests SET auto_approved = FALSE WHERE id = '{}'",
            ids["r1"]
        ),
    )
    .await;
    sql(
        &b.core.store,
        &format!(
            "UPDATE access_requests SET expires_at = expires_at + 43200000 WHERE id = '{}'",
            ids["r5"]
        ),
    )
    .await;

    let out = tempfile::tempdir().unwrap();
    let audra = person("audra@example.com", &["auditor"], Utc::now());
    let period = Period {
        from: t("2030-07-01T00:00:00Z"),
        to: t("2030-10-01T00:00:00Z"),
    };
    let manifest = b
        .audit
        .export_audit(
            &audra,
            period,
            out.path(),
            &Origin::default(),
            &|_, _| {},
            t("2030-10-02T00:00:00Z"),
        )
        .await
        .unwrap();
    let dir = out.path();

    let report = verify_bundle(dir, b.audit.audit_key().public(), Vec::new()).unwrap();
    assert!(report.ok, "{report:?}");
    let in_period: i64 = match &b.core.store {
        latchkey::store::Store::Sqlite(s) => {
            // The export's own event comes after the bundle; with the quarter seeded ahead
            // of the real clock, audit times (never going back) put it in the quarter too.
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE at >= ? AND at < ? AND type <> 'audit.exported'")
                .bind(period.from.timestamp_millis())
                .bind(period.to.timestamp_millis())
                .fetch_one(&s.pool)
                .await
                .unwrap()
        }
        _ => unreachable!(),
    };
    let lines = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    assert_eq!(
        lines.lines().count() as i64,
        in_period,
        "every event of the quarter, and only those"
    );
    assert!(lines.lines().all(|l| {
        let e: Value = serde_json::from_str(l).unwrap();
        e["at"].as_str().unwrap().starts_with("2030-0")
    }));
    assert_eq!(manifest.requested_by, "audra@example.com");
    let names: Vec<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
    for f in [
        "events.jsonl",
        "chain_before.jsonl",
        "chain_after.jsonl",
        "access_grants.csv",
        "access_list_2030-09-30.csv",
        "policy_changes.csv",
        "report.html",
    ] {
        assert!(names.contains(&f), "{f} in {names:?}");
    }

    let grants: HashMap<String, HashMap<String, String>> = read_csv(&dir.join("access_grants.csv"))
        .into_iter()
        .map(|r| (r["request_id"].clone(), r))
        .collect();
    assert_eq!(grants.len(), 6, "one row per request");
    let r2 = &grants[&ids["r2"]];
    let expect = [
        ("requester", "alice@example.com"),
        ("resource", "aws:prod"),
        ("role", "admin"),
        ("reason", "rotate the prod database password"),
        ("ticket", "INC-123"),
        ("requested_at", "2030-07-10T14:00:00.000Z"),
        ("decided_at", "2030-07-10T14:12:00.000Z"),
        ("activated_at", "2030-07-10T14:15:00.000Z"),
        ("ended_at", "2030-07-10T14:30:00.000Z"),
        ("ended_how", "revoked: revoked by carol@example.com"),
        ("approvers", "bob@example.com;alice@example.com"),
        ("deniers", ""),
        ("auto_approved", "false"),
        ("breakglass", "false"),
        ("credentials_issued", "0"),
        ("state_at_period_end", "revoked"),
    ];
    for (k, v) in expect {
        assert_eq!(r2[k], v, "access_grants.csv r2 {k}");
    }
    let r3 = &grants[&ids["r3"]];
    assert_eq!(
        (
            r3["deniers"].as_str(),
            r3["ended_how"].as_str(),
            r3["activated_at"].as_str()
        ),
        (
            "erin@example.com",
            "denied: denied by erin@example.com: \"use the replica\"",
            ""
        )
    );
    let r4 = &grants[&ids["r4"]];
    assert_eq!(
        (
            r4["breakglass"].as_str(),
            r4["state_at_period_end"].as_str()
        ),
        ("true", "expired")
    );
    assert_eq!(grants[&ids["r5"]]["credentials_issued"], "1");
    let r6 = &grants[&ids["r6"]];
    assert_eq!(
        (
            r6["auto_approved"].as_str(),
            r6["ended_at"].as_str(),
            r6["state_at_period_end"].as_str()
        ),
        ("true", "", "active")
    );

    let held = read_csv(&dir.join("access_list_2030-09-30.csv"));
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        (
            held[0]["requester"].as_str(),
            held[0]["resource"].as_str(),
            held[0]["role"].as_str(),
            held[0]["request_id"].as_str()
        ),
        (
            "alice@example.com",
            "stream:live-events",
            "team:2",
            ids["r6"].as_str()
        )
    );
    let policy = read_csv(&dir.join("policy_changes.csv"));
    assert_eq!(policy.len(), 1, "{policy:?}");
    assert_eq!(
        (
            policy[0]["type"].as_str(),
            policy[0]["hash"].as_str(),
            policy[0]["changed_by"].as_str(),
            policy[0]["trigger"].as_str()
        ),
        (
            "policy.reloaded",
            "9f2c".repeat(16).as_str(),
            "deploy",
            "SIGHUP"
        )
    );

    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for needle in [
        "CC6.1",
        "CC6.2",
        "CC6.3",
        "CC7.2",
        "self_approval",
        "access_without_approval",
        "longer_than_policy",
        "database is down, paging",
        "Audit chain verified",
    ] {
        assert!(html.contains(needle), "report.html lacks {needle}");
    }
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("<script"),
        "self-contained"
    );
    open_in_chromium(&dir.join("report.html"));
    check_with_python(
        dir,
        &serde_json::to_string(b.audit.audit_key().public()).unwrap(),
    );
}

fn open_in_chromium(html: &Path) {
    let chromium =
        std::env::var("LATCHKEY_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/report/screenshot.mjs");
    if !Path::new(&chromium).exists() || !script.with_file_name("node_modules").exists() {
        return missing_peer(
            "headless Chromium (Debian's chromium) with tests/report's playwright-core",
        );
    }
    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("evidence-report.png");
    let out = std::process::Command::new("node")
        .arg(&script)
        .arg(html)
        .arg(&png)
        .env("CHROMIUM", &chromium)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["errors"], json!([]), "console errors: {summary}");
    assert_eq!(
        summary["requests"],
        json!([]),
        "the report fetched something: {summary}"
    );
    assert!(summary["charts"].as_u64().unwrap() >= 2, "{summary}");
    assert!(
        summary["headings"].to_string().contains("CC7.2"),
        "{summary}"
    );
    assert!(
        std::fs::metadata(&png).unwrap().len() > 10_000,
        "a screenshot was taken"
    );
}

fn check_with_python(bundle: &Path, key_jwk: &str) {
    let key = bundle.parent().unwrap().join(format!(
        "{}.jwk",
        bundle.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&key, key_jwk).unwrap();
    let python = std::env::var("LATCHKEY_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/audit/verify_bundle.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(bundle)
        .arg(&key)
        .output()
        .unwrap();
    let summary: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(summary["ok"], true, "{summary}");
    assert!(summary["events"].as_u64().unwrap() > 10, "{summary}");
    if std::env::var_os("LATCHKEY_TEST_PYTHON").is_some() {
        assert_eq!(summary["signatures"], "valid", "{summary}");
    }
}

/// Rewrites `events.jsonl` of a copy of `bundle` with `edit`; returns the copy.
fn tampered_copy(bundle: &Path, edit: impl FnOnce(&mut Vec<String>)) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(bundle).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, copy.path().join(p.file_name().unwrap())).unwrap();
    }
    let path = copy.path().join("events.jsonl");
    let mut lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    edit(&mut lines);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    copy
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_bundle_is_caught_at_the_right_sequence_number() {
    let app = spawn_dev_app().await;
    let audra = auditor(&app).await;
    let alice = app.dev_login("alice@example.com", &["eng"]).await;
    for i in 0..5 {
        app.post_ok(
            "/v1/requests",
            json!({"resource": "aws:staging", "role": "admin", "reason": format!("step {i}")}),
            &alice,
            StatusCode::CREATED,
        )
        .await;
    }
    let today = Utc::now().date_naive();
    let bundle = export(
        &app,
        &audra,
        json!({"from": today.to_string(), "to": today.to_string()}),
    )
    .await;
    let key = audit_key(&app).await;
    assert!(verify_bundle(bundle.path(), &key, Vec::new()).unwrap().ok);
    let first: i64 = {
        let text = std::fs::read_to_string(bundle.path().join("events.jsonl")).unwrap();
        serde_json::from_str::<Value>(text.lines().next().unwrap()).unwrap()["seq"]
            .as_i64()
            .unwrap()
    };
    let i = 4usize;
    let at = first + i as i64;
    type Edit = Box<dyn FnOnce(&mut Vec<String>)>;
    let cases: Vec<(&str, Edit, i64)> = vec![
        (
            "edit",
            Box::new(move |l: &mut Vec<String>| {
                l[i] = l[i].replacen("\"actor\":\"", "\"actor\":\"mallory-", 1)
            }),
            at,
        ),
        (
            "delete",
            Box::new(move |l: &mut Vec<String>| {
                l.remove(i);
            }),
            at,
        ),
        (
            "insert",
            Box::new(move |l: &mut Vec<String>| {
                let dup = l[i + 1].clone();
                l.insert(i, dup);
            }),
            at,
        ),
        (
            "reorder",
            Box::new(move |l: &mut Vec<String>| l.swap(i, i + 1)),
            at,
        ),
        (
            "truncate",
            Box::new(|l: &mut Vec<String>| {
                l.truncate(l.len() - 2);
            }),
            -2,
        ),
    ];
    let lines = std::fs::read_to_string(bundle.path().join("events.jsonl"))
        .unwrap()
        .lines()
        .count() as i64;
    for (name, edit, expected) in cases {
        let expected = if expected == -2 {
            first + lines - 2
        } else {
            expected
        };
        let copy = tampered_copy(bundle.path(), edit);
        let r = verify_bundle(copy.path(), &key, Vec::new()).unwrap();
        assert!(!r.ok, "{name} went unnoticed");
        assert_eq!(r.first_bad_seq, Some(expected), "{name}: {r:?}");
        assert!(
            r.errors.iter().any(|e| e.contains("events.jsonl")),
            "{name}: the file's hash no longer matches the manifest: {r:?}"
        );
    }
    // A careful forger also rewrites the manifest's file hash: the signature then fails.
    let forged = tampered_copy(bundle.path(), move |l: &mut Vec<String>| {
        l[i] = l[i].replacen("\"actor\":\"", "\"actor\":\"mallory-", 1)
    });
    let events = std::fs::read(forged.path().join("events.jsonl")).unwrap();
    let manifest_path = forged.path().join("manifest.json");
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    for f in manifest["files"].as_array_mut().unwrap() {
        if f["name"] == "events.jsonl" {
            f["sha256"] = json!(latchkey::model::digest::sha256_hex(&events));
            f["bytes"] = json!(events.len());
        }
    }
    std::fs::write(
        &manifest_path,
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    let r = verify_bundle(forged.path(), &key, Vec::new()).unwrap();
    assert_eq!(r.first_bad_seq, Some(at), "{r:?}");
    assert!(
        r.errors
            .iter()
            .any(|e| e.contains("signature does not verify")),
        "{r:?}"
    );
    assert!(
        !r.errors.iter().any(|e| e.contains("events.jsonl")),
        "the file hash itself was made to match: {r:?}"
    );
    // The right bundle checked against another audit key is refused, however intact.
    let other = tempfile::tempdir().unwrap();
    let stranger = latchkey::adapters::keys::audit::AuditKey::load_or_create(other.path()).unwrap();
    let r = verify_bundle(bundle.path(), stranger.public(), Vec::new()).unwrap();
    assert!(!r.ok, "{r:?}");
    assert!(
        r.errors.iter().any(|e| e.contains("not by the key given")),
        "{r:?}"
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_exports_verifies_offline_and_exits_8_on_a_tampered_bundle() {
    let app = spawn_dev_app().await;
    let home = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("XDG_CONFIG_HOME", home.path())
            .env("HOME", home.path())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let login = cli(&[
        "login",
        "--server",
        &app.url,
        "--dev",
        "audra@example.com",
        "--groups",
        "auditor",
    ]);
    assert_eq!(login.0, Some(0), "{login:?}");
    let key = cli(&["audit", "key"]);
    let key_file = home.path().join("audit-key.jwk");
    std::fs::write(&key_file, key.1.trim()).unwrap();
    let out = home.path().join("q4");
    let today = Utc::now().date_naive().to_string();
    let exported = cli(&[
        "audit",
        "export",
        "--from",
        &today,
        "--to",
        &today,
        "--out",
        out.to_str().unwrap(),
        "--key",
        key_file.to_str().unwrap(),
    ]);
    assert_eq!(exported.0, Some(0), "{exported:?}");
    assert!(exported.1.contains("ending at checkpoint"), "{exported:?}");
    let verified = cli(&[
        "audit",
        "verify",
        "--bundle",
        out.to_str().unwrap(),
        "--key",
        key_file.to_str().unwrap(),
    ]);
    assert_eq!(verified.0, Some(0), "{verified:?}");
    let live = cli(&["audit", "verify"]);
    assert_eq!(live.0, Some(0), "{live:?}");
    let tail = cli(&["audit", "tail", "--output", "json"]);
    assert_eq!(tail.0, Some(0), "{tail:?}");
    assert!(
        tail.1.lines().all(|l| serde_json::from_str::<Value>(l)
            .is_ok_and(|v| v["hash"].as_str().is_some_and(|h| h.len() == 64))),
        "{tail:?}"
    );
    assert!(tail.1.contains("\"type\":\"session.created\""), "{tail:?}");

    let events = out.join("events.jsonl");
    let text = std::fs::read_to_string(&events).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    std::fs::write(
        &events,
        text.replacen("\"actor\":\"", "\"actor\":\"mallory-", 1),
    )
    .unwrap();
    let caught = cli(&[
        "audit",
        "verify",
        "--bundle",
        out.to_str().unwrap(),
        "--key",
        key_file.to_str().unwrap(),
    ]);
    assert_eq!(caught.0, Some(8), "{caught:?}");
    assert!(
        caught
            .1
            .contains(&format!("First bad sequence number: {}", first["seq"])),
        "{caught:?}"
    );
    // An auditor's session cannot do what an engineer's can, and the reverse.
    let eng = app.dev_login("eve@example.com", &["eng"]).await;
    crate::helpers::assert_error(
        app.post("/v1/audit/verify", json!({}), Some(&eng)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    crate::helpers::assert_error(
        app.post(
            "/v1/audit/export",
            json!({"from": today, "to": today}),
            Some(&eng),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    app.stop().await.unwrap();
}
