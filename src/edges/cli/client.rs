//! The broker's API as the CLI sees it.

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::edges::cli::trust::{tls_error, tls_message, Trust};

/// An error the broker answered, or why it could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ApiClientError {
    /// The broker refused.
    #[error("{message} ({code}, request {request_id}){}", hint.as_deref().map(|h| format!("\n  to make it possible: {h}")).unwrap_or_default())]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable code.
        code: String,
        /// Message.
        message: String,
        /// Request id, for the operator.
        request_id: String,
        /// What would make a refused request possible.
        hint: Option<String>,
    },
    /// The broker could not be reached or answered something unreadable.
    #[error("{}", transport_message(server, source))]
    Transport {
        /// The server.
        server: String,
        /// The answer's `x-request-id`, when the broker answered something unreadable.
        request_id: Option<String>,
        /// Why.
        source: reqwest::Error,
    },
}

/// A refusal's message as the CLI prints it: each of the role's unmet terms on its own
/// line when there are several, else the broker's message.
fn refusal_message(message: String, unmet: &[String]) -> String {
    if unmet.len() < 2 {
        return message;
    }
    let mut text = format!(
        "the request does not meet {} of the role's terms:",
        unmet.len()
    );
    for u in unmet {
        text.push_str(&format!("\n  - {u}"));
    }
    text
}

/// Why the broker could not be reached, for people: a TLS failure says so and what to set.
fn transport_message(server: &str, source: &reqwest::Error) -> String {
    match tls_error(source) {
        Some(tls) => tls_message(server, tls),
        None => format!(
            "cannot reach the broker at {server}: {}",
            crate::model::error_chain::error_chain(source)
        ),
    }
}

impl ApiClientError {
    /// The TLS error, when TLS is why the broker could not be reached.
    pub fn tls(&self) -> Option<&rustls::Error> {
        match self {
            Self::Transport { source, .. } => tls_error(source),
            Self::Api { .. } => None,
        }
    }

    /// The HTTP status, when the broker answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            Self::Transport { .. } => None,
        }
    }

    /// The broker's `x-request-id` for this answer, when it answered.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Api { request_id, .. } => Some(request_id.as_str()).filter(|id| !id.is_empty()),
            Self::Transport { request_id, .. } => request_id.as_deref(),
        }
    }
}

/// The `x-request-id` header of an answer.
fn request_id_of(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorInner,
}

#[derive(Deserialize)]
struct ErrorInner {
    code: String,
    message: String,
    #[serde(default)]
    request_id: String,
    #[serde(default)]
    decision: Option<serde_json::Value>,
}

/// A client of one broker.
#[derive(Debug, Clone)]
pub struct ApiClient {
    server: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl ApiClient {
    /// A client for `server`, authenticated with `token` when given, trusting `trust`'s
    /// CAs besides the built-in roots.
    pub fn new(server: &str, token: Option<String>, trust: &Trust) -> Self {
        let http = trust
            .apply(reqwest::Client::builder())
            .user_agent(concat!("latchkey-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        Self {
            server: server.trim_end_matches('/').to_string(),
            http,
            token,
        }
    }

    /// The server URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ApiClientError> {
        let resp = self.open(req).await?;
        self.read(resp).await
    }

    /// Sends `req` with the session token: the response when its status is a success,
    /// else the broker's refusal.
    async fn open(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ApiClientError> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req
            .send()
            .await
            .map_err(|source| ApiClientError::Transport {
                server: self.server.clone(),
                request_id: None,
                source,
            })?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(Self::refusal(resp).await)
        }
    }

    /// The JSON body of a successful response (`null` for 204).
    async fn read<T: DeserializeOwned>(
        &self,
        resp: reqwest::Response,
    ) -> Result<T, ApiClientError> {
        let request_id = request_id_of(&resp);
        let transport = |source| ApiClientError::Transport {
            server: self.server.clone(),
            request_id: request_id.clone(),
            source,
        };
        let status = resp.status();
        if status == StatusCode::NO_CONTENT {
            return serde_json::from_value(serde_json::Value::Null).map_err(|_| {
                ApiClientError::Api {
                    status: status.as_u16(),
                    code: "unexpected_empty_body".into(),
                    message: "the broker answered with no body".into(),
                    request_id: request_id.clone().unwrap_or_default(),
                    hint: None,
                }
            });
        }
        resp.json().await.map_err(transport)
    }

    /// The broker's error answer as an [`ApiClientError`].
    async fn refusal(resp: reqwest::Response) -> ApiClientError {
        let status = resp.status();
        let header_id = request_id_of(&resp).unwrap_or_default();
        let text = resp.text().await.unwrap_or_default();
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(b) => {
                let decision = b.error.decision.as_ref();
                let unmet: Vec<String> = decision
                    .and_then(|d| d["unmet"].as_array())
                    .map(|list| {
                        list.iter()
                            .filter_map(|u| u["message"].as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                ApiClientError::Api {
                    status: status.as_u16(),
                    code: b.error.code,
                    message: refusal_message(b.error.message, &unmet),
                    request_id: if b.error.request_id.is_empty() {
                        header_id
                    } else {
                        b.error.request_id
                    },
                    hint: decision.and_then(|d| d["hint"].as_str()).map(String::from),
                }
            }
            Err(_) => ApiClientError::Api {
                status: status.as_u16(),
                code: "unexpected_response".into(),
                message: format!("HTTP {status}"),
                request_id: header_id,
                hint: None,
            },
        }
    }

    /// `GET path` answered by a stream: the open response, read as it arrives (no timeout
    /// but the connection's).
    pub async fn open_stream(&self, path: &str) -> Result<reqwest::Response, ApiClientError> {
        self.open(
            self.http
                .get(format!("{}{path}", self.server))
                .header(reqwest::header::ACCEPT, "text/event-stream")
                .timeout(std::time::Duration::from_secs(7 * 86_400)),
        )
        .await
    }

    /// `GET path`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiClientError> {
        self.send(self.http.get(format!("{}{path}", self.server)))
            .await
    }

    /// `GET path`, answered by bytes (the SSH revocation list).
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ApiClientError> {
        let resp = self
            .open(self.http.get(format!("{}{path}", self.server)))
            .await?;
        let request_id = request_id_of(&resp);
        let bytes = resp
            .bytes()
            .await
            .map_err(|source| ApiClientError::Transport {
                server: self.server.clone(),
                request_id,
                source,
            })?;
        Ok(bytes.to_vec())
    }

    /// `POST path` with a JSON body.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiClientError> {
        self.send(self.http.post(format!("{}{path}", self.server)).json(body))
            .await
    }

    /// `POST path` with a JSON body, answering the response itself for the caller to
    /// stream (an hour at most, for large downloads).
    pub async fn post_raw<B: Serialize>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<reqwest::Response, ApiClientError> {
        self.open(
            self.http
                .post(format!("{}{path}", self.server))
                .json(body)
                .timeout(std::time::Duration::from_secs(3600)),
        )
        .await
    }

    /// `DELETE path`.
    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiClientError> {
        self.send(self.http.delete(format!("{}{path}", self.server)))
            .await
    }
}

/// A path segment or query value, percent-encoded (spaces as `%20`).
pub(crate) fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
