//! Slack approvals end to end against a fake Web API: signatures, the posted message,
//! signed clicks, in-place updates, replays, self-review, linking, slash commands, outages.

use std::future::Future;
use std::time::Duration;

use latchkey::config::SlackLayer;
use latchkey::edges::http::slack_signing::sign;
use latchkey::model::secret::Secret;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, Options, TestApp};
use crate::slack_fake::{FakeSlack, BOT_TOKEN};

pub const SECRET: &str = "test-signing-secret-4f1a9c";

/// The `[slack]` section of a test broker whose Web API is `api_url`.
pub fn slack_layer(api_url: &str) -> SlackLayer {
    SlackLayer {
        bot_token: Some(Secret::new(BOT_TOKEN)),
        signing_secret: Some(Secret::new(SECRET)),
        api_url: Some(api_url.to_string()),
        default_channel: Some("C0DEFAULT".into()),
        channels: Some([("aws:prod".to_string(), "C0PROD".to_string())].into()),
        team_id: None,
    }
}

pub(crate) async fn setup() -> (TestApp, FakeSlack) {
    setup_on(None).await
}

async fn setup_on(database_url: Option<String>) -> (TestApp, FakeSlack) {
    let fake = FakeSlack::start().await;
    let app = spawn_app(Options {
        dev: true,
        slack_api: Some(fake.api_url()),
        database_url,
        ..Options::default()
    })
    .await;
    (app, fake)
}

/// Waits up to 10 s for `check` to give `Some`.
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..100 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn now() -> String {
    chrono::Utc::now().timestamp().to_string()
}

/// POSTs `body` to a Slack endpoint, signed (or not) as given.
pub(crate) async fn slack_post(
    app: &TestApp,
    path: &str,
    body: &str,
    headers: &[(&str, String)],
) -> reqwest::Response {
    let mut req = app
        .http
        .post(format!("{}{path}", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    req.send().await.unwrap()
}

pub(crate) fn signed(body: &str) -> Vec<(&'static str, String)> {
    let ts = now();
    vec![
        ("x-slack-signature", sign(SECRET, &ts, body.as_bytes())),
        ("x-slack-request-timestamp", ts),
    ]
}

/// The form body of a click on `action_id` of `message` (as posted) by `user`.
pub(crate) fn click(
    fake: &FakeSlack,
    message: &Value,
    action_id: &str,
    user: &str,
    action_ts: &str,
) -> String {
    let button = message["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap().clone())
        .find(|e| e["action_id"] == action_id)
        .expect("the message has the button");
    let mut action = button.clone();
    action["block_id"] = json!("latchkey_review");
    action["action_ts"] = json!(action_ts);
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": "T0FAKE"},
        "api_app_id": "A0FAKE", "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": message["channel"], "is_ephemeral": false},
        "trigger_id": format!("{action_ts}.trigger"),
        "team": {"id": "T0FAKE", "domain": "example"},
        "channel": {"id": message["channel"], "name": "prod-access"},
        "message": {"type": "message", "ts": message["ts"], "text": message["text"], "blocks": message["blocks"]},
        "response_url": format!("{}/response/{action_ts}", fake.url),
        "actions": [action],
    });
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}

pub(crate) fn command(fake: &FakeSlack, user: &str, text: &str, trigger: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", "legacy-verification-token")
        .append_pair("team_id", "T0FAKE")
        .append_pair("team_domain", "example")
        .append_pair("channel_id", "C0DEFAULT")
        .append_pair("channel_name", "access")
        .append_pair("user_id", user)
        .append_pair("user_name", &user.to_lowercase())
        .append_pair("command", "/latchkey")
        .append_pair("text", text)
        .append_pair("api_app_id", "A0FAKE")
        .append_pair("response_url", &format!("{}/response/{trigger}", fake.url))
        .append_pair("trigger_id", trigger)
        .finish()
}

