//! Every file of an evidence bundle tells the same story as of the same instant, the
//! period's end: clipped to the time of export when it lies ahead (and the report says
//! so), as asked when it lies behind, including a grant past its expiry that the expiry
//! worker has not closed yet. The report names people by email and shows what each
//! policy change replaced; its charts have titles and axes.

use std::collections::HashMap;
use std::path::Path;

use serde_json::json;

use latchkey::app::export::{access_list_name, Manifest, Period};
use latchkey::app::App;
use latchkey::model::audit::{format_at, AuditEvent, EventKind, Origin, SYSTEM};

use crate::audit_export::{ask, create, person, read_csv, seed_session, t};
use crate::helpers::{layer, Options};

/// The figure of a report card (`<b>N</b>label`).
fn card(html: &str, label: &str) -> usize {
    let end = html
        .find(&format!("</b>{label}</div>"))
        .unwrap_or_else(|| panic!("no card {label:?}"));
    let start = html[..end].rfind("<b>").unwrap() + 3;
    html[start..end].parse().unwrap()
}

/// Exports `[from, to)` as of `now` (all RFC 3339).
async fn export(b: &App, from: &str, to: &str, now: &str) -> (Manifest, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let audra = person("audra@example.com", &["auditor"], t(now));
    let period = Period {
        from: t(from),
        to: t(to),
    };
    let m = b
        .audit
        .export_audit(
            &audra,
            period,
            out.path(),
            &Origin::default(),
            &|_, _| {},
            t(now),
        )
        .await
        .unwrap();
    (m, out)
}

/// Checks that the report, `access_grants.csv` and the access list agree on who held
/// what at the end of the manifest's period; returns how many grants were held.
fn assert_agrees(dir: &Path, m: &Manifest) -> (usize, Vec<HashMap<String, String>>) {
    let grants = read_csv(&dir.join("access_grants.csv"));
    let list_name = access_list_name(&m.period);
    assert!(
        m.files.iter().any(|f| f.name == list_name),
        "{list_name} in the manifest"
    );
    let mut active: Vec<&str> = grants
        .iter()
        .filter(|r| r["state_at_period_end"] == "active")
        .map(|r| r["request_id"].as_str())
        .collect();
    let list = read_csv(&dir.join(&list_name));
    let mut listed: Vec<&str> = list.iter().map(|r| r["request_id"].as_str()).collect();
    active.sort();
    listed.sort();
    assert_eq!(active, listed, "access_grants.csv and {list_name}");
    for r in &grants {
        let ended = ["expired", "revoked", "denied", "cancelled"]
            .contains(&r["state_at_period_end"].as_str());
        assert_eq!(!r["ended_at"].is_empty(), ended, "ended_at of {r:?}");
    }
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(card(&html, "held at the end"), active.len(), "report");
    assert!(
        html.contains(&format_at(m.period.to)),
        "the report's period"
    );
    let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let before_end = |line: &str| {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        t(e["at"].as_str().unwrap()) < m.period.to
    };
    assert!(
        events.lines().all(before_end),
        "events.jsonl stops at the end"
    );
    (active.len(), grants)
}

