//! OpenID Connect from the terminal: the device authorization grant (RFC 8628) and the
//! authorization code flow with PKCE (RFC 7636) and a loopback redirect (RFC 8252).
//! Both end with an ID token that the broker exchanges for its own session.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

use crate::http::login::AuthConfig;
use crate::random::random_id;

/// The provider's endpoints, from its discovery document.
#[derive(Debug, Clone, Deserialize)]
pub struct Provider {
    /// Issuer.
    pub issuer: String,
    /// Authorization endpoint (code flow).
    pub authorization_endpoint: String,
    /// Token endpoint.
    pub token_endpoint: String,
    /// Device authorization endpoint, if the provider has the device flow.
    pub device_authorization_endpoint: Option<String>,
    /// Client id (from the broker, not the discovery document).
    #[serde(skip)]
    pub client_id: String,
    /// Scopes (from the broker).
    #[serde(skip)]
    pub scopes: String,
}

/// What to show the human during a login.
#[derive(Debug, Clone)]
pub enum Prompt {
    /// Device flow: open this page and enter this code.
    Device {
        /// The verification page.
        verification_uri: String,
        /// The same with the code filled in, when the provider gives one.
        verification_uri_complete: Option<String>,
        /// The code to enter.
        user_code: String,
    },
    /// Code flow: open this URL in a browser.
    Browser {
        /// The authorization URL.
        url: String,
    },
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenError {
    error: String,
    error_description: Option<String>,
}

/// Reads the provider's discovery document for the issuer the broker names.
pub async fn discover(http: &reqwest::Client, config: &AuthConfig) -> anyhow::Result<Provider> {
    let (Some(issuer), Some(client_id)) = (&config.issuer, &config.client_id) else {
        bail!("this broker has no identity provider configured (for a development server, use `latchkey login --dev EMAIL`)");
    };
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let mut provider: Provider = http
        .get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .with_context(|| format!("reading the identity provider's discovery document {url}"))?
        .json()
        .await
        .context("the identity provider's discovery document is invalid")?;
    if provider.issuer != *issuer {
        bail!(
            "the identity provider calls itself {:?}, the broker expects {issuer:?}",
            provider.issuer
        );
    }
    provider.client_id = client_id.clone();
    provider.scopes = config.scopes.join(" ");
    Ok(provider)
}

async fn token_request(
    http: &reqwest::Client,
    provider: &Provider,
    form: &[(&str, &str)],
) -> anyhow::Result<Result<String, TokenError>> {
    let resp = http
        .post(&provider.token_endpoint)
        .form(form)
        .send()
        .await
        .context("contacting the identity provider's token endpoint")?;
    if resp.status().is_success() {
        let body: TokenResponse = resp.json().await.context("the token response is invalid")?;
        return body.id_token.map(Ok).ok_or_else(|| {
            anyhow!("the identity provider returned no ID token (is the `openid` scope allowed?)")
        });
    }
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    match serde_json::from_str::<TokenError>(&body) {
        Ok(e) => Ok(Err(e)),
        Err(_) => bail!("the identity provider's token endpoint answered HTTP {status}"),
    }
}

/// Runs the device flow; `min_interval` floors the polling interval (RFC 8628 says 5 s when the provider names none).
pub async fn device_flow(
    http: &reqwest::Client,
    provider: &Provider,
    min_interval: Duration,
    prompt: impl Fn(&Prompt),
) -> anyhow::Result<String> {
    #[derive(Deserialize)]
    struct DeviceAuth {
        device_code: String,
        user_code: String,
        verification_uri: String,
        verification_uri_complete: Option<String>,
        expires_in: u64,
        interval: Option<u64>,
    }
    let endpoint = provider.device_authorization_endpoint.as_deref().context(
        "the identity provider does not offer the device flow; use `latchkey login --browser`",
    )?;
    let auth: DeviceAuth = http
        .post(endpoint)
        .form(&[
            ("client_id", provider.client_id.as_str()),
            ("scope", provider.scopes.as_str()),
        ])
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .context("starting the device login at the identity provider")?
        .json()
        .await
        .context("the device authorization response is invalid")?;
    prompt(&Prompt::Device {
        verification_uri: auth.verification_uri.clone(),
        verification_uri_complete: auth.verification_uri_complete.clone(),
        user_code: auth.user_code.clone(),
    });
    let deadline = Instant::now() + Duration::from_secs(auth.expires_in);
    let mut interval = Duration::from_secs(auth.interval.unwrap_or(5)).max(min_interval);
    loop {
        tokio::time::sleep(interval).await;
        if Instant::now() > deadline {
            bail!("the login code expired before it was confirmed; run `latchkey login` again");
        }
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", auth.device_code.as_str()),
            ("client_id", provider.client_id.as_str()),
        ];
        match token_request(http, provider, &form).await? {
            Ok(id_token) => return Ok(id_token),
            Err(e) => match e.error.as_str() {
                "authorization_pending" => {}
                "slow_down" => interval += Duration::from_secs(5),
                "access_denied" => bail!("the login was denied at the identity provider"),
                "expired_token" => bail!("the login code expired; run `latchkey login` again"),
                other => bail!(
                    "the identity provider refused the login: {other}{}",
                    describe(&e)
                ),
            },
        }
    }
}

fn describe(e: &TokenError) -> String {
    e.error_description
        .as_deref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default()
}

/// Runs the authorization code flow with PKCE, receiving the code on a loopback port.
pub async fn browser_flow(
    http: &reqwest::Client,
    provider: &Provider,
    nonce: &str,
    timeout: Duration,
    prompt: impl Fn(&Prompt),
) -> anyhow::Result<String> {
    let verifier = random_id()?;
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    let state = random_id()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("opening a loopback port for the redirect")?;
    let redirect_uri = format!(
        "http://127.0.0.1:{}/callback",
        listener.local_addr()?.port()
    );
    let mut url = url::Url::parse(&provider.authorization_endpoint)
        .context("the authorization endpoint is not a URL")?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &provider.client_id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", &provider.scopes)
        .append_pair("state", &state)
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let (tx, rx) = tokio::sync::oneshot::channel::<HashMap<String, String>>();
    let tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    let app = axum::Router::new().route(
        "/callback",
        axum::routing::get(move |axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>| async move {
            if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                let _ = tx.send(q);
            }
            axum::response::Html("<!doctype html><title>latchkey</title><p>Login received. You can close this window and return to the terminal.</p>")
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    prompt(&Prompt::Browser {
        url: url.to_string(),
    });
    let query = tokio::time::timeout(timeout, rx).await;
    server.abort();
    let query = query
        .map_err(|_| {
            anyhow!(
                "no answer from the browser within {}s; run `latchkey login --browser` again",
                timeout.as_secs()
            )
        })?
        .context("the redirect listener stopped")?;
    if query.get("state").map(String::as_str) != Some(state.as_str()) {
        bail!("the redirect's state does not match this login; refusing it");
    }
    if let Some(error) = query.get("error") {
        bail!(
            "the identity provider refused the login: {error} {}",
            query
                .get("error_description")
                .map(String::as_str)
                .unwrap_or("")
        );
    }
    let code = query.get("code").context("the redirect carries no code")?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("client_id", provider.client_id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    token_request(http, provider, &form).await?.map_err(|e| {
        anyhow!(
            "the identity provider refused the code: {}{}",
            e.error,
            describe(&e)
        )
    })
}
