//! The Slack Web API client: `chat.postMessage`, `chat.update`, `views.open`, `users.info`,
//! `users.lookupByEmail`, `auth.test`, and posts to an interaction's `response_url`. Slack answers
//! HTTP 200 with `{"ok": false, "error": "…"}` on failure and 429 with `Retry-After` when
//! rate limited. The bot token travels only in the `Authorization` header and is never
//! logged (errors are built without URLs or bodies).

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::slack::SlackConfig;
use crate::model::secret::Secret;

/// A failed call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    /// Rate limited: try again after this long.
    #[error("rate limited by Slack; retry after {0:?}")]
    RateLimited(Duration),
    /// Slack said `ok: false` with this error code.
    #[error("Slack refused: {0}")]
    Refused(String),
    /// Unreachable, timed out, or answered something that is not the Web API's JSON.
    #[error("Slack unavailable: {0}")]
    Unavailable(String),
}

/// A Slack user as `users.info` describes them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlackUser {
    /// User id.
    pub id: String,
    /// Deactivated.
    #[serde(default)]
    pub deleted: bool,
    /// A bot.
    #[serde(default)]
    pub is_bot: bool,
    /// A multi-channel guest.
    #[serde(default)]
    pub is_restricted: bool,
    /// A single-channel guest.
    #[serde(default)]
    pub is_ultra_restricted: bool,
    /// Slack confirmed the email address.
    #[serde(default)]
    pub is_email_confirmed: bool,
    /// Profile (the email needs the `users:read.email` scope).
    #[serde(default)]
    pub profile: SlackProfile,
}

/// The part of a profile latchkey reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlackProfile {
    /// Email address.
    pub email: Option<String>,
}

/// A Web API client with the bot token.
#[derive(Debug, Clone)]
pub struct SlackApi {
    http: reqwest::Client,
    base: String,
    token: Secret,
    loopback: bool,
    /// The workspace whose clicks count: configured, or learnt once from `auth.test`.
    team: std::sync::Arc<tokio::sync::OnceCell<String>>,
}

/// Where `response_url`s may point: Slack's hooks host, or loopback when the Web API
/// itself is on loopback (tests). Anything else is refused, so a forged payload cannot
/// make the broker post into the internal network.
fn response_url_allowed(url: &str, loopback: bool) -> bool {
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "https" && u.host_str() == Some("hooks.slack.com") => true,
        Ok(u) => loopback && matches!(u.host_str(), Some("127.0.0.1" | "localhost")),
        Err(_) => false,
    }
}

impl SlackApi {
    /// A client for the configured workspace.
    pub fn new(config: &SlackConfig) -> Result<Self, SlackError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("latchkey/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SlackError::Unavailable(e.without_url().to_string()))?;
        let loopback = url::Url::parse(&config.api_url)
            .is_ok_and(|u| matches!(u.host_str(), Some("127.0.0.1" | "localhost")));
        Ok(Self {
            http,
            base: config.api_url.clone(),
            token: config.bot_token.clone(),
            loopback,
            team: std::sync::Arc::new(match &config.team_id {
                Some(t) => tokio::sync::OnceCell::new_with(Some(t.clone())),
                None => tokio::sync::OnceCell::new(),
            }),
        })
    }

