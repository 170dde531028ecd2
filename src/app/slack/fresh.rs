//! Reviews from Slack on roles that ask for a fresh login (`reviewer_fresh_login`). A
//! click is not a login, so the click is answered (ephemerally, to that reviewer only)
//! with a single-use link; it leads to the identity provider (authorization code + PKCE,
//! `prompt=login`, `max_age=0`), and the review counts when the provider vouches, with a
//! new `auth_time`, for the very latchkey user the Slack account is bound to. The ID
//! token is checked like a login's (signature, issuer, audience, expiry, nonce) and can
//! be used once.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::adapters::auth::oidc::{IdTokenVerifier, VerifiedIdToken};
use crate::adapters::auth::provider::{CodeLogin, Provider, ProviderError};
use crate::app::access::RequestView;
use crate::app::error::ServiceError;
use crate::app::services::Slack;
use crate::model::access::Verdict;
use crate::model::audit::Origin;
use crate::model::domain::{Identity, Principal};
use crate::model::random::random_id;
use crate::store::Confirmation;

/// How long a confirmation link works.
pub const LIFETIME: chrono::Duration = chrono::Duration::minutes(10);
/// Path of the link a reviewer opens.
pub const CONFIRM_PATH: &str = "/v1/slack/confirm";
/// Path the provider redirects back to (register `{public_url}/v1/slack/callback` with the provider).
pub const CALLBACK_PATH: &str = "/v1/slack/callback";

fn unavailable(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::IdToken(
        crate::adapters::auth::oidc::IdTokenError::ProviderUnavailable(e.to_string()),
    )
}

fn http() -> Result<reqwest::Client, ServiceError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| unavailable(e.without_url()))
}

/// The configured provider, discovered (its document must name the configured issuer).
async fn provider(slack: &Slack) -> Result<Provider, ServiceError> {
    let oidc = slack
        .core
        .config
        .oidc
        .as_ref()
        .ok_or(ServiceError::NoProvider)?;
    Provider::discover(http()?, &oidc.issuer, &oidc.client_id, &oidc.scopes)
        .await
        .map_err(unavailable)
}

/// The code login of a pending confirmation: a fresh authentication, with its own state,
/// nonce and PKCE verifier.
fn code_login<'a>(redirect_uri: &'a str, c: &'a Confirmation) -> CodeLogin<'a> {
    CodeLogin {
        redirect_uri,
        state: &c.state,
        nonce: &c.nonce,
        pkce_verifier: &c.pkce_verifier,
        fresh: true,
    }
}

fn redirect_uri(slack: &Slack) -> String {
    format!("{}{CALLBACK_PATH}", slack.core.config.public_url)
}

/// A Slack review that waits for a fresh login: who, on what, which way, and why.
pub struct Pending<'a> {
    /// The Slack user who clicked.
    pub slack_user_id: &'a str,
    /// The latchkey user they are bound to.
    pub user_id: &'a str,
    /// The request.
    pub request_id: &'a str,
    /// Approve or deny.
    pub verdict: Verdict,
    /// The reviewer's comment (a denial's reason).
    pub comment: Option<&'a str>,
}

/// Records a pending confirmation; returns the link to show the reviewer.
pub async fn offer(
    slack: &Slack,
    p: &Pending<'_>,
    now: DateTime<Utc>,
) -> Result<String, ServiceError> {
    if slack.core.config.oidc.is_none() {
        return Err(ServiceError::NoProvider);
    }
    let c = Confirmation {
        id: random_id()?,
        state: random_id()?,
        request_id: p.request_id.to_string(),
        verdict: match p.verdict {
            Verdict::Approve => "approve",
            Verdict::Deny => "deny",
        }
        .to_string(),
        slack_user_id: p.slack_user_id.to_string(),
        user_id: p.user_id.to_string(),
        nonce: random_id()?,
        pkce_verifier: random_id()?,
        expires_at: crate::model::domain::to_ms(now + LIFETIME),
        comment: p.comment.map(String::from),
    };
    let mut tx = slack.core.store.begin().await?;
    tx.slack_insert_confirmation(&c).await?;
    tx.commit().await?;
    Ok(format!(
        "{}{CONFIRM_PATH}/{}",
        slack.core.config.public_url, c.id
    ))
}

