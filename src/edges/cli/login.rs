//! OpenID Connect from the terminal: the device authorization grant (RFC 8628) and the
//! authorization code flow with PKCE (RFC 7636) and a loopback redirect (RFC 8252), both
//! through the one provider client ([`crate::adapters::auth::provider`]). Both end with an ID token
//! that the broker exchanges for its own session.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};

use crate::adapters::auth::provider::{CodeLogin, Provider, ProviderError};
use crate::edges::http::login::AuthConfig;
use crate::model::random::random_id;

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

/// Discovers the provider the broker names (its document must name that very issuer).
pub async fn discover(http: &reqwest::Client, config: &AuthConfig) -> anyhow::Result<Provider> {
    let (Some(issuer), Some(client_id)) = (&config.issuer, &config.client_id) else {
        bail!("this broker has no identity provider configured (for a development server, use `latchkey login --dev EMAIL`)");
    };
    Provider::discover(http.clone(), issuer, client_id, &config.scopes)
        .await
        .with_context(|| format!("discovering the identity provider {issuer}"))
}

/// Runs the device flow: shows the code, then waits for the human to confirm it.
pub async fn device_flow(provider: &Provider, prompt: impl Fn(&Prompt)) -> anyhow::Result<String> {
    let login = provider.start_device().await.map_err(|e| match e {
        ProviderError::NoDeviceFlow => anyhow!(
            "the identity provider does not offer the device flow; use `latchkey login --browser`"
        ),
        e => anyhow!(e).context("starting the device login at the identity provider"),
    })?;
    prompt(&Prompt::Device {
        verification_uri: login.verification_uri().to_string(),
        verification_uri_complete: login.verification_uri_complete().map(str::to_string),
        user_code: login.user_code().to_string(),
    });
    provider.finish_device(&login).await.map_err(|e| match &e {
        ProviderError::Refused { code, .. } if code == "access_denied" => {
            anyhow!("the login was denied at the identity provider")
        }
        ProviderError::Refused { code, .. } if code == "expired_token" => {
            anyhow!("the login code expired before it was confirmed; run `latchkey login` again")
        }
        _ => anyhow!(e),
    })
}

/// Runs the authorization code flow with PKCE, receiving the code on a loopback port.
pub async fn browser_flow(
    provider: &Provider,
    nonce: &str,
    timeout: Duration,
    prompt: impl Fn(&Prompt),
) -> anyhow::Result<String> {
    let (verifier, state) = (random_id()?, random_id()?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("opening a loopback port for the redirect")?;
    let redirect_uri = format!(
        "http://127.0.0.1:{}/callback",
        listener.local_addr()?.port()
    );
    let login = CodeLogin {
        redirect_uri: &redirect_uri,
        state: &state,
        nonce,
        pkce_verifier: &verifier,
        fresh: false,
    };
    let url = provider.authorization_url(&login)?;
    let (server, rx) = serve_callback(listener);
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
    let code = code_of(&query, &state)?;
    provider
        .exchange_code(code, &login)
        .await
        .map_err(|e| anyhow!(e).context("the identity provider refused the code"))
}

/// The redirect's query, received once on `listener`'s `/callback`.
type Callback = tokio::sync::oneshot::Receiver<HashMap<String, String>>;

/// Serves `/callback` on `listener`, handing the first redirect's query to the receiver.
fn serve_callback(
    listener: tokio::net::TcpListener,
) -> (tokio::task::JoinHandle<std::io::Result<()>>, Callback) {
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
    (server, rx)
}

/// The authorization code of a redirect for this login's `state`; a redirect for another
/// login, or one carrying the provider's refusal, is an error.
fn code_of<'q>(query: &'q HashMap<String, String>, state: &str) -> anyhow::Result<&'q String> {
    if query.get("state").map(String::as_str) != Some(state) {
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
    query.get("code").context("the redirect carries no code")
}
