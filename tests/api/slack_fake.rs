//! A local fake of Slack's Web API, speaking its JSON: `chat.postMessage`, `chat.update`,
//! `views.open`, `users.info`, `users.lookupByEmail`, `auth.test` (bearer token checked,
//! `{"ok": false, "error"}` on failure, 429 with `Retry-After` when told to be down), and
//! `response_url`s. It records every message posted, updated, every modal opened and
//! every ephemeral answer, and builds the `view_submission` payload Slack would post
//! when a user submits an opened modal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

pub const BOT_TOKEN: &str = "xoxb-test-0000-secret-bot-token";

#[derive(Default)]
pub struct Recorded {
    /// Bodies of successful `chat.postMessage` calls, with the `ts` given.
    pub posts: Vec<Value>,
    /// Bodies of successful `chat.update` calls.
    pub updates: Vec<Value>,
    /// Bodies posted to response URLs.
    pub responses: Vec<Value>,
    /// Modals opened, as Slack holds them (with `id`), and the trigger each was opened with.
    pub views: Vec<(String, Value)>,
    /// Calls refused because the fake was down.
    pub refused: u32,
    users: HashMap<String, Value>,
    /// Answer this many further Web API calls with 429.
    down_for: u32,
    next_ts: u64,
    next_view: u64,
}

#[derive(Clone)]
pub struct FakeSlack {
    pub url: String,
    pub state: Arc<Mutex<Recorded>>,
}

fn ok(body: Value) -> Response {
    Json(body).into_response()
}

fn error(code: &str) -> Response {
    Json(json!({"ok": false, "error": code})).into_response()
}

/// Checks the bearer token and the outage switch; `Some(answer)` when the call must fail.
fn gate(state: &Arc<Mutex<Recorded>>, headers: &HeaderMap) -> Option<Response> {
    let mut s = state.lock().unwrap();
    if s.down_for > 0 {
        s.down_for -= 1;
        s.refused += 1;
        return Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                Json(json!({"ok": false, "error": "ratelimited"})),
            )
                .into_response(),
        );
    }
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {BOT_TOKEN}")) {
        return Some(error(if auth.is_none() {
            "not_authed"
        } else {
            "invalid_auth"
        }));
    }
    None
}

async fn post_message(
    State(state): State<Arc<Mutex<Recorded>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = gate(&state, &headers) {
        return r;
    }
    let Some(channel) = body["channel"].as_str().map(String::from) else {
        return error("channel_not_found");
    };
    let mut s = state.lock().unwrap();
    s.next_ts += 1;
    let ts = format!("1700000000.{:06}", s.next_ts);
    let mut recorded = body.clone();
    recorded["ts"] = json!(ts);
    s.posts.push(recorded);
    ok(json!({
        "ok": true, "channel": channel, "ts": ts,
        "message": {"type": "message", "subtype": "bot_message", "bot_id": "B0FAKE", "app_id": "A0FAKE",
                    "text": body["text"], "blocks": body["blocks"], "ts": ts, "team": "T0FAKE"}
    }))
}

async fn update(
    State(state): State<Arc<Mutex<Recorded>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = gate(&state, &headers) {
        return r;
    }
    let mut s = state.lock().unwrap();
    let known = s
        .posts
        .iter()
        .any(|p| p["ts"] == body["ts"] && p["channel"] == body["channel"]);
    if !known {
        return error("message_not_found");
    }
    s.updates.push(body.clone());
    ok(json!({
        "ok": true, "channel": body["channel"], "ts": body["ts"], "text": body["text"],
        "message": {"type": "message", "text": body["text"], "blocks": body["blocks"], "bot_id": "B0FAKE"}
    }))
}

/// Slack's limits on a modal (Block Kit reference, "Modal view"): type `modal`, a plain
/// text title of at most 24 characters, a submit button whenever it has an input block,
/// at most 100 blocks, `private_metadata` of at most 3000 and `callback_id` of at most 255
/// characters; an input block has a label and one element with an `action_id`.
fn valid_modal(view: &Value) -> bool {
    let text_of = |v: &Value, max: usize| {
        v["type"] == "plain_text"
            && v["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty() && t.chars().count() <= max)
    };
    let Some(blocks) = view["blocks"].as_array() else {
        return false;
    };
    let inputs_ok = blocks.iter().filter(|b| b["type"] == "input").all(|b| {
        text_of(&b["label"], 2000)
            && b["element"]["action_id"].is_string()
            && b["block_id"].is_string()
    });
    let has_input = blocks.iter().any(|b| b["type"] == "input");
    view["type"] == "modal"
        && text_of(&view["title"], 24)
        && (!has_input || text_of(&view["submit"], 24))
        && blocks.len() <= 100
        && inputs_ok
        && view["private_metadata"]
            .as_str()
            .is_none_or(|m| m.len() <= 3000)
        && view["callback_id"].as_str().is_none_or(|c| c.len() <= 255)
}

async fn views_open(
    State(state): State<Arc<Mutex<Recorded>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = gate(&state, &headers) {
        return r;
    }
    let Some(trigger) = body["trigger_id"].as_str().filter(|t| !t.is_empty()) else {
        return error("invalid_arguments");
    };
    let mut s = state.lock().unwrap();
    // A trigger opens one view.
    if s.views.iter().any(|(t, _)| t == trigger) {
        return error("exchanged_trigger_id");
    }
    if !valid_modal(&body["view"]) {
        return error("invalid_arguments");
    }
    s.next_view += 1;
    let id = format!("V0FAKE{:04}", s.next_view);
    let mut view = body["view"].clone();
    for (k, v) in [
        ("id", json!(id)),
        ("team_id", json!("T0FAKE")),
        ("state", json!({"values": {}})),
        ("hash", json!(format!("1700000000.{id}"))),
        ("root_view_id", json!(id)),
        ("previous_view_id", Value::Null),
        ("app_id", json!("A0FAKE")),
        ("bot_id", json!("B0FAKE")),
        ("external_id", json!("")),
        ("clear_on_close", json!(false)),
        ("notify_on_close", json!(false)),
        ("app_installed_team_id", json!("T0FAKE")),
    ] {
        view[k] = v;
    }
    if view["private_metadata"].is_null() {
        view["private_metadata"] = json!("");
    }
    if view["callback_id"].is_null() {
        view["callback_id"] = json!("");
    }
    s.views.push((trigger.to_string(), view.clone()));
    ok(json!({"ok": true, "view": view}))
}

async fn users_info(
    State(state): State<Arc<Mutex<Recorded>>>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if let Some(r) = gate(&state, &headers) {
        return r;
    }
    let s = state.lock().unwrap();
    match f.get("user").and_then(|u| s.users.get(u)) {
        Some(u) => ok(json!({"ok": true, "user": u})),
        None => error("user_not_found"),
    }
}

async fn lookup_by_email(
    State(state): State<Arc<Mutex<Recorded>>>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if let Some(r) = gate(&state, &headers) {
        return r;
    }
    let s = state.lock().unwrap();
    let email = f.get("email").cloned().unwrap_or_default();
    match s
        .users
        .values()
        .find(|u| u["profile"]["email"] == json!(email))
    {
        Some(u) => ok(json!({"ok": true, "user": u})),
        None => error("users_not_found"),
    }
}

async fn auth_test(State(state): State<Arc<Mutex<Recorded>>>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&state, &headers) {
        return r;
    }
    ok(json!({
        "ok": true, "url": "https://example.slack.com/", "team": "Example", "user": "latchkey",
        "team_id": "T0FAKE", "user_id": "U0LATCHKEY", "bot_id": "B0FAKE", "is_enterprise_install": false
    }))
}

