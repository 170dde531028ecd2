//! A minimal OpenID provider that can mint any token, for the refusal tests: a real
//! provider never signs a token with the wrong audience or a future `iat`. The flows
//! themselves run against the real `oidc-provider` (see `oidc_flows`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

/// One ES256 key.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    pkcs8: Vec<u8>,
    pub jwk: Value,
}

impl TestKey {
    pub fn generate(kid: &str) -> Self {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let public = pair.public_key().as_ref(); // 0x04 || x || y
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&public[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&public[33..65]),
        });
        Self {
            kid: kid.to_string(),
            pkcs8: pkcs8.as_ref().to_vec(),
            jwk,
        }
    }

    pub fn sign(&self, claims: &Value) -> String {
        self.sign_typ(claims, Some("JWT"))
    }

    /// Signs with this `typ` in the header (or none).
    pub fn sign_typ(&self, claims: &Value, typ: Option<&str>) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = typ.map(String::from);
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&self.pkcs8)).unwrap()
    }
}

#[derive(Clone)]
struct State {
    issuer: String,
    keys: Arc<Mutex<Vec<TestKey>>>,
    jwks_delay: Arc<Mutex<Duration>>,
    /// The JWKS endpoint answers 500.
    jwks_fail: Arc<AtomicBool>,
    /// Requests the JWKS endpoint received.
    jwks_hits: Arc<AtomicU32>,
    /// The issuer the discovery document names, when not the real one.
    claimed_issuer: Arc<Mutex<Option<String>>>,
}

/// The provider: discovery and JWKS over HTTP on loopback.
pub struct TestIdp {
    pub issuer: String,
    pub client_id: String,
    state: State,
}

impl TestIdp {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let issuer = format!("http://{addr}");
        let state = State {
            issuer: issuer.clone(),
            keys: Arc::new(Mutex::new(vec![TestKey::generate("key-1")])),
            jwks_delay: Arc::new(Mutex::new(Duration::ZERO)),
            jwks_fail: Arc::new(AtomicBool::new(false)),
            jwks_hits: Arc::new(AtomicU32::new(0)),
            claimed_issuer: Arc::new(Mutex::new(None)),
        };
        let app = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(
                    |axum::extract::State(s): axum::extract::State<State>| async move {
                        let claimed = s.claimed_issuer.lock().unwrap().clone();
                        Json(json!({
                            "issuer": claimed.unwrap_or_else(|| s.issuer.clone()),
                            "jwks_uri": format!("{}/jwks", s.issuer),
                            "authorization_endpoint": format!("{}/auth", s.issuer),
                            "token_endpoint": format!("{}/token", s.issuer),
                            // Required by OpenID Connect Discovery 1.0 (and by the client crate).
                            "response_types_supported": ["code"],
                            "subject_types_supported": ["public"],
                            "id_token_signing_alg_values_supported": ["ES256"],
                        }))
                    },
                ),
            )
            .route(
                "/jwks",
                get(
                    |axum::extract::State(s): axum::extract::State<State>| async move {
                        s.jwks_hits.fetch_add(1, Ordering::SeqCst);
                        let delay = *s.jwks_delay.lock().unwrap();
                        tokio::time::sleep(delay).await;
                        if s.jwks_fail.load(Ordering::SeqCst) {
                            return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
                        }
                        let keys: Vec<Value> = s
                            .keys
                            .lock()
                            .unwrap()
                            .iter()
                            .map(|k| k.jwk.clone())
                            .collect();
                        Json(json!({ "keys": keys })).into_response()
                    },
                ),
            )
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            issuer,
            client_id: "latchkey-cli".into(),
            state,
        }
    }

    /// The published key that signs by default.
    pub fn key(&self) -> TestKey {
        self.state.keys.lock().unwrap().last().unwrap().clone()
    }

    /// Publishes a new key and signs with it from now on.
    pub fn rotate(&self, kid: &str) -> TestKey {
        let key = TestKey::generate(kid);
        self.state.keys.lock().unwrap().push(key.clone());
        key
    }

    /// Makes the JWKS endpoint slow (to hold a login in flight).
    pub fn set_jwks_delay(&self, d: Duration) {
        *self.state.jwks_delay.lock().unwrap() = d;
    }

    /// The discovery document names `issuer` instead of the provider's own.
    pub fn set_claimed_issuer(&self, issuer: &str) {
        *self.state.claimed_issuer.lock().unwrap() = Some(issuer.to_string());
    }

    /// Makes the JWKS endpoint answer 500 (or work again).
    pub fn set_jwks_failing(&self, failing: bool) {
        self.state.jwks_fail.store(failing, Ordering::SeqCst);
    }

    /// How many requests the JWKS endpoint has received.
    pub fn jwks_hits(&self) -> u32 {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    /// Claims of a valid ID token for `sub`, valid for ten minutes.
    pub fn claims(&self, sub: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": self.issuer, "aud": self.client_id, "sub": sub,
            "iat": now, "exp": now + 600, "auth_time": now,
            "email": format!("{sub}@example.com"), "email_verified": true,
            "groups": ["eng", "sre"],
            "jti": latchkey::model::random::uuid_v4().unwrap().to_string(),
        })
    }

    /// A valid ID token for `sub`.
    pub fn token(&self, sub: &str) -> String {
        self.key().sign(&self.claims(sub))
    }
}
