//! `latchkey serve --check-idp`: what the configured identity provider really offers,
//! before anyone logs in. Its discovery document (claims, scopes, the device flow), then
//! a test login through the device flow and what that ID token carries, verified as a
//! login's would be. Nothing is stored: no session, no audit event. The point is the
//! groups claim: a provider that does not send `oidc.groups_claim` makes every login
//! succeed with no groups.

use anyhow::Context;
use chrono::Utc;
use serde_json::Value;

use crate::adapters::auth::oidc::{unverified_claims, IdTokenVerifier};
use crate::adapters::auth::provider::Provider;
use crate::adapters::http::client as http_client;
use crate::config::{Config, OidcConfig};

/// Prints the report on stdout (the test login's prompt on stderr); `false` when the test
/// token lacks the groups claim.
pub(super) async fn run(config: &Config) -> anyhow::Result<bool> {
    let oidc = config.oidc.as_ref().context(
        "no identity provider is configured: set oidc.issuer (LATCHKEY_OIDC_ISSUER) and oidc.client_id (LATCHKEY_OIDC_CLIENT_ID)",
    )?;
    let http = http_client()?;
    let doc = discovery(&http, &oidc.issuer).await?;
    report_discovery(oidc, &doc);
    if doc.get("device_authorization_endpoint").is_none() {
        println!("test login:      skipped: the provider offers no device flow (device_authorization_endpoint), so no test token");
        return Ok(listed(&doc, "claims_supported").contains(&oidc.groups_claim));
    }
    let token = test_login(&http, oidc).await?;
    let verified = IdTokenVerifier::new(oidc.clone(), http)
        .verify(&token, None, Utc::now())
        .await
        .context("the test login's ID token does not verify as a login's would")?;
    // Verified: what the payload says is the provider's word.
    let claims = unverified_claims(&token)?;
    let mut names: Vec<&str> = claims.keys().map(String::as_str).collect();
    names.sort_unstable();
    let who = &verified.identity;
    println!(
        "test token:      {} (subject {})",
        who.email.as_deref().unwrap_or("no verified email"),
        who.subject
    );
    println!("token claims:    {}", names.join(", "));
    let claim = &oidc.groups_claim;
    if verified.groups_claim_missing {
        println!(
            "groups in token: MISSING: the ID token has no {claim:?} claim, so every login gets no groups; set oidc.groups_claim (LATCHKEY_OIDC_GROUPS_CLAIM) to the claim that holds them, or have the provider send {claim:?} (a scope or a claim mapping)"
        );
    } else {
        println!(
            "groups in token: {claim:?} present: {}",
            if who.groups.is_empty() {
                "(empty for this person)".to_string()
            } else {
                who.groups.join(", ")
            }
        );
    }
    Ok(!verified.groups_claim_missing)
}

/// The provider's discovery document, as it is.
async fn discovery(http: &reqwest::Client, issuer: &str) -> anyhow::Result<Value> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let doc: Value = http
        .get(&url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("fetching {url} (check oidc.issuer / LATCHKEY_OIDC_ISSUER)"))?
        .json()
        .await
        .with_context(|| format!("{url} is not a JSON discovery document"))?;
    Ok(doc)
}

/// The strings of the list `key` in the discovery document.
fn listed(doc: &Value, key: &str) -> Vec<String> {
    doc.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn report_discovery(oidc: &OidcConfig, doc: &Value) {
    let issuer = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
    println!(
        "provider:        {}{}",
        oidc.issuer,
        if issuer == oidc.issuer {
            String::new()
        } else {
            format!(" (its document names another issuer: {issuer:?})")
        }
    );
    let claims = listed(doc, "claims_supported");
    let claim = &oidc.groups_claim;
    if claims.is_empty() {
        println!("claims listed:   none (claims_supported is absent; the test token below tells)");
    } else {
        println!("claims listed:   {}", claims.join(", "));
        let verdict = if claims.contains(claim) {
            "listed"
        } else {
            "NOT listed"
        };
        println!("groups claim:    {claim:?} (oidc.groups_claim) {verdict} in claims_supported");
    }
    let scopes = listed(doc, "scopes_supported");
    let unoffered: Vec<&str> = oidc
        .scopes
        .iter()
        .filter(|s| !scopes.is_empty() && !scopes.contains(s))
        .map(String::as_str)
        .collect();
    println!(
        "scopes asked:    {}{}",
        oidc.scopes.join(", "),
        if unoffered.is_empty() {
            String::new()
        } else {
            format!(
                " (not in scopes_supported: {}; set oidc.scopes / LATCHKEY_OIDC_SCOPES)",
                unoffered.join(", ")
            )
        }
    );
}

/// A device-flow login whose ID token is only looked at.
async fn test_login(http: &reqwest::Client, oidc: &OidcConfig) -> anyhow::Result<String> {
    let provider = Provider::discover(http.clone(), &oidc.issuer, &oidc.client_id, &oidc.scopes)
        .await
        .context("discovering the identity provider")?;
    let login = provider
        .start_device()
        .await
        .context("starting a test login (device flow) at the identity provider")?;
    eprintln!(
        "Test login: open {} and enter the code {}",
        login.verification_uri(),
        login.user_code()
    );
    eprintln!("Waiting for the test login to be confirmed…");
    provider
        .finish_device(&login)
        .await
        .context("the test login did not finish")
}
