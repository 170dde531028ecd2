//! Reviews from Slack on roles that ask for a fresh login (`reviewer_fresh_login`). A
//! click is not a login, so the click is answered (ephemerally, to that reviewer only)
//! with a single-use link; it leads to the identity provider (authorization code + PKCE,
//! `prompt=login`, `max_age=0`), and the review counts when the provider vouches, with a
//! new `auth_time`, for the very latchkey user the Slack account is bound to. The ID
//! token is checked like a login's (signature, issuer, audience, expiry, nonce) and can
//! be used once.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::access::Verdict;
use crate::audit::Origin;
use crate::domain::Principal;
use crate::random::random_id;
use crate::service::{Broker, RequestView, ServiceError};
use crate::store::Confirmation;

/// How long a confirmation link works.
const LIFETIME: chrono::Duration = chrono::Duration::minutes(10);
/// Path of the link a reviewer opens.
pub const CONFIRM_PATH: &str = "/v1/slack/confirm";
/// Path the provider redirects back to (register `{public_url}/v1/slack/callback` with the provider).
pub const CALLBACK_PATH: &str = "/v1/slack/callback";

#[derive(Deserialize)]
struct Endpoints {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
}

fn unavailable(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::IdToken(crate::auth::oidc::IdTokenError::ProviderUnavailable(
        e.to_string(),
    ))
}

fn http() -> Result<reqwest::Client, ServiceError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| unavailable(e.without_url()))
}

async fn endpoints(broker: &Broker, http: &reqwest::Client) -> Result<Endpoints, ServiceError> {
    let oidc = broker
        .config
        .oidc
        .as_ref()
        .ok_or(ServiceError::NoProvider)?;
    let url = format!(
        "{}/.well-known/openid-configuration",
        oidc.issuer.trim_end_matches('/')
    );
    let found: Endpoints = http
        .get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| unavailable(e.without_url()))?
        .json()
        .await
        .map_err(|_| unavailable("the discovery document is invalid"))?;
    if found.issuer != oidc.issuer {
        return Err(unavailable("the discovery document names another issuer"));
    }
    Ok(found)
}

fn redirect_uri(broker: &Broker) -> String {
    format!("{}{CALLBACK_PATH}", broker.config.public_url)
}

/// Records a pending confirmation; returns the link to show the reviewer.
pub async fn offer(
    broker: &Broker,
    slack_user_id: &str,
    user_id: &str,
    request_id: &str,
    verdict: Verdict,
    now: DateTime<Utc>,
) -> Result<String, ServiceError> {
    if broker.config.oidc.is_none() {
        return Err(ServiceError::NoProvider);
    }
    let c = Confirmation {
        id: random_id()?,
        state: random_id()?,
        request_id: request_id.to_string(),
        verdict: match verdict {
            Verdict::Approve => "approve",
            Verdict::Deny => "deny",
        }
        .to_string(),
        slack_user_id: slack_user_id.to_string(),
        user_id: user_id.to_string(),
        nonce: random_id()?,
        pkce_verifier: random_id()?,
        expires_at: crate::domain::to_ms(now + LIFETIME),
    };
    let mut tx = broker.store.begin().await?;
    tx.slack_insert_confirmation(&c).await?;
    tx.commit().await?;
    Ok(format!(
        "{}{CONFIRM_PATH}/{}",
        broker.config.public_url, c.id
    ))
}

/// The provider's authorization URL for a pending confirmation.
pub async fn start(broker: &Broker, id: &str, now: DateTime<Utc>) -> Result<String, ServiceError> {
    let oidc = broker
        .config
        .oidc
        .as_ref()
        .ok_or(ServiceError::NoProvider)?;
    let mut tx = broker.store.begin_read().await?;
    let c = tx.slack_confirmation(id, now).await?;
    tx.commit().await?;
    let c = c.ok_or_else(|| {
        ServiceError::NotFound(
            "this confirmation link is unknown, used or expired; click the button in Slack again"
                .into(),
        )
    })?;
    let found = endpoints(broker, &http()?).await?;
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        c.pkce_verifier.as_bytes(),
    ));
    let mut url = url::Url::parse(&found.authorization_endpoint)
        .map_err(|_| unavailable("the authorization endpoint is not a URL"))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &oidc.client_id)
        .append_pair("redirect_uri", &redirect_uri(broker))
        .append_pair("scope", &oidc.scopes.join(" "))
        .append_pair("state", &c.state)
        .append_pair("nonce", &c.nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("prompt", "login")
        .append_pair("max_age", "0");
    Ok(url.to_string())
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

/// Completes a confirmation: exchanges the code, verifies the ID token, checks it names
/// the bound user, and submits the review with the new `auth_time`.
pub async fn finish(
    broker: &Broker,
    state: &str,
    code: &str,
    origin: &Origin,
    now: DateTime<Utc>,
) -> Result<RequestView, ServiceError> {
    let oidc = broker
        .config
        .oidc
        .as_ref()
        .ok_or(ServiceError::NoProvider)?;
    let verifier = broker.verifier.as_ref().ok_or(ServiceError::NoProvider)?;
    let mut tx = broker.store.begin().await?;
    let c = tx.slack_take_confirmation(state, now).await?;
    tx.commit().await?;
    let c = c.ok_or(ServiceError::LoginAttemptInvalid)?;
    let http = http()?;
    let found = endpoints(broker, &http).await?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &redirect_uri(broker)),
        ("client_id", &oidc.client_id),
        ("code_verifier", &c.pkce_verifier),
    ];
    let resp = http
        .post(&found.token_endpoint)
        .form(&form)
        .send()
        .await
        .map_err(|e| unavailable(e.without_url()))?;
    if !resp.status().is_success() {
        return Err(ServiceError::Forbidden(format!(
            "the identity provider refused the login (HTTP {})",
            resp.status()
        )));
    }
    let id_token = resp
        .json::<TokenResponse>()
        .await
        .ok()
        .and_then(|t| t.id_token)
        .ok_or_else(|| unavailable("no ID token in the token response"))?;
    let verified = verifier.verify(&id_token, Some(&c.nonce), now).await?;
    let identity = verified.identity;
    if identity.user_id() != c.user_id {
        return Err(ServiceError::Forbidden(format!(
            "you confirmed as {}, but this Slack account is bound to another latchkey user",
            identity.email.as_deref().unwrap_or(&identity.subject)
        )));
    }
    let mut tx = broker.store.begin().await?;
    if !tx
        .mark_id_token_used(&verified.replay_key, verified.remember_until, now)
        .await?
    {
        return Err(ServiceError::IdTokenReplayed);
    }
    if tx.find_lock(&identity.lock_identifiers()).await?.is_some() {
        return Err(ServiceError::UserLocked);
    }
    tx.upsert_user(&identity, now).await?;
    tx.commit().await?;
    let principal = Principal {
        user_id: identity.user_id(),
        subject: identity.subject.clone(),
        email: identity.email.clone(),
        name: identity.name.clone(),
        groups: identity.groups.clone(),
        session_id: format!("slack-confirm:{}", c.id),
        expires_at: now,
        dev: false,
        auth_time: identity.auth_time,
    };
    let verdict = if c.verdict == "deny" {
        Verdict::Deny
    } else {
        Verdict::Approve
    };
    let via = serde_json::json!({ "via": "slack", "slack_user_id": c.slack_user_id, "binding": "fresh_login" });
    broker
        .review_via(
            &principal,
            &c.request_id,
            verdict,
            None,
            origin,
            Some(&via),
            now,
        )
        .await
}
