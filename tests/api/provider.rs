//! The one OpenID Connect client (`latchkey::adapters::auth::provider`, over the `openidconnect`
//! crate): discovery must find the very issuer it was given.

use reqwest::StatusCode;

use crate::helpers::{assert_error, spawn_app, Options};
use crate::idp::TestIdp;
use latchkey::adapters::auth::provider::{Provider, ProviderError};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn discovery_finds_the_issuer_and_its_keys() {
    let idp = TestIdp::start().await;
    let provider = Provider::discover(http(), &idp.issuer, &idp.client_id, &["openid".into()])
        .await
        .unwrap();
    assert_eq!(provider.issuer(), idp.issuer);
    assert_eq!(provider.jwks().keys().len(), 1);
}

#[tokio::test]
async fn discovery_refuses_a_document_that_names_another_issuer() {
    let idp = TestIdp::start().await;
    for claimed in [
        format!("{}/", idp.issuer),
        "http://evil.example".to_string(),
    ] {
        idp.set_claimed_issuer(&claimed);
        let refused = Provider::discover(http(), &idp.issuer, &idp.client_id, &[]).await;
        assert!(
            matches!(refused, Err(ProviderError::WrongIssuer(_))),
            "{claimed}: {:?}",
            refused.err()
        );
    }
}

#[tokio::test]
async fn a_provider_whose_discovery_names_another_issuer_logs_nobody_in() {
    let idp = TestIdp::start().await;
    let app = spawn_app(Options {
        oidc: Some((idp.issuer.clone(), idp.client_id.clone())),
        ..Options::default()
    })
    .await;
    idp.set_claimed_issuer("http://evil.example");
    assert_error(
        app.login(&idp.token("alice"), None).await,
        StatusCode::BAD_GATEWAY,
        "identity_provider_unavailable",
    )
    .await;
}

#[tokio::test]
async fn a_provider_without_a_device_endpoint_says_so() {
    let idp = TestIdp::start().await;
    let provider = Provider::discover(http(), &idp.issuer, &idp.client_id, &[])
        .await
        .unwrap();
    assert!(matches!(
        provider.start_device().await,
        Err(ProviderError::NoDeviceFlow)
    ));
}

#[tokio::test]
async fn a_fresh_code_login_asks_for_a_new_authentication_with_an_s256_challenge() {
    use base64::Engine;
    let idp = TestIdp::start().await;
    let scopes = ["openid".to_string(), "email".to_string()];
    let provider = Provider::discover(http(), &idp.issuer, &idp.client_id, &scopes)
        .await
        .unwrap();
    let verifier = "v".repeat(43);
    let login = latchkey::adapters::auth::provider::CodeLogin {
        redirect_uri: "https://broker.example/v1/slack/callback",
        state: "st",
        nonce: "no",
        pkce_verifier: &verifier,
        fresh: true,
    };
    let url = provider.authorization_url(&login).unwrap();
    assert!(url.as_str().starts_with(&format!("{}/auth?", idp.issuer)));
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], idp.client_id);
    assert_eq!(q["redirect_uri"], login.redirect_uri);
    assert_eq!(q["scope"], "openid email");
    assert_eq!((q["state"].as_str(), q["nonce"].as_str()), ("st", "no"));
    assert_eq!(q["code_challenge"], challenge);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(
        (q["prompt"].as_str(), q["max_age"].as_str()),
        ("login", "0")
    );
    // A verifier the RFC does not allow is an error, not a panic in the crate.
    let short = latchkey::adapters::auth::provider::CodeLogin {
        pkce_verifier: "short",
        ..login
    };
    assert!(provider.authorization_url(&short).is_err());
}
