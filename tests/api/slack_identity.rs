//! Who a Slack click counts as, checked again at every click: a code-linked account that
//! Slack has since deactivated or made a guest no longer counts, and a click from another
//! workspace is refused. Extreme timestamps in the signature header are a clean 401.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::slack::{
    click, command, ephemeral_for, eventually, pending_prod_request, setup, signed, slack_post,
    state_of, SECRET,
};
use crate::slack_fake::FakeSlack;

/// The same interaction body, as if sent from workspace `team`.
fn from_team(body: &str, team: &str) -> String {
    let mut f: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let mut payload: Value = serde_json::from_str(&f[0].1).unwrap();
    payload["team"]["id"] = json!(team);
    payload["user"]["team_id"] = json!(team);
    f[0].1 = payload.to_string();
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(f)
        .finish()
}

/// Links Slack user `slack_id` (whose Slack email matches nobody) to `token`'s user by code.
async fn link_by_code(
    app: &crate::helpers::TestApp,
    fake: &FakeSlack,
    slack_id: &str,
    token: &str,
) {
    let code = app
        .post_ok("/v1/slack/link", json!({}), token, StatusCode::CREATED)
        .await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let link = command(
        fake,
        slack_id,
        &format!("link {code}"),
        &format!("trig-{slack_id}"),
    );
    slack_post(app, "/v1/slack/commands", &link, &signed(&link)).await;
    eventually("the link confirmation", || async {
        fake.responses().into_iter().find(|r| {
            r["_to"] == format!("trig-{slack_id}")
                && r["text"].as_str().unwrap_or("").starts_with("Linked")
        })
    })
    .await;
}

#[tokio::test]
async fn a_code_linked_account_deactivated_or_made_a_guest_in_slack_no_longer_counts() {
    let (app, fake) = setup().await;
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let carol = app.dev_login("carol@example.com", &["sre"]).await;
    let dave = app.dev_login("dave@example.com", &["sre"]).await;
    fake.add_user("UCAROL9", "carol.home@example.org", true);
    fake.add_user("UDAVE9", "dave.home@example.org", true);
    link_by_code(&app, &fake, "UCAROL9", &carol).await;
    link_by_code(&app, &fake, "UDAVE9", &dave).await;
    fake.set_user_field("UCAROL9", "deleted", json!(true));
    fake.set_user_field("UDAVE9", "is_restricted", json!(true));
    let id = pending_prod_request(&app, &bob).await;
    let message = eventually("the request message", || async {
        fake.posts().into_iter().next()
    })
    .await;
    for (user, ts) in [
        ("UCAROL9", "1700000600.000001"),
        ("UDAVE9", "1700000600.000002"),
    ] {
        let body = click(&fake, &message, "latchkey_approve", user, ts);
        slack_post(&app, "/v1/slack/interactions", &body, &signed(&body)).await;
        let said = ephemeral_for(&fake, ts).await;
        assert!(said.starts_with("Not counted"), "{user}: {said}");
        assert!(said.contains("guests never review"), "{user}: {said}");
    }
    let view = state_of(&app, &id, &bob).await;
    assert_eq!(view["state"], "pending");
    assert_eq!(view["reviews"].as_array().unwrap().len(), 0);
    let mut tx = app.broker.core.store.begin_read().await.unwrap();
    let events = tx.audit_events(Some(&id), 0, 100).await.unwrap();
    tx.commit().await.unwrap();
    let codes: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "review.refused")
        .map(|e| e.details["code"].clone())
        .collect();
    assert_eq!(codes, vec![json!("slack_not_a_member"); 2]);
    // Reactivated, the link counts again.
    fake.set_user_field("UCAROL9", "deleted", json!(false));
    let body = click(
        &fake,
        &message,
        "latchkey_approve",
        "UCAROL9",
        "1700000600.000003",
    );
    slack_post(&app, "/v1/slack/interactions", &body, &signed(&body)).await;
    eventually("the approval", || async {
        (state_of(&app, &id, &bob).await["reviews"]
            .as_array()
            .unwrap()
            .len()
            == 1)
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_click_or_a_command_from_another_workspace_is_refused() {
    let (app, fake) = setup().await;
    fake.add_user("UCAROL", "carol@example.com", true);
    let bob = app.dev_login("bob@example.com", &["eng"]).await;
    let _carol = app.dev_login("carol@example.com", &["sre"]).await;
    let id = pending_prod_request(&app, &bob).await;
    let message = eventually("the request message", || async {
        fake.posts().into_iter().next()
    })
    .await;
    let ts = "1700000700.000001";
    let body = from_team(
        &click(&fake, &message, "latchkey_approve", "UCAROL", ts),
        "T0OTHER",
    );
    slack_post(&app, "/v1/slack/interactions", &body, &signed(&body)).await;
    let said = ephemeral_for(&fake, ts).await;
    assert!(said.contains("workspace"), "{said}");
    assert_eq!(
        state_of(&app, &id, &bob).await["reviews"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let cmd = command(&fake, "UCAROL", "status", "trig-other").replace("T0FAKE", "T0OTHER");
    slack_post(&app, "/v1/slack/commands", &cmd, &signed(&cmd)).await;
    let said = ephemeral_for(&fake, "trig-other").await;
    assert!(said.contains("workspace"), "{said}");
    // The same click from latchkey's workspace counts.
    let ts = "1700000700.000002";
    let body = click(&fake, &message, "latchkey_approve", "UCAROL", ts);
    slack_post(&app, "/v1/slack/interactions", &body, &signed(&body)).await;
    eventually("the approval", || async {
        (state_of(&app, &id, &bob).await["state"] == "approved").then_some(())
    })
    .await;
}

#[tokio::test]
async fn extreme_slack_timestamps_are_a_clean_refusal_not_a_panic() {
    let (app, _fake) = setup().await;
    let body = "token=x&team_id=T0FAKE&user_id=U1&command=%2Flatchkey&text=status&response_url=x&trigger_id=t";
    for ts in [
        i64::MIN.to_string(),
        i64::MAX.to_string(),
        "-9223372036854775809".to_string(),
        "99999999999999999999999999999".to_string(),
    ] {
        let headers = vec![
            (
                "x-slack-signature",
                latchkey::edges::http::slack_signing::sign(SECRET, &ts, body.as_bytes()),
            ),
            ("x-slack-request-timestamp", ts.clone()),
        ];
        let resp = slack_post(&app, "/v1/slack/commands", body, &headers).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{ts}");
        let v: Value = resp.json().await.unwrap();
        assert!(v["error"]["code"].is_string(), "{ts}: {v}");
    }
    // The broker still answers.
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
}