pub(crate) async fn pending_prod_request(app: &TestApp, bob: &str) -> String {
    let v = app
        .post_ok(
            "/v1/requests",
            json!({"resource": "aws:prod", "role": "readonly", "reason": "debugging INC-42 latency", "ticket": "INC-42"}),
            bob,
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(v["request"]["state"], "pending");
    v["request"]["id"].as_str().unwrap().to_string()
}

pub(crate) async fn state_of(app: &TestApp, id: &str, token: &str) -> Value {
    app.get(&format!("/v1/requests/{id}"), Some(token))
        .await
        .json()
        .await
        .unwrap()
}

pub(crate) async fn ephemeral_for(fake: &FakeSlack, action_ts: &str) -> String {
    eventually("the ephemeral answer", || async {
        fake.responses()
            .into_iter()
            .find(|r| r["_to"] == action_ts)
            .and_then(|r| r["text"].as_str().map(String::from))
    })
    .await
}

#[tokio::test]
async fn slack_request_is_posted_approved_by_a_click_updated_in_place_and_a_replay_changes_nothing()
{
    click_to_approve(None).await;
}

#[tokio::test]
async fn slack_click_to_approve_works_the_same_on_postgresql() {
    let Some(db) = crate::helpers::fresh_postgres().await else {
        return;
    };
    click_to_approve(Some(db.url.clone())).await;
    db.drop_db().await;
}

async fn click_to_approve(database_url: Option<String>) {
    let (app, fake) = setup_on(database_url).await;
    fake.add_user("UBOB", "bob@example.com", true);
    fake.add_user("UCAROL", "carol@example.com", true);
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let _carol = app.dev_login("carol@example.com", &["sre"]).await;
    let id = pending_prod_request(&app, &bob).await;

    // Posted to the resource's channel with everything an approver needs.
    let message = eventually("the request message", || async {
        fake.posts().into_iter().next()
    })
    .await;
    assert_eq!(message["channel"], "C0PROD");
    let shown = message["blocks"].to_string();
    for needle in [
        "bob@example.com",
        "aws:prod",
        "readonly",
        "1h",
        "debugging INC-42 latency",
        "INC-42",
        "first request",
        "group:sre",
        "Approve",
        "Deny",
    ] {
        assert!(shown.contains(needle), "{needle} in {shown}");
    }

    // The requester's own click is refused, ephemerally, and counts for nothing.
    let own = click(
        &fake,
        &message,
        "latchkey_approve",
        "UBOB",
        "1700000100.000001",
    );
    assert_eq!(
        slack_post(&app, "/v1/slack/interactions", &own, &signed(&own))
            .await
            .status(),
        StatusCode::OK
    );
    let refusal = ephemeral_for(&fake, "1700000100.000001").await;
    assert!(
        refusal.contains("never reviews their own request"),
        "{refusal}"
    );
    assert_eq!(fake.responses()[0]["response_type"], "ephemeral");
    assert_eq!(state_of(&app, &id, &bob).await["state"], "pending");

    // An eligible reviewer's click approves; the message shows who approved.
    let approve = click(
        &fake,
        &message,
        "latchkey_approve",
        "UCAROL",
        "1700000200.000002",
    );
    let headers = signed(&approve);
    let started = std::time::Instant::now();
    let resp = slack_post(&app, "/v1/slack/interactions", &approve, &headers).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered within Slack's 3 s"
    );
    eventually("the approval", || async {
        (state_of(&app, &id, &bob).await["state"] == "approved").then_some(())
    })
    .await;
    let updated = eventually("the message updated with the approver", || async {
        fake.updates().into_iter().rev().find(|u| {
            u["blocks"]
                .to_string()
                .contains("approved by *carol@example.com*")
        })
    })
    .await;
    assert_eq!(
        (&updated["channel"], &updated["ts"]),
        (&message["channel"], &message["ts"])
    );
    assert!(updated["blocks"].to_string().contains("Approved"));
    assert!(
        !updated["blocks"].to_string().contains("latchkey_approve"),
        "no buttons once decided"
    );

    // The requester hears of it by direct message.
    let dm = eventually("the requester's direct message", || async {
        fake.posts().into_iter().find(|p| p["channel"] == "UBOB")
    })
    .await;
    assert!(dm["text"].as_str().unwrap().contains("approved"), "{dm}");

    // Slack retries the same click: nothing changes.
    let mut retry = headers.clone();
    retry.push(("x-slack-retry-num", "1".into()));
    assert_eq!(
        slack_post(&app, "/v1/slack/interactions", &approve, &retry)
            .await
            .status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    let view = state_of(&app, &id, &bob).await;
    assert_eq!(view["reviews"].as_array().unwrap().len(), 1, "{view}");
    let answers = fake
        .responses()
        .into_iter()
        .filter(|r| r["_to"] == "1700000200.000002")
        .count();
    assert_eq!(answers, 1, "the retried click was not even handled again");
    let types = app.audit_types(&id).await;
    assert_eq!(
        types.iter().filter(|t| *t == "review.submitted").count(),
        1,
        "{types:?}"
    );

    // Audited like a CLI review, with the Slack user and never a secret.
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let events = tx.audit_events(None, 0, 1000).await.unwrap();
    tx.commit().await.unwrap();
    let submitted = events
        .iter()
        .find(|e| e.kind == "review.submitted")
        .unwrap();
    assert_eq!(submitted.details["via"], "slack");
    assert_eq!(submitted.details["slack_user_id"], "UCAROL");
    assert_eq!(submitted.details["binding"], "email");
    let all = serde_json::to_string(&events).unwrap();
    assert!(
        !all.contains(BOT_TOKEN) && !all.contains(SECRET),
        "no Slack secret in the audit log"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn slack_requests_with_a_bad_signature_a_stale_timestamp_a_missing_header_or_an_altered_body_are_refused(
) {
    let (app, fake) = setup().await;
    fake.add_user("UCAROL", "carol@example.com", true);
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let _carol = app.dev_login("carol@example.com", &["sre"]).await;
    let id = pending_prod_request(&app, &bob).await;
    let message = eventually("the request message", || async {
        fake.posts().into_iter().next()
    })
    .await;
    let body = click(
        &fake,
        &message,
        "latchkey_approve",
        "UCAROL",
        "1700000300.000003",
    );
    let ts = now();
    let good = sign(SECRET, &ts, body.as_bytes());
    let stale_ts = (chrono::Utc::now().timestamp() - 301).to_string();
    let altered = body.replace("UCAROL", "UMALLORY");
    type Headers = Vec<(&'static str, String)>;
    let cases: Vec<(&str, String, Headers)> = vec![
        (
            "wrong signature",
            body.clone(),
            vec![
                (
                    "x-slack-signature",
                    sign("not the secret", &ts, body.as_bytes()),
                ),
                ("x-slack-request-timestamp", ts.clone()),
            ],
        ),
        (
            "stale timestamp",
            body.clone(),
            vec![
                (
                    "x-slack-signature",
                    sign(SECRET, &stale_ts, body.as_bytes()),
                ),
                ("x-slack-request-timestamp", stale_ts.clone()),
            ],
        ),
        (
            "missing signature",
            body.clone(),
            vec![("x-slack-request-timestamp", ts.clone())],
        ),
        (
            "missing timestamp",
            body.clone(),
            vec![("x-slack-signature", good.clone())],
        ),
        (
            "altered body",
            altered,
            vec![
                ("x-slack-signature", good.clone()),
                ("x-slack-request-timestamp", ts.clone()),
            ],
        ),
    ];
    for (what, body, headers) in cases {
        for path in ["/v1/slack/interactions", "/v1/slack/commands"] {
            let resp = slack_post(&app, path, &body, &headers).await;
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{what} on {path}");
            assert_error(resp, StatusCode::UNAUTHORIZED, "invalid_slack_signature").await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let view = state_of(&app, &id, &bob).await;
    assert_eq!(
        (
            view["state"].as_str(),
            view["reviews"].as_array().unwrap().len()
        ),
        (Some("pending"), 0)
    );
    assert!(fake.responses().is_empty(), "nothing answered");
    assert!(!app
        .audit_types(&id)
        .await
        .iter()
        .any(|t| t.starts_with("review.")));
    // The same click, signed, does count: the refusals above were the signature's.
    let resp = slack_post(&app, "/v1/slack/interactions", &body, &signed(&body)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    eventually("the approval", || async {
        (state_of(&app, &id, &bob).await["state"] == "approved").then_some(())
    })
    .await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn slack_users_without_a_confirmed_email_count_only_after_linking_with_a_one_time_code() {
    let (app, fake) = setup().await;
    fake.add_user("UCAROL2", "carol.personal@example.org", true);
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let carol = app.dev_login("carol@example.com", &["sre"]).await;
    let id = pending_prod_request(&app, &bob).await;
    let message = eventually("the request message", || async {
        fake.posts().into_iter().next()
    })
    .await;

    let first = click(
        &fake,
        &message,
        "latchkey_approve",
        "UCAROL2",
        "1700000400.000004",
    );
    slack_post(&app, "/v1/slack/interactions", &first, &signed(&first)).await;
    let refusal = ephemeral_for(&fake, "1700000400.000004").await;
    assert!(refusal.contains("latchkey slack link"), "{refusal}");
    assert_eq!(
        state_of(&app, &id, &bob).await["reviews"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert!(app
        .audit_types(&id)
        .await
        .contains(&"review.refused".to_string()));

    let code = app
        .post_ok("/v1/slack/link", json!({}), &carol, StatusCode::CREATED)
        .await;
    let code = code["code"].as_str().unwrap().to_string();
    let link = command(
        &fake,
        "UCAROL2",
        &format!("link {}", code.to_lowercase()),
        "trig-link-1",
    );
    assert_eq!(
        slack_post(&app, "/v1/slack/commands", &link, &signed(&link))
            .await
            .status(),
        StatusCode::OK
    );
    eventually("the link confirmation", || async {
        fake.responses()
            .into_iter()
            .find(|r| r["text"].as_str().unwrap_or("").starts_with("Linked"))
    })
    .await;
    // A used code links nobody else.
    let again = command(&fake, "UMALLORY", &format!("link {code}"), "trig-link-2");
    slack_post(&app, "/v1/slack/commands", &again, &signed(&again)).await;
    eventually("the refusal of a used code", || async {
        fake.responses().into_iter().find(|r| {
            r["text"]
                .as_str()
                .unwrap_or("")
                .contains("unknown, used or expired")
        })
    })
    .await;

    let second = click(
        &fake,
        &message,
        "latchkey_approve",
        "UCAROL2",
        "1700000500.000005",
    );
    slack_post(&app, "/v1/slack/interactions", &second, &signed(&second)).await;
    eventually("the approval", || async {
        (state_of(&app, &id, &bob).await["state"] == "approved").then_some(())
    })
    .await;
    let view = state_of(&app, &id, &bob).await;
    assert_eq!(view["reviews"][0]["reviewer_name"], "carol@example.com");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn slack_slash_commands_request_access_and_show_status() {
    let (app, fake) = setup().await;
    fake.add_user("UBOB", "bob@example.com", true);
    let _bob = app.dev_login("bob@example.com", &["eng"]).await;
    let body = command(
        &fake,
        "UBOB",
        "request aws:prod#readonly 30m ticket:INC-7 checking the dashboards",
        "trig-req-1",
    );
    assert_eq!(
        slack_post(&app, "/v1/slack/commands", &body, &signed(&body))
            .await
            .status(),
        StatusCode::OK
    );
    let answer = eventually("the request answer", || async {
        fake.responses()
            .into_iter()
            .find(|r| r["text"].as_str().unwrap_or("").starts_with("Request `"))
    })
    .await;
    assert!(
        answer["text"].as_str().unwrap().contains("pending"),
        "{answer}"
    );
    let posted = eventually("the request message", || async {
        fake.posts().into_iter().next()
    })
    .await;
    assert!(posted["blocks"]
        .to_string()
        .contains("checking the dashboards"));
    assert!(posted["blocks"].to_string().contains("30m"));
    // Slack retrying the command creates nothing more.
    slack_post(&app, "/v1/slack/commands", &body, &signed(&body)).await;
    let status = command(&fake, "UBOB", "status", "trig-status-1");
    slack_post(&app, "/v1/slack/commands", &status, &signed(&status)).await;
    let listed = eventually("the status answer", || async {
        fake.responses().into_iter().find(|r| {
            r["text"]
                .as_str()
                .unwrap_or("")
                .contains("wait for your review")
        })
    })
    .await;
    assert_eq!(
        listed["text"]
            .as_str()
            .unwrap()
            .matches("aws:prod#readonly")
            .count(),
        1,
        "{listed}"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn slack_being_down_blocks_nothing_and_the_message_arrives_when_it_is_back() {
    let (app, fake) = setup().await;
    fake.go_down_for(2);
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let carol = app.dev_login("carol@example.com", &["sre"]).await;
    let started = std::time::Instant::now();
    let id = pending_prod_request(&app, &bob).await;
    // The CLI approval works while Slack refuses.
    app.post_ok(
        &format!("/v1/requests/{id}/approve"),
        json!({}),
        &carol,
        StatusCode::OK,
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    let message = eventually("the message after the outage", || async {
        fake.posts().into_iter().next()
    })
    .await;
    assert!(fake.refused() >= 2);
    // Rendered from the state at sending time: already approved, by carol.
    assert!(
        message["blocks"]
            .to_string()
            .contains("approved by *carol@example.com*"),
        "{message}"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn slack_endpoints_are_absent_without_a_slack_section() {
    let app = spawn_app(Options {
        dev: true,
        ..Options::default()
    })
    .await;
    let body = "payload=%7B%7D";
    let resp = slack_post(&app, "/v1/slack/interactions", body, &signed(body)).await;
    assert_error(resp, StatusCode::NOT_FOUND, "slack_not_configured").await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    assert_error(
        app.post("/v1/slack/link", json!({}), Some(&bob)).await,
        StatusCode::NOT_FOUND,
        "slack_not_configured",
    )
    .await;
    app.stop().await.unwrap();
}

fn person(issuer: &str, who: &str, groups: &[&str]) -> latchkey::model::domain::Identity {
    latchkey::model::domain::Identity {
        issuer: issuer.to_string(),
        subject: who.to_string(),
        email: Some(format!("{who}@example.com")),
        name: Some(who.to_string()),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        auth_time: None,
    }
}

/// The link in the ephemeral answer to a click on a fresh-login role.
async fn confirmation_link(fake: &FakeSlack, action_ts: &str) -> String {
    let text = ephemeral_for(fake, action_ts).await;
    let at = text
        .find("http")
        .unwrap_or_else(|| panic!("a link in {text}"));
    text[at..].split_whitespace().next().unwrap().to_string()
}

#[tokio::test]
async fn slack_approval_of_a_fresh_login_role_counts_only_after_the_bound_reviewer_logs_in_at_the_provider(
) {
    let Some(issuer) = crate::oidc_flows::provider() else {
        return;
    };
    let fake = FakeSlack::start().await;
    let app = spawn_app(Options {
        oidc: Some((issuer.clone(), "latchkey-cli".into())),
        slack_api: Some(fake.api_url()),
        ..Options::default()
    })
    .await;
    // bob (engineer) and alice (SRE) as their last logins left them; alice is in Slack.
    let (bob, alice) = (
        person(&issuer, "bob", &["eng"]),
        person(&issuer, "alice", &["eng", "sre"]),
    );
    let mut tx = app.broker.core.store.begin().await.unwrap();
    tx.upsert_user(&bob, chrono::Utc::now()).await.unwrap();
    tx.upsert_user(&alice, chrono::Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    fake.add_user("UALICE", "alice@example.com", true);
    let requester = latchkey::model::domain::Principal {
        user_id: bob.user_id(),
        subject: "bob".into(),
        email: bob.email.clone(),
        name: None,
        groups: bob.groups.clone(),
        session_id: "test".into(),
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        dev: false,
        auth_time: Some(chrono::Utc::now()),
        groups_claim_missing: None,
    };
    let ask = || latchkey::model::policy::decide::Ask {
        resource: "aws:prod".into(),
        role: Some("admin".into()),
        duration: None,
        reason: Some("rotating the deploy keys".into()),
        ticket: Some("INC-42".into()),
        breakglass: false,
    };
    let origin = latchkey::model::audit::Origin::default();
    let (first, _) = app
        .broker
        .access
        .create_request(&requester, ask(), None, &origin, chrono::Utc::now())
        .await
        .unwrap();
    let (second, _) = app
        .broker
        .access
        .create_request(&requester, ask(), None, &origin, chrono::Utc::now())
        .await
        .unwrap();
    let messages = eventually("both messages", || async {
        (fake.posts().len() == 2).then(|| fake.posts())
    })
    .await;
    let message_of = |id: &str| {
        messages
            .iter()
            .find(|m| m["blocks"].to_string().contains(id))
            .unwrap()
            .clone()
    };
    assert!(message_of(&first.id)["blocks"]
        .to_string()
        .contains("identity provider"));

    // A click alone does not count: alice gets a single-use link instead.
    let click1 = click(
        &fake,
        &message_of(&first.id),
        "latchkey_approve",
        "UALICE",
        "1700000600.000006",
    );
    slack_post(&app, "/v1/slack/interactions", &click1, &signed(&click1)).await;
    let link = confirmation_link(&fake, "1700000600.000006").await;
    assert!(
        link.starts_with(&format!("{}/v1/slack/confirm/", app.url)),
        "{link}"
    );
    // The answer says exactly what makes the click count.
    let told = ephemeral_for(&fake, "1700000600.000006").await;
    for needle in [
        "reviewing aws:prod#admin needs a login within the last 12h",
        "within 10m and sign in at your identity provider",
        "your approval counts as soon as the provider confirms it is you",
    ] {
        assert!(told.contains(needle), "{needle:?} in {told}");
    }
    assert!(!told.contains("run `latchkey login`"), "{told}");
    let view = state_of_as_broker(&app, &first.id).await;
    assert_eq!(view.0, "pending");

    // Someone else logging in at the provider with alice's link counts for nothing.
    let click2 = click(
        &fake,
        &message_of(&second.id),
        "latchkey_approve",
        "UALICE",
        "1700000700.000007",
    );
    slack_post(&app, "/v1/slack/interactions", &click2, &signed(&click2)).await;
    let stolen = confirmation_link(&fake, "1700000700.000007").await;
    let mallory = crate::oidc_flows::browser();
    let back = crate::oidc_flows::act_as_user(&mallory, mallory.get(&stolen), "carol", |u| {
        u.path() == "/v1/slack/callback"
    })
    .await
    .expect("the provider redirects back");
    assert_error(
        mallory.get(back).send().await.unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        state_of_as_broker(&app, &second.id).await,
        ("pending".to_string(), 0)
    );

    // alice confirms: the review counts, with her new login, and says how it was bound.
    let browser = crate::oidc_flows::browser();
    let back = crate::oidc_flows::act_as_user(&browser, browser.get(&link), "alice", |u| {
        u.path() == "/v1/slack/callback"
    })
    .await
    .expect("the provider redirects back");
    let page = browser.get(back.clone()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("is now approved"));
    assert_eq!(
        state_of_as_broker(&app, &first.id).await,
        ("approved".to_string(), 1)
    );
    // The link and the provider's answer work once.
    assert_eq!(
        browser.get(back).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        browser.get(&link).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let events = tx.audit_events(Some(&first.id), 0, 100).await.unwrap();
    tx.commit().await.unwrap();
    let submitted = events
        .iter()
        .find(|e| e.kind == "review.submitted")
        .unwrap();
    assert_eq!(
        (submitted.actor.as_str(), &submitted.details["binding"]),
        (alice.user_id().as_str(), &json!("fresh_login"))
    );
    app.stop().await.unwrap();
}

/// State and number of reviews of a request, read by the broker itself.
async fn state_of_as_broker(app: &TestApp, id: &str) -> (String, usize) {
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let r = tx.request(id).await.unwrap().unwrap();
    let n = tx.reviews(id).await.unwrap().len();
    tx.commit().await.unwrap();
    (r.state.as_str().to_string(), n)
}

#[tokio::test]
async fn slack_message_follows_a_cancellation_from_the_cli_and_requests_needing_no_human_are_not_posted(
) {
    let (app, fake) = setup().await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    // Granted at once: nobody needs to be asked.
    app.post_ok(
        "/v1/requests",
        json!({"resource": "aws:staging", "role": "admin"}),
        &bob,
        StatusCode::CREATED,
    )
    .await;
    let id = pending_prod_request(&app, &bob).await;
    let message = eventually("the request message", || async {
        fake.posts().into_iter().next()
    })
    .await;
    assert!(message["blocks"].to_string().contains(&id));
    app.post_ok(
        &format!("/v1/requests/{id}/cancel"),
        json!({}),
        &bob,
        StatusCode::OK,
    )
    .await;
    let updated = eventually("the cancelled message", || async {
        fake.updates()
            .into_iter()
            .find(|u| u["blocks"].to_string().contains("Cancelled"))
    })
    .await;
    assert!(!updated["blocks"].to_string().contains("latchkey_approve"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        fake.posts().len(),
        1,
        "only the request that needed a human was posted"
    );
    app.stop().await.unwrap();
}