async fn respond(
    State(state): State<Arc<Mutex<Recorded>>>,
    Path(n): Path<String>,
    Json(mut body): Json<Value>,
) -> Response {
    // Which response_url it went to, for the tests.
    body["_to"] = json!(n);
    state.lock().unwrap().responses.push(body);
    (StatusCode::OK, "ok").into_response()
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let state = Arc::new(Mutex::new(Recorded::default()));
        let app = Router::new()
            .route("/api/chat.postMessage", post(post_message))
            .route("/api/chat.update", post(update))
            .route("/api/views.open", post(views_open))
            .route("/api/users.info", post(users_info))
            .route("/api/users.lookupByEmail", post(lookup_by_email))
            .route("/api/auth.test", post(auth_test))
            .route("/response/{n}", post(respond))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeSlack {
            url: format!("http://{addr}"),
            state,
        }
    }

    /// The Web API base URL for `slack.api_url`.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.url)
    }

    /// A workspace member as `users.info` shows them.
    pub fn add_user(&self, id: &str, email: &str, confirmed: bool) {
        let name = email.split('@').next().unwrap_or(id);
        self.state.lock().unwrap().users.insert(
            id.to_string(),
            json!({
                "id": id, "team_id": "T0FAKE", "name": name, "deleted": false, "real_name": name,
                "tz": "Europe/Paris", "is_admin": false, "is_owner": false, "is_bot": false,
                "is_restricted": false, "is_ultra_restricted": false, "is_app_user": false,
                "is_email_confirmed": confirmed, "updated": 1700000000,
                "profile": {"real_name": name, "display_name": name, "email": email, "team": "T0FAKE"}
            }),
        );
    }

    /// Sets a field of a member's `users.info` record (`deleted`, `is_restricted`, …).
    pub fn set_user_field(&self, id: &str, field: &str, value: Value) {
        let mut s = self.state.lock().unwrap();
        let user = s.users.get_mut(id).expect("a known user");
        user[field] = value;
    }

    /// The next `n` Web API calls answer 429 with `Retry-After: 1`.
    pub fn go_down_for(&self, n: u32) {
        self.state.lock().unwrap().down_for = n;
    }

    pub fn posts(&self) -> Vec<Value> {
        self.state.lock().unwrap().posts.clone()
    }

    pub fn updates(&self) -> Vec<Value> {
        self.state.lock().unwrap().updates.clone()
    }

    pub fn responses(&self) -> Vec<Value> {
        self.state.lock().unwrap().responses.clone()
    }

    /// Modals opened, with the trigger each was opened with.
    pub fn views(&self) -> Vec<(String, Value)> {
        self.state.lock().unwrap().views.clone()
    }

    /// The form body Slack posts when `user` submits the opened modal `view`, each of
    /// its text inputs holding `value` (`None`: left empty, which Slack sends as null).
    pub fn view_submission(&self, view: &Value, user: &str, value: Option<&str>) -> String {
        let mut values = serde_json::Map::new();
        for b in view["blocks"].as_array().unwrap() {
            if b["type"] == "input" {
                let element = &b["element"];
                values.insert(
                    b["block_id"].as_str().unwrap().to_string(),
                    json!({ element["action_id"].as_str().unwrap(): {"type": element["type"], "value": value} }),
                );
            }
        }
        let mut submitted = view.clone();
        submitted["state"] = json!({ "values": values });
        let payload = json!({
            "type": "view_submission",
            "team": {"id": "T0FAKE", "domain": "example"},
            "user": {"id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": "T0FAKE"},
            "api_app_id": "A0FAKE", "token": "legacy-verification-token",
            "trigger_id": format!("{}.submit", view["id"].as_str().unwrap()),
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": false, "enterprise": null,
        });
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish()
    }

    pub fn refused(&self) -> u32 {
        self.state.lock().unwrap().refused
    }
}
