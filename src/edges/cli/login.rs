//! OpenID Connect from the terminal: the device authorization grant (RFC 8628) and the
//! authorization code flow with PKCE (RFC 7636) and a loopback redirect (RFC 8252), both
//! through the one provider client ([`crate::adapters::auth::provider`]). Both end with an ID token
//! that the broker exchanges for its own session ([`log_in`], the `login` verb).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};

use crate::adapters::auth::provider::{CodeLogin, Provider, ProviderError};
use crate::edges::cli::args::LoginArgs;
use crate::edges::cli::client::ApiClient;
use crate::edges::cli::error::CliError;
use crate::edges::cli::idp_refusal::IdpRefusal;
use crate::edges::cli::saved_sessions::SavedSession;
use crate::edges::cli::trust::Trust;
use crate::model::random::random_id;
use crate::model::wire::BrowserLogin;
use crate::model::wire::{AuthConfig, SessionResponse};

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

/// The provider's refusal in its own words; any other failure with what was being done.
fn provider_error(e: ProviderError, doing: &'static str) -> anyhow::Error {
    match e {
        ProviderError::Refused { code, description } => {
            IdpRefusal::new(&code, description.as_deref()).into()
        }
        ProviderError::NoDeviceFlow => anyhow!(
            "the identity provider does not offer the device flow; use `latchkey login --browser`"
        ),
        e => anyhow!(e).context(doing),
    }
}

/// Runs the device flow: shows the code, then waits for the human to confirm it.
pub async fn device_flow(provider: &Provider, prompt: impl Fn(&Prompt)) -> anyhow::Result<String> {
    let login = provider
        .start_device()
        .await
        .map_err(|e| provider_error(e, "starting the device login at the identity provider"))?;
    prompt(&Prompt::Device {
        verification_uri: login.verification_uri().to_string(),
        verification_uri_complete: login.verification_uri_complete().map(str::to_string),
        user_code: login.user_code().to_string(),
    });
    provider
        .finish_device(&login)
        .await
        .map_err(|e| provider_error(e, "waiting for the device login to be confirmed"))
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
                "no answer from the browser within {}s; run `latchkey login --browser` again \
                 (if the browser shows an error of the identity provider instead of a login, \
                 such as an unknown client, the broker's oidc.client_id may be wrong)",
                timeout.as_secs()
            )
        })?
        .context("the redirect listener stopped")?;
    let code = code_of(&query, &state)?;
    provider
        .exchange_code(code, &login)
        .await
        .map_err(|e| provider_error(e, "exchanging the code at the identity provider"))
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
            let refused = q.contains_key("error");
            if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                let _ = tx.send(q);
            }
            axum::response::Html(if refused {
                "<!doctype html><title>latchkey</title><p>The identity provider refused the login; the terminal says why. You can close this window.</p>"
            } else {
                "<!doctype html><title>latchkey</title><p>Login received. You can close this window and return to the terminal.</p>"
            })
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    (server, rx)
}

/// The authorization code of a redirect for this login's `state`. A redirect carrying the
/// provider's refusal is that refusal (also without a `state`: a provider that failed
/// before reading it sends none, and a refusal grants nothing); a redirect for another
/// login is refused.
fn code_of<'q>(query: &'q HashMap<String, String>, state: &str) -> anyhow::Result<&'q String> {
    let returned = query.get("state").map(String::as_str);
    let ours = returned == Some(state);
    if let Some(error) = query.get("error").filter(|_| ours || returned.is_none()) {
        let description = query.get("error_description").map(String::as_str);
        return Err(IdpRefusal::new(error, description).into());
    }
    if !ours {
        bail!("the redirect's state does not match this login; refusing it");
    }
    query.get("code").context("the redirect carries no code")
}

/// Shows the human what to do: the device code, or the URL (printed, and opened with
/// `$BROWSER` or `xdg-open` unless `LATCHKEY_NO_BROWSER` is set).
fn show_prompt(p: &Prompt) {
    match p {
        Prompt::Device {
            verification_uri,
            verification_uri_complete,
            user_code,
        } => {
            eprintln!("To log in, open {verification_uri} and enter the code {user_code}");
            if let Some(complete) = verification_uri_complete {
                eprintln!("  (or open {complete})");
            }
            eprintln!("Waiting for you to confirm…");
        }
        Prompt::Browser { url } => {
            eprintln!("Open this URL in your browser to log in:\n  {url}");
            if std::env::var_os("LATCHKEY_NO_BROWSER").is_none() {
                crate::edges::cli::browser::open(url);
            }
        }
    }
}

/// `latchkey login`: a development login, or the provider's browser or device flow whose
/// ID token the broker exchanges for a session.
pub async fn log_in(
    server: &str,
    args: &LoginArgs,
    trust: &Trust,
) -> Result<SavedSession, CliError> {
    let api = ApiClient::new(server, None, trust);
    let session: SessionResponse = if let Some(email) = &args.dev {
        api.post(
            "/v1/auth/dev-login",
            &serde_json::json!({"email": email, "groups": args.groups}),
        )
        .await?
    } else {
        let config: AuthConfig = api.get("/v1/auth/config").await?;
        let http = crate::adapters::http::client_from(trust.apply(reqwest::Client::builder()))?;
        let provider = discover(&http, &config).await?;
        if args.browser {
            let attempt: BrowserLogin =
                api.post("/v1/auth/browser", &serde_json::json!({})).await?;
            let id_token = browser_flow(
                &provider,
                &attempt.nonce,
                Duration::from_secs(300),
                show_prompt,
            )
            .await?;
            api.post(
                "/v1/auth/login",
                &serde_json::json!({"id_token": id_token, "login_id": attempt.login_id}),
            )
            .await?
        } else {
            let id_token = device_flow(&provider, show_prompt).await?;
            api.post("/v1/auth/login", &serde_json::json!({"id_token": id_token}))
                .await?
        }
    };
    Ok(session)
}
