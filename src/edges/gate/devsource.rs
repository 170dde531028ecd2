//! A small live-events source for the development server and the tests: `GET /events`
//! answers server-sent events of made-up product events in PostHog's shape (`uuid`,
//! `timestamp`, `distinct_id`, `person_id`, `event`, `properties`), filtered like the
//! live events service by `eventType` and `distinctId`. `every_ms` and `batch` set the
//! pace (default: one event every 500 ms). Like any upstream behind the gate, it serves
//! only requests carrying a valid identity assertion, when given a check for one.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body::Frame;
use serde::Deserialize;

use crate::model::random::{uuid_v4, RandomError};

/// The audience the development source expects (the example catalogue's `stream:live-events`).
pub const DEV_AUDIENCE: &str = "stream:live-events";

/// Checks an identity assertion; `None` serves everyone (tests that check it themselves).
pub type AssertionCheck = Option<Arc<dyn Fn(&str) -> bool + Send + Sync>>;

const EVENTS: &[&str] = &[
    "$pageview",
    "$autocapture",
    "signed_up",
    "$identify",
    "purchase",
    "$pageleave",
];
const PEOPLE: &[&str] = &[
    "user-ada",
    "user-grace",
    "user-alan",
    "user-edsger",
    "user-barbara",
];
const PAGES: &[&str] = &["/", "/pricing", "/docs", "/signup", "/checkout"];

/// `GET /events` query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsQuery {
    /// Only events of this name (comma-separated names allowed).
    pub event_type: Option<String>,
    /// Only events of this distinct id.
    pub distinct_id: Option<String>,
    /// Milliseconds between batches.
    #[serde(rename = "every_ms")]
    pub every_ms: Option<u64>,
    /// Events per batch.
    pub batch: Option<u32>,
}

/// The source's routes.
pub fn router(check: AssertionCheck) -> Router {
    Router::new()
        .route("/events", get(events))
        .with_state(check)
}

/// Serves the source on `listener` until the task is aborted.
pub async fn serve(listener: tokio::net::TcpListener, check: AssertionCheck) {
    if let Err(e) = axum::serve(listener, router(check)).await {
        tracing::error!(error = %e, "live-events source stopped");
    }
}

/// Binds the development source at `addr`; when that port is taken, at a free port on the
/// same address instead, said in the log. `None` (logged) when neither can be had.
pub async fn bind_dev(addr: SocketAddr) -> Option<tokio::net::TcpListener> {
    let taken = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => return Some(l),
        Err(e) => e,
    };
    match tokio::net::TcpListener::bind(SocketAddr::new(addr.ip(), 0)).await {
        Ok(l) => {
            let at = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
            tracing::warn!(wanted = %addr, %at, error = %taken, "development live-events source: {addr} is taken, so it listens on {at} instead (set gate.dev_source / LATCHKEY_GATE_DEV_SOURCE to choose the address)");
            Some(l)
        }
        Err(e) => {
            tracing::warn!(%addr, error = %e, "development live-events source not started (set gate.dev_source / LATCHKEY_GATE_DEV_SOURCE, or off)");
            None
        }
    }
}

/// Serves the development source on `listener` in the background.
pub fn spawn_dev(
    listener: tokio::net::TcpListener,
    check: AssertionCheck,
) -> tokio::task::JoinHandle<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "development live-events source listening");
    }
    tokio::spawn(serve(listener, check))
}

async fn events(
    State(check): State<AssertionCheck>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Response {
    if let Some(check) = check {
        let ok = headers
            .get(crate::model::gate::assertion::HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| check(a));
        if !ok {
            return (
                StatusCode::UNAUTHORIZED,
                "a valid X-Latchkey-Assertion is required\n",
            )
                .into_response();
        }
    }
    let every = Duration::from_millis(q.every_ms.unwrap_or(500).clamp(1, 60_000));
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ticker = Ticker {
        interval,
        batch: q.batch.unwrap_or(1).clamp(1, 10_000),
        n: 0,
        event_type: q
            .event_type
            .map(|t| t.split(',').map(str::to_string).collect()),
        distinct_id: q.distinct_id,
    };
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::new(ticker),
    )
        .into_response()
}

/// An endless body of events, one batch per tick.
struct Ticker {
    interval: tokio::time::Interval,
    batch: u32,
    n: u64,
    event_type: Option<Vec<String>>,
    distinct_id: Option<String>,
}

/// The `n`th made-up event (none if the generator fails to give it its ids).
pub fn event(n: u64) -> Result<serde_json::Value, RandomError> {
    let pick = |list: &[&'static str], salt: u64| {
        list[((n.wrapping_mul(31) + salt) % list.len() as u64) as usize]
    };
    Ok(serde_json::json!({
        "uuid": uuid_v4()?.to_string(),
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "distinct_id": pick(PEOPLE, 1),
        "person_id": uuid_v4()?.to_string(),
        "event": pick(EVENTS, 0),
        "properties": { "$current_url": format!("https://example.com{}", pick(PAGES, 2)), "$lib": "latchkey-dev-source", "seq": n },
    }))
}

impl http_body::Body for Ticker {
    type Data = Bytes;
    /// The generator failed: the stream ends with an error.
    type Error = RandomError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        loop {
            if self.interval.poll_tick(cx).is_pending() {
                return Poll::Pending;
            }
            let mut out = String::new();
            for _ in 0..self.batch {
                let e = match event(self.n) {
                    Ok(e) => e,
                    Err(e) => return Poll::Ready(Some(Err(e))),
                };
                self.n += 1;
                let wanted = self
                    .event_type
                    .as_ref()
                    .is_none_or(|t| t.iter().any(|t| e["event"] == t.as_str()))
                    && self
                        .distinct_id
                        .as_ref()
                        .is_none_or(|d| e["distinct_id"] == d.as_str());
                if wanted {
                    out.push_str("data: ");
                    out.push_str(&e.to_string());
                    out.push_str("\n\n");
                }
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
            }
        }
    }
}