async fn seed(b: &App) -> String {
    let o = Origin::default();
    let alice = person("alice@example.com", &["eng"], t("2031-01-10T08:00:00Z"));
    let carol = person(
        "carol@example.com",
        &["security"],
        t("2031-01-10T08:00:00Z"),
    );
    seed_session(b, &carol).await;
    let mut tx = b.core.store.begin().await.unwrap();
    let loaded = |at: &str, hash: &str| {
        AuditEvent::new(EventKind::PolicyLoaded, SYSTEM, &o, t(at))
            .unwrap()
            .details(json!({ "hash": hash, "files": "policy.csv" }))
    };
    tx.append_audit(&loaded("2031-01-10T08:10:00Z", &"a1".repeat(32)))
        .await
        .unwrap();
    tx.append_audit(&loaded("2031-01-10T08:20:00Z", &"b2".repeat(32)))
        .await
        .unwrap();
    let mut lock = AuditEvent::new(
        EventKind::UserLocked,
        &carol.user_id,
        &o,
        t("2031-01-10T08:30:00Z"),
    )
    .unwrap()
    .outcome("success", Some("left the company".into()));
    lock.subject = Some("mallory@example.com".into());
    tx.append_audit(&lock).await.unwrap();
    tx.commit().await.unwrap();
    // Auto-approved and active at once, for two hours; no sweep runs, so at 11:00 it
    // expires with nobody recording it yet.
    create(
        b,
        &alice,
        ask("aws:staging", "admin", "2h", None, None, false),
        "2031-01-10T09:00:00Z",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_file_of_a_bundle_agrees_whether_its_period_ends_in_the_future_or_the_past() {
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
    let app = latchkey::startup::Application::build(config).await.unwrap();
    let b = app.app();
    let id = seed(&b).await;

    // A month asked for on its tenth day: clipped to the time of export, and said so.
    let (m, dir) = export(
        &b,
        "2031-01-01T00:00:00Z",
        "2031-02-01T00:00:00Z",
        "2031-01-10T10:00:00Z",
    )
    .await;
    assert_eq!(m.period.to, t("2031-01-10T10:00:00Z"));
    assert_eq!(
        m.query["parameters"]["asked_to"],
        json!("2031-02-01T00:00:00.000Z")
    );
    let (held, grants) = assert_agrees(dir.path(), &m);
    assert_eq!(held, 1);
    assert_eq!(grants[0]["request_id"], id);
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        html.contains("it is clipped to 2031-01-10T10:00:00.000Z, the time of export"),
        "the report says it was clipped"
    );
    // People by email; each policy change with the hash it replaced; charts with titles
    // and axes.
    assert!(
        html.contains("<td>mallory@example.com</td><td>carol@example.com</td>"),
        "the lock's \"by\" is an email"
    );
    assert!(html.contains("<th>previous hash</th>"));
    assert!(html.contains(&format!(
        "<td>{}</td><td>{}</td>",
        "b2".repeat(32),
        "a1".repeat(32)
    )));
    let policy = read_csv(&dir.path().join("policy_changes.csv"));
    assert_eq!(
        policy[1]["previous_hash"],
        "a1".repeat(32),
        "the CSV agrees"
    );
    for visible in [
        ">Grants activated per day</text>",
        ">Time from request to approval</text>",
        ">grants activated</text>",
        ">day (UTC, month-day)</text>",
        ">requests</text>",
    ] {
        assert!(html.contains(visible), "report.html shows {visible}");
    }

    // A period behind the export, while the grant was held: as asked, nothing clipped.
    let (m, dir) = export(
        &b,
        "2031-01-10T00:00:00Z",
        "2031-01-10T10:30:00Z",
        "2031-01-20T00:00:00Z",
    )
    .await;
    assert_eq!(m.period.to, t("2031-01-10T10:30:00Z"));
    assert!(m.query["parameters"].get("asked_to").is_none());
    assert_eq!(assert_agrees(dir.path(), &m).0, 1);
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(!html.contains("clipped"));

    // One that ends after the grant expired, which nothing has recorded yet: every file
    // says it ended, at its expiry.
    let (m, dir) = export(
        &b,
        "2031-01-10T00:00:00Z",
        "2031-01-10T12:00:00Z",
        "2031-01-20T00:00:00Z",
    )
    .await;
    let (held, grants) = assert_agrees(dir.path(), &m);
    assert_eq!(held, 0);
    assert_eq!(
        (
            grants[0]["state_at_period_end"].as_str(),
            grants[0]["ended_at"].as_str(),
            grants[0]["ended_how"].as_str()
        ),
        ("expired", "2031-01-10T11:00:00.000Z", "expired")
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        html.contains("<td>expired</td><td>1</td>"),
        "the report's ended table"
    );
}