    async fn answer(resp: Result<reqwest::Response, reqwest::Error>) -> Result<Value, SlackError> {
        let resp = resp.map_err(|e| SlackError::Unavailable(e.without_url().to_string()))?;
        if resp.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let secs = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(30);
            return Err(SlackError::RateLimited(Duration::from_secs(secs.min(3600))));
        }
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .map_err(|_| SlackError::Unavailable(format!("HTTP {status}, not JSON")))?;
        if body["ok"].as_bool() == Some(true) {
            Ok(body)
        } else {
            let code = body["error"].as_str().unwrap_or("unknown_error");
            Err(SlackError::Refused(code.chars().take(100).collect()))
        }
    }

    /// A write method with a JSON body.
    async fn call_json(&self, method: &str, body: &Value) -> Result<Value, SlackError> {
        let resp = self
            .http
            .post(format!("{}/{method}", self.base))
            .bearer_auth(self.token.expose())
            .json(body)
            .send()
            .await;
        Self::answer(resp).await
    }

    /// A read method with form arguments (Slack reads these from forms, not JSON).
    async fn call_form(&self, method: &str, form: &[(&str, &str)]) -> Result<Value, SlackError> {
        let resp = self
            .http
            .post(format!("{}/{method}", self.base))
            .bearer_auth(self.token.expose())
            .form(form)
            .send()
            .await;
        Self::answer(resp).await
    }

    /// Posts a message; returns its channel id and `ts`.
    pub async fn post_message(
        &self,
        channel: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<(String, String), SlackError> {
        let v = self
            .call_json(
                "chat.postMessage",
                &json!({"channel": channel, "text": text, "blocks": blocks, "unfurl_links": false}),
            )
            .await?;
        match (v["channel"].as_str(), v["ts"].as_str()) {
            (Some(c), Some(ts)) => Ok((c.to_string(), ts.to_string())),
            _ => Err(SlackError::Unavailable(
                "chat.postMessage answered without channel and ts".into(),
            )),
        }
    }

    /// Replaces a message's text and blocks.
    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<(), SlackError> {
        self.call_json(
            "chat.update",
            &json!({"channel": channel, "ts": ts, "text": text, "blocks": blocks}),
        )
        .await
        .map(drop)
    }

    /// Opens a modal for the user whose interaction gave `trigger_id` (valid for three
    /// seconds after the click, once).
    pub async fn views_open(&self, trigger_id: &str, view: &Value) -> Result<(), SlackError> {
        self.call_json(
            "views.open",
            &json!({"trigger_id": trigger_id, "view": view}),
        )
        .await
        .map(drop)
    }

    /// The workspace (team id) whose users count: `slack.team_id`, else the bot token's
    /// own as `auth.test` reports it (asked once; a failure is retried at the next call).
    pub async fn team_id(&self) -> Result<String, SlackError> {
        self.team
            .get_or_try_init(|| async {
                let v = self.call_form("auth.test", &[]).await?;
                v["team_id"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                    .map(String::from)
                    .ok_or_else(|| {
                        SlackError::Unavailable("auth.test answered without team_id".into())
                    })
            })
            .await
            .cloned()
    }

    /// A user's record.
    pub async fn user_info(&self, user: &str) -> Result<SlackUser, SlackError> {
        let v = self.call_form("users.info", &[("user", user)]).await?;
        serde_json::from_value(v["user"].clone())
            .map_err(|_| SlackError::Unavailable("users.info answered without a user".into()))
    }

    /// The Slack user with this email, if any.
    pub async fn lookup_by_email(&self, email: &str) -> Result<Option<SlackUser>, SlackError> {
        match self
            .call_form("users.lookupByEmail", &[("email", email)])
            .await
        {
            Ok(v) => Ok(serde_json::from_value(v["user"].clone()).ok()),
            Err(SlackError::Refused(code)) if code == "users_not_found" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Answers an interaction through its `response_url` (no token: the URL is the credential).
    pub async fn respond(&self, response_url: &str, body: &Value) -> Result<(), SlackError> {
        if !response_url_allowed(response_url, self.loopback) {
            return Err(SlackError::Refused(
                "response_url is not on hooks.slack.com".into(),
            ));
        }
        let resp = self
            .http
            .post(response_url)
            .json(body)
            .send()
            .await
            .map_err(|e| SlackError::Unavailable(e.without_url().to_string()))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(SlackError::Refused(format!(
                "response_url answered HTTP {}",
                resp.status()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::response_url_allowed;

    #[test]
    fn response_urls_go_to_slack_only() {
        assert!(response_url_allowed(
            "https://hooks.slack.com/actions/T1/2/x",
            false
        ));
        assert!(!response_url_allowed(
            "http://hooks.slack.com/actions/T1/2/x",
            false
        ));
        assert!(!response_url_allowed(
            "https://hooks.slack.com.evil.example/x",
            false
        ));
        assert!(!response_url_allowed("http://127.0.0.1:9/x", false));
        assert!(!response_url_allowed("http://169.254.169.254/latest", true));
        assert!(response_url_allowed("http://127.0.0.1:9/x", true));
    }
}
