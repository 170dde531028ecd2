//! Attacks on the ID token login found by reading the identity code: replay in the clock
//! skew window, ECDSA malleability, a failing or hanging JWKS endpoint, `azp` and `typ`.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, spawn_app, Options, TestApp};
use crate::idp::{TestIdp, TestKey};

async fn setup() -> (TestIdp, TestApp) {
    let idp = TestIdp::start().await;
    let app = spawn_app(Options {
        oidc: Some((idp.issuer.clone(), idp.client_id.clone())),
        ..Options::default()
    })
    .await;
    (idp, app)
}

async fn refused_with(app: &TestApp, token: &str, code: &str) {
    assert_error(app.login(token, None).await, StatusCode::UNAUTHORIZED, code).await;
}

/// The order of the P-256 group, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// `n − s` for a 32-byte big-endian `s` below `n`.
fn negate_mod_n(s: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(P256_N[i]) - i16::from(s[i]) - borrow;
        borrow = 0;
        if d < 0 {
            d += 256;
            borrow = 1;
        }
        out[i] = d as u8;
    }
    out
}

/// The same ES256 token with its signature `(r, s)` replaced by `(r, n − s)`.
fn malleate(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    assert_eq!(sig.len(), 64);
    let mut flipped = sig[..32].to_vec();
    flipped.extend(negate_mod_n(&sig[32..]));
    assert_ne!(flipped, sig);
    format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(flipped)
    )
}

#[tokio::test]
async fn a_token_replayed_inside_the_clock_skew_after_its_expiry_does_not_log_in_again() {
    let (idp, app) = setup().await;
    let now = chrono::Utc::now().timestamp();
    // A device-flow token (no nonce) that expired 10 s ago: still inside the 60 s skew.
    let mut c = idp.claims("alice");
    c["iat"] = json!(now - 900);
    c["exp"] = json!(now - 10);
    let token = idp.key().sign(&c);
    assert_eq!(app.login(&token, None).await.status(), StatusCode::CREATED);
    for _ in 0..3 {
        refused_with(&app, &token, "id_token_replayed").await;
    }
}

#[tokio::test]
async fn an_es256_token_with_its_signature_flipped_to_n_minus_s_does_not_log_in_again() {
    let (idp, app) = setup().await;
    for claims in [idp.claims("alice"), {
        // Without jti the key is iat, exp and nonce.
        let mut c = idp.claims("bob");
        c.as_object_mut().unwrap().remove("jti");
        c
    }] {
        let token = idp.key().sign(&claims);
        assert_eq!(app.login(&token, None).await.status(), StatusCode::CREATED);
        // The altered spelling still verifies (the code is not bad_signature): it is
        // refused as the same token.
        refused_with(&app, &malleate(&token), "id_token_replayed").await;
    }
    // And the other way round: the altered form first, then the original.
    let token = idp.token("carol");
    assert_eq!(
        app.login(&malleate(&token), None).await.status(),
        StatusCode::CREATED
    );
    refused_with(&app, &token, "id_token_replayed").await;
}

#[tokio::test]
async fn azp_naming_another_party_is_refused_even_with_a_single_audience() {
    let (idp, app) = setup().await;
    let mut c = idp.claims("alice");
    c["azp"] = json!("another-client");
    refused_with(&app, &idp.key().sign(&c), "id_token_wrong_audience").await;
    c["aud"] = json!([idp.client_id]);
    refused_with(&app, &idp.key().sign(&c), "id_token_wrong_audience").await;
    c["azp"] = json!(42);
    refused_with(&app, &idp.key().sign(&c), "id_token_wrong_audience").await;
    // Several audiences and no azp at all.
    let mut c = idp.claims("alice");
    c["aud"] = json!([idp.client_id, "another-client"]);
    refused_with(&app, &idp.key().sign(&c), "id_token_wrong_audience").await;
    // azp naming this client passes.
    c["azp"] = json!(idp.client_id);
    assert_eq!(
        app.login(&idp.key().sign(&c), None).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_jwt_access_token_is_not_taken_for_an_id_token() {
    let (idp, app) = setup().await;
    for typ in ["at+jwt", "application/at+jwt", "logout+jwt", "JOSE", ""] {
        let token = idp.key().sign_typ(&idp.claims("alice"), Some(typ));
        refused_with(&app, &token, "id_token_wrong_type").await;
    }
    for (sub, typ) in [
        ("a", None),
        ("b", Some("JWT")),
        ("c", Some("application/jwt")),
    ] {
        let token = idp.key().sign_typ(&idp.claims(sub), typ);
        assert_eq!(
            app.login(&token, None).await.status(),
            StatusCode::CREATED,
            "{typ:?}"
        );
    }
}

#[tokio::test]
async fn a_failing_jwks_endpoint_is_not_fetched_on_every_login() {
    let (idp, app) = setup().await;
    assert_eq!(
        app.login(&idp.token("alice"), None).await.status(),
        StatusCode::CREATED
    );
    idp.set_jwks_failing(true);
    // Past jwks_min_refresh (1 s), an unknown kid may refetch once.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = idp.jwks_hits();
    let stranger = TestKey::generate("key-unknown");
    for _ in 0..20 {
        let resp = app
            .login(&stranger.sign(&idp.claims("mallory")), None)
            .await;
        assert_ne!(resp.status(), StatusCode::CREATED);
    }
    let fetched = idp.jwks_hits() - before;
    assert!(
        fetched <= 2,
        "20 logins fetched the failing JWKS {fetched} times"
    );
    // Logins with the cached key go on while the provider fails.
    assert_eq!(
        app.login(&idp.token("bob"), None).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_hanging_jwks_endpoint_does_not_hold_up_logins_with_a_cached_key() {
    let (idp, app) = setup().await;
    assert_eq!(
        app.login(&idp.token("alice"), None).await.status(),
        StatusCode::CREATED
    );
    idp.set_jwks_delay(Duration::from_secs(30));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stranger = TestKey::generate("key-unknown").sign(&idp.claims("mallory"));
    let url = app.url.clone();
    let started = Instant::now();
    let stuck = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{url}/v1/auth/login"))
            .json(&json!({ "id_token": stranger }))
            .send()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    assert_eq!(
        app.login(&idp.token("bob"), None).await.status(),
        StatusCode::CREATED
    );
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(500),
        "a cached-key login took {took:?}"
    );
    // The login that needs the provider waits a bounded time and gets a clean 502.
    assert_error(
        stuck.await.unwrap(),
        StatusCode::BAD_GATEWAY,
        "identity_provider_unavailable",
    )
    .await;
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(8), "waited {waited:?}");
    // And the next one does not knock on the hanging endpoint again at once.
    let hits = idp.jwks_hits();
    let again = TestKey::generate("key-unknown-2").sign(&idp.claims("mallory"));
    let t = Instant::now();
    assert_error(
        app.login(&again, None).await,
        StatusCode::BAD_GATEWAY,
        "identity_provider_unavailable",
    )
    .await;
    assert!(t.elapsed() < Duration::from_secs(1));
    assert_eq!(idp.jwks_hits(), hits);
}
