//! A schema-driven fuzzer against a development broker: schemathesis (pinned in
//! tests/run.sh, from PyPI) generates requests from the served OpenAPI document, valid
//! and invalid, with a session token, and checks every answer: no 5xx, only documented
//! statuses and content types, bodies matching their schemas, invalid data refused.

use std::path::PathBuf;
use std::time::Duration;

use crate::helpers::{missing_peer, spawn_app, Options};

/// The schemathesis command next to the test Python (the venv tests/run.sh makes).
fn schemathesis() -> Option<PathBuf> {
    let python = PathBuf::from(std::env::var_os("LATCHKEY_TEST_PYTHON")?);
    let st = python.parent()?.join("schemathesis");
    st.exists().then_some(st)
}

/// The whole run's budget: schemathesis stops generating at `--max-time`; this is the
/// hard stop around it.
const HARD_STOP: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_schema_driven_fuzzing_with_only_documented_statuses_and_types() {
    let Some(st) = schemathesis() else {
        missing_peer("schemathesis (LATCHKEY_TEST_PYTHON's venv)");
        return;
    };
    // Anonymous endpoints are rate-limited per address, and every request here comes from
    // one: a limit the fuzzer would hit leaves the logic behind it untested.
    let app = spawn_app(Options {
        dev: true,
        limits: latchkey::config::LimitsLayer {
            anonymous_burst: Some(1_000_000),
            anonymous_per_minute: Some(1_000_000),
            pending_logins: None,
        },
        ..Options::default()
    })
    .await;
    // An administrator who may also read the audit log and request access: every
    // operation answers more than 403.
    let root = app
        .dev_login("root@example.com", &["admin", "security", "eng"])
        .await;
    // Something to find under `{id}` and `{resource}`, so that the fuzzer gets past 404.
    let pending = app
        .post_ok(
            "/v1/requests",
            serde_json::json!({"resource": "aws:prod", "role": "admin", "reason": "fuzzing the API schema", "ticket": "CHG-1234"}),
            &root,
            reqwest::StatusCode::CREATED,
        )
        .await;
    let id = pending["request"]["id"].as_str().unwrap();
    let report = tempfile::tempdir().unwrap();
    let config = report.path().join("schemathesis.toml");
    let parameters = format!(
        "\n[parameters]\n\"path.id\" = \"{id}\"\n\"path.resource\" = \"stream:live-events\"\n"
    );
    std::fs::write(&config, format!("{CONFIG}{parameters}")).unwrap();
    let mut cmd = tokio::process::Command::new(st);
    cmd.arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("{}/openapi.json", app.url))
        .args(["--checks", "all"])
        .args(["--max-examples", "12", "--max-time", "60", "--seed", "21"])
        // Above the audit feed's longest long poll (25 s).
        .args([
            "--workers",
            "2",
            "--request-timeout",
            "30",
            "--max-response-time",
            "30",
        ])
        .args(["--generation-database", "none"])
        // Logging out would end the token the rest of the run uses.
        .args(["--exclude-path", "/v1/auth/logout"])
        .arg("--header")
        .arg(format!("Authorization: Bearer {root}"))
        .args(["--report", "ndjson", "--report-dir"])
        .arg(report.path())
        .env("NO_COLOR", "1")
        // Its caches and reports stay out of the source tree.
        .current_dir(report.path())
        .kill_on_drop(true);
    let out = tokio::time::timeout(HARD_STOP, cmd.output())
        .await
        .expect("schemathesis ends within its budget")
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{stdout}\n{stderr}"
    );
    // It really tested: every operation but the excluded one.
    assert!(stdout.contains("passed"), "{stdout}");
}

/// Every check on, as the API defines acceptance: a request valid by the schema may
/// still be refused for what it names (an unknown resource or request, a missing grant,
/// a policy that says no), so those statuses count as accepted.
const CONFIG: &str = r#"
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "401", "403", "404", "409"]
"#;
