//! Reviewing from Slack the way the CLI does: a Deny asks for its reason in a modal and
//! counts once submitted; `/latchkey status` lists what `latchkey requests --to-review`
//! lists; a reviewer whose login is not fresh enough is told exactly what makes the click
//! count, and on a development server the development login is that login.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::audit::sql;
use crate::cli_and_config::{latchkey, outcome};
use crate::helpers::{assert_error, TestApp};
use crate::slack::{
    click, command, ephemeral_for, eventually, pending_prod_request, setup, signed, slack_post,
    state_of,
};
use crate::slack_fake::FakeSlack;

/// The posted message of request `id`.
async fn message_of(fake: &FakeSlack, id: &str) -> Value {
    eventually("the request's message", || async {
        fake.posts()
            .into_iter()
            .find(|m| m["blocks"].to_string().contains(id))
    })
    .await
}

/// How many events of `kind` the log holds about request `id`.
async fn events_of(app: &TestApp, id: &str, kind: &str) -> usize {
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let events = tx.audit_events(Some(id), 0, 1000).await.unwrap();
    tx.commit().await.unwrap();
    events.iter().filter(|e| e.kind == kind).count()
}

/// A pending `aws:prod#admin` request by `token` (its reviewers need a login within 12h).
async fn pending_admin_request(app: &TestApp, token: &str) -> String {
    let v = app
        .post_ok(
            "/v1/requests",
            json!({"resource": "aws:prod", "role": "admin", "reason": "rotating the deploy keys", "ticket": "INC-42"}),
            token,
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(v["request"]["state"], "pending", "{v}");
    v["request"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn slack_deny_asks_for_a_reason_in_a_modal_and_counts_once_when_it_is_given() {
    let (app, fake) = setup().await;
    fake.add_user("UCAROL", "carol@example.com", true);
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let _carol = app.dev_login("carol@example.com", &["sre"]).await;
    let id = pending_prod_request(&app, &bob).await;
    let message = message_of(&fake, &id).await;

    // The click opens the modal with the click's trigger; nothing is counted yet.
    let deny = click(
        &fake,
        &message,
        "latchkey_deny",
        "UCAROL",
        "1700000800.000008",
    );
    let resp = slack_post(&app, "/v1/slack/interactions", &deny, &signed(&deny)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (trigger, view) =
        eventually("the modal", || async { fake.views().into_iter().next() }).await;
    assert_eq!(trigger, "1700000800.000008.trigger");
    let input = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "input")
        .expect("a reason input")
        .clone();
    assert_eq!(input["optional"], json!(false), "the reason is required");
    assert_eq!(input["element"]["type"], "plain_text_input");
    assert!(view["blocks"].to_string().contains("bob@example.com"));
    assert_eq!(state_of(&app, &id, &bob).await["state"], "pending");
    assert_eq!(events_of(&app, &id, "review.submitted").await, 0);

    // Submitted without a reason (or with blanks): Slack's field error, the modal stays.
    for blank in [None, Some("   ")] {
        let empty = fake.view_submission(&view, "UCAROL", blank);
        let resp = slack_post(&app, "/v1/slack/interactions", &empty, &signed(&empty)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(answer["response_action"], "errors", "{answer}");
        let field = input["block_id"].as_str().unwrap();
        assert!(
            answer["errors"][field].as_str().unwrap().contains("reason"),
            "{answer}"
        );
    }
    // A submission is signed like every interaction.
    let given = fake.view_submission(&view, "UCAROL", Some("not during the freeze"));
    assert_error(
        slack_post(&app, "/v1/slack/interactions", &given, &[]).await,
        StatusCode::UNAUTHORIZED,
        "invalid_slack_signature",
    )
    .await;
    assert_eq!(state_of(&app, &id, &bob).await["state"], "pending");

    // With the reason: an empty 200 closes the modal, and the denial counts with it.
    let resp = slack_post(&app, "/v1/slack/interactions", &given, &signed(&given)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().is_empty());
    let answer = ephemeral_for(&fake, "1700000800.000008").await;
    assert!(answer.starts_with("You denied"), "{answer}");
    let view_of_request = state_of(&app, &id, &bob).await;
    assert_eq!(view_of_request["state"], "denied");
    assert_eq!(
        view_of_request["reviews"][0]["reviewer_name"],
        "carol@example.com"
    );
    assert_eq!(
        view_of_request["reviews"][0]["comment"],
        "not during the freeze"
    );
    // Slack sending it again counts for nothing more: one review, audited once.
    slack_post(&app, "/v1/slack/interactions", &given, &signed(&given)).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(events_of(&app, &id, "review.submitted").await, 1);
    assert_eq!(
        state_of(&app, &id, &bob).await["reviews"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.stop().await.unwrap();
}

/// The request ids a Slack status answer lists as waiting for review.
fn waiting_in(status: &str) -> Vec<String> {
    let (_, waiting) = status.split_once("wait for your review").unwrap();
    let mut ids: Vec<String> = waiting
        .lines()
        .filter_map(|l| l.strip_prefix("• `"))
        .map(|l| l.split('`').next().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_status_lists_what_requests_to_review_lists_including_roles_that_need_a_fresh_login()
{
    let (app, fake) = setup().await;
    fake.add_user("UCAROL", "carol@example.com", true);
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let readonly = pending_prod_request(&app, &bob).await;
    let admin = pending_admin_request(&app, &bob).await;
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| outcome(latchkey(home.path()).args(args));
    let (code, out, err) = run(&[
        "login",
        "--server",
        &app.url,
        "--dev",
        "carol@example.com",
        "--groups",
        "sre",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    // carol logged in a day ago: too long ago to review the admin role now, but it waits
    // for her all the same (she can log in again).
    sql(
        &app.broker.core.store,
        "UPDATE sessions SET auth_time = auth_time - 86400000 WHERE user_id = 'dev|carol@example.com'",
    )
    .await;
    let (code, out, err) = run(&["requests", "--to-review", "--output", "json"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let listed: Vec<Value> = serde_json::from_str(&out).unwrap();
    let mut cli: Vec<String> = listed
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    cli.sort();
    let mut expected = vec![readonly, admin];
    expected.sort();
    assert_eq!(cli, expected, "the CLI lists both");

    let status = command(&fake, "UCAROL", "status", "trig-status-carol");
    slack_post(&app, "/v1/slack/commands", &status, &signed(&status)).await;
    let answer = eventually("the status answer", || async {
        fake.responses()
            .into_iter()
            .find(|r| r["_to"] == "trig-status-carol")
            .and_then(|r| r["text"].as_str().map(String::from))
    })
    .await;
    assert!(
        answer.contains("2 request(s) wait for your review"),
        "{answer}"
    );
    assert_eq!(waiting_in(&answer), cli, "{answer}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn on_a_development_server_a_recent_development_login_makes_a_fresh_login_click_count() {
    let (app, fake) = setup().await;
    fake.add_user("UCAROL", "carol@example.com", true);
    fake.add_user("UERIN", "erin@example.com", true);
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let _carol = app.dev_login("carol@example.com", &["sre"]).await;
    let _erin = app.dev_login("erin@example.com", &["security"]).await;
    let id = pending_admin_request(&app, &bob).await;
    let message = message_of(&fake, &id).await;
    let shown = message["blocks"].to_string();
    assert!(
        shown.contains("development login") && !shown.contains("identity provider"),
        "{shown}"
    );

    // erin's development login was 13 hours ago: told exactly what to do, not counted.
    sql(
        &app.broker.core.store,
        "UPDATE sessions SET auth_time = auth_time - 46800000 WHERE user_id = 'dev|erin@example.com'",
    )
    .await;
    let stale = click(
        &fake,
        &message,
        "latchkey_approve",
        "UERIN",
        "1700000900.000009",
    );
    slack_post(&app, "/v1/slack/interactions", &stale, &signed(&stale)).await;
    let told = ephemeral_for(&fake, "1700000900.000009").await;
    for needle in [
        "reviewing aws:prod#admin needs a login within the last 12h",
        "your last development login was 13h",
        "`latchkey login --dev erin@example.com --groups security`",
        "then click Approve again within 12h",
    ] {
        assert!(told.contains(needle), "{needle:?} in {told}");
    }
    assert!(!told.contains("identity provider"), "{told}");
    assert_eq!(state_of(&app, &id, &bob).await["state"], "pending");

    // carol logged in moments ago: her click counts.
    let fresh = click(
        &fake,
        &message,
        "latchkey_approve",
        "UCAROL",
        "1700000901.000010",
    );
    slack_post(&app, "/v1/slack/interactions", &fresh, &signed(&fresh)).await;
    let answer = ephemeral_for(&fake, "1700000901.000010").await;
    assert!(answer.starts_with("You approved"), "{answer}");
    assert_eq!(state_of(&app, &id, &bob).await["state"], "approved");
    app.stop().await.unwrap();
}