/// The provider's authorization URL for a pending confirmation.
pub async fn start(slack: &Slack, id: &str, now: DateTime<Utc>) -> Result<String, ServiceError> {
    if slack.core.config.oidc.is_none() {
        return Err(ServiceError::NoProvider);
    }
    let mut tx = slack.core.store.begin_read().await?;
    let c = tx.slack_confirmation(id, now).await?;
    tx.commit().await?;
    let c = c.ok_or_else(|| {
        ServiceError::NotFound(
            "this confirmation link is unknown, used or expired; click the button in Slack again"
                .into(),
        )
    })?;
    let redirect = redirect_uri(slack);
    let url = provider(slack)
        .await?
        .authorization_url(&code_login(&redirect, &c))
        .map_err(unavailable)?;
    Ok(url.to_string())
}

/// Completes a confirmation: exchanges the code, verifies the ID token, checks it names
/// the bound user, and submits the review with the new `auth_time`.
pub async fn finish(
    slack: &Slack,
    state: &str,
    code: &str,
    origin: &Origin,
    now: DateTime<Utc>,
) -> Result<RequestView, ServiceError> {
    let verifier = slack.verifier.as_ref().ok_or(ServiceError::NoProvider)?;
    let mut tx = slack.core.store.begin().await?;
    let c = tx.slack_take_confirmation(state, now).await?;
    tx.commit().await?;
    let c = c.ok_or(ServiceError::LoginAttemptInvalid)?;
    let verified = confirmed_login(slack, verifier, code, &c, now).await?;
    record_login(slack, &verified, now).await?;
    let principal = confirming_principal(&verified.identity, &c, now);
    let verdict = if c.verdict == "deny" {
        Verdict::Deny
    } else {
        Verdict::Approve
    };
    let via = serde_json::json!({ "via": "slack", "slack_user_id": c.slack_user_id, "binding": "fresh_login" });
    slack
        .access
        .review_via(
            &principal,
            &c.request_id,
            verdict,
            c.comment.clone(),
            origin,
            Some(&via),
            now,
        )
        .await
}

/// The provider's word on a confirmation: the code exchanged for an ID token, verified
/// with the confirmation's nonce, naming the very latchkey user the Slack account is
/// bound to.
async fn confirmed_login(
    slack: &Slack,
    verifier: &IdTokenVerifier,
    code: &str,
    c: &Confirmation,
    now: DateTime<Utc>,
) -> Result<VerifiedIdToken, ServiceError> {
    let redirect = redirect_uri(slack);
    let id_token = provider(slack)
        .await?
        .exchange_code(code, &code_login(&redirect, c))
        .await
        .map_err(|e| match e {
            ProviderError::Refused { .. } => {
                ServiceError::Forbidden(format!("the identity provider refused the login ({e})"))
            }
            e => unavailable(e),
        })?;
    let verified = verifier.verify(&id_token, Some(&c.nonce), now).await?;
    let identity = &verified.identity;
    if identity.user_id() != c.user_id {
        return Err(ServiceError::Forbidden(format!(
            "you confirmed as {}, but this Slack account is bound to another latchkey user",
            identity.email.as_deref().unwrap_or(&identity.subject)
        )));
    }
    Ok(verified)
}

/// Records the fresh login in one transaction, as a login would: its ID token used once,
/// refused for a locked user, the user's profile updated.
async fn record_login(
    slack: &Slack,
    verified: &VerifiedIdToken,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let identity = &verified.identity;
    let mut tx = slack.core.store.begin().await?;
    if !tx
        .mark_id_token_used(&verified.replay_key, verified.remember_until, now)
        .await?
    {
        return Err(ServiceError::IdTokenReplayed);
    }
    if tx.find_lock(&identity.lock_identifiers()).await?.is_some() {
        return Err(ServiceError::UserLocked);
    }
    tx.upsert_user(identity, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The reviewer as the fresh login shows them, with its `auth_time`; no session.
fn confirming_principal(identity: &Identity, c: &Confirmation, now: DateTime<Utc>) -> Principal {
    Principal {
        user_id: identity.user_id(),
        subject: identity.subject.clone(),
        email: identity.email.clone(),
        name: identity.name.clone(),
        groups: identity.groups.clone(),
        session_id: format!("slack-confirm:{}", c.id),
        expires_at: now,
        dev: false,
        auth_time: identity.auth_time,
        groups_claim_missing: None,
    }
}
