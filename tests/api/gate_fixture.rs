//! An upstream behind the gate, as a real service would be: it verifies the identity
//! assertion against the broker's JWKS, records what it received, and serves a JSON
//! echo, an endless server-sent-events stream and an `Upgrade: echo` tunnel.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use jsonwebtoken::jwk::JwkSet;
use latchkey::adapters::assertion;
use latchkey::adapters::assertion::AssertionClaims;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Default)]
pub struct Seen {
    pub requests: AtomicUsize,
    /// Connections accepted.
    pub connections: AtomicUsize,
    pub claims: Mutex<Vec<AssertionClaims>>,
    pub headers: Mutex<Vec<Value>>,
}

#[derive(Clone)]
struct Fixture {
    seen: Arc<Seen>,
    jwks: Arc<Mutex<Vec<(String, JwkSet)>>>,
    audience: String,
}

pub struct Upstream {
    pub addr: std::net::SocketAddr,
    pub seen: Arc<Seen>,
    jwks: Arc<Mutex<Vec<(String, JwkSet)>>>,
}

impl Upstream {
    /// Trust this broker (issuer and keys) from now on (fetched from its JWKS, as a service would).
    pub async fn trust(&self, broker_url: &str) {
        self.trust_as(broker_url, broker_url).await
    }

    /// Trust the keys of the broker at `broker_url`, whose issuer is `issuer`.
    pub async fn trust_as(&self, broker_url: &str, issuer: &str) {
        let jwks: JwkSet = reqwest::get(format!("{broker_url}/.well-known/jwks.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        self.jwks.lock().unwrap().push((issuer.to_string(), jwks));
    }
}

pub async fn upstream(audience: &str) -> Upstream {
    let seen = Arc::new(Seen::default());
    let jwks = Arc::new(Mutex::new(Vec::new()));
    let f = Fixture {
        seen: seen.clone(),
        jwks: jwks.clone(),
        audience: audience.to_string(),
    };
    let app = Router::new()
        .route("/events", get(events))
        .route("/upgrade", get(upgrade))
        .route("/close", get(close))
        .route("/chunks", get(chunks))
        .route("/body", axum::routing::post(read_body))
        .route("/{*path}", any(echo))
        .with_state(f);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counted = seen.clone();
    let listener = axum::serve::ListenerExt::tap_io(listener, move |_| {
        counted.connections.fetch_add(1, Ordering::SeqCst);
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Upstream { addr, seen, jwks }
}

/// Verifies the assertion as the service would; refuses without one.
#[allow(clippy::result_large_err)] // a test fixture: the refusal is the response itself
fn check(f: &Fixture, req: &Request) -> Result<(), Response> {
    f.seen.requests.fetch_add(1, Ordering::SeqCst);
    let headers: Value = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or("?"))))
        .collect::<serde_json::Map<_, _>>()
        .into();
    f.seen.headers.lock().unwrap().push(headers);
    let token = req
        .headers()
        .get(assertion::HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| (StatusCode::UNAUTHORIZED, "no assertion").into_response())?;
    let trusted = f.jwks.lock().unwrap().clone();
    let claims = trusted
        .iter()
        .find_map(|(issuer, jwks)| assertion::verify(jwks, issuer, &f.audience, token).ok())
        .ok_or_else(|| (StatusCode::UNAUTHORIZED, "bad assertion").into_response())?;
    f.seen.claims.lock().unwrap().push(claims);
    Ok(())
}

async fn echo(State(f): State<Fixture>, req: Request) -> Response {
    if let Err(r) = check(&f, &req) {
        return r;
    }
    axum::Json(json!({"path": req.uri().path(), "query": req.uri().query(), "method": req.method().as_str()})).into_response()
}

async fn events(State(f): State<Fixture>, req: Request) -> Response {
    if let Err(r) = check(&f, &req) {
        return r;
    }
    let ticker = latchkey::edges::gate::devsource::router(None);
    // Reuse the development source's stream, fast.
    let inner = Request::builder()
        .uri("/events?every_ms=20")
        .body(axum::body::Body::empty())
        .unwrap();
    tower::ServiceExt::oneshot(ticker, inner).await.unwrap()
}

/// Answers, then closes the connection (`Connection: close`), as a server ending an idle
/// or long-used keep-alive connection does.
async fn close(State(f): State<Fixture>, req: Request) -> Response {
    if let Err(r) = check(&f, &req) {
        return r;
    }
    ([("connection", "close")], "closing\n").into_response()
}

/// Three chunks 20 ms apart, then the end: an answer of unknown length that is still
/// arriving when its head has been forwarded.
async fn chunks(State(f): State<Fixture>, req: Request) -> Response {
    if let Err(r) = check(&f, &req) {
        return r;
    }
    let (mut tx, rx) = tokio::io::duplex(64);
    tokio::spawn(async move {
        for i in 0..3 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            if tx
                .write_all(format!("chunk {i}\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let stream = tokio_util::io::ReaderStream::new(rx);
    axum::body::Body::from_stream(stream).into_response()
}

/// Reads the whole request body before answering with its length (so that a body that
/// fails on the way fails the exchange).
async fn read_body(State(f): State<Fixture>, req: Request) -> Response {
    if let Err(r) = check(&f, &req) {
        return r;
    }
    match axum::body::to_bytes(req.into_body(), 1 << 20).await {
        Ok(b) => axum::Json(json!({"read": b.len()})).into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, "body failed").into_response(),
    }
}

/// `Upgrade: echo`: switches protocols and echoes every byte.
async fn upgrade(State(f): State<Fixture>, mut req: Request) -> Response {
    if let Err(r) = check(&f, &req) {
        return r;
    }
    let on = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(up) = on.await else { return };
        let mut io = hyper_util::rt::TokioIo::new(up);
        let mut buf = [0u8; 1024];
        while let Ok(n) = io.read(&mut buf).await {
            if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("connection", "upgrade")
        .header("upgrade", "echo")
        .body(axum::body::Body::empty())
        .unwrap()
}

/// A copy of the example policy whose gated resources point at `upstream`, plus
/// `http:dashboard` (role `view`, at most a few seconds) on the same upstream.
pub fn policy_dir(upstream: std::net::SocketAddr, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for f in ["model.conf", "policy.csv"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let catalogue = std::fs::read_to_string(src.join("catalogue.toml"))
        .unwrap()
        .replace("http://127.0.0.1:8011", &format!("http://{upstream}"));
    let catalogue = format!(
        "{catalogue}\n[[resource]]\nname = \"http:dashboard\"\nkind = \"http\"\ndescription = \"d\"\nupstream = \"http://{upstream}\"\n\n[[resource.role]]\nname = \"view\"\ndefault_duration = \"5s\"\nmax_duration = \"5s\"\nauto_approve = true\n{extra}"
    );
    std::fs::write(dir.path().join("catalogue.toml"), catalogue).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("policy.csv")).unwrap();
    std::fs::write(
        dir.path().join("policy.csv"),
        format!("{csv}\np, group:eng, http:dashboard#*, auto_approve, allow\np, group:eng, stream:posthog#*, auto_approve, allow\n"),
    )
    .unwrap();
    dir
}
