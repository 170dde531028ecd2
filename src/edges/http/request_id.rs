//! Request ids through tower-http: [`SetRequestId`] gives a request without one a new
//! id, [`PropagateRequestId`] puts it on the answer. A caller's id is kept only when it
//! is a short token; any other is dropped first, so that it is replaced.

use axum::http::{HeaderValue, Request};
use axum::response::Response;
use tower_http::request_id::{MakeRequestId, PropagateRequestId, RequestId, SetRequestId};
use tracing::Instrument;

use crate::edges::http::state::REQUEST_ID;

/// `inner` with its requests' ids set and its answers carrying them.
pub type WithRequestId<S> = SetRequestId<PropagateRequestId<S>, NewRequestId>;

/// Wraps `inner` so each request has an id and each answer carries it. Requests must
/// first go through [`drop_unclean`].
pub fn layer<S>(inner: S) -> WithRequestId<S> {
    SetRequestId::new(
        PropagateRequestId::new(inner, REQUEST_ID),
        REQUEST_ID,
        NewRequestId,
    )
}

/// Drops a caller-supplied request id that is not a short token (anything else could
/// forge log lines), so that [`SetRequestId`] makes a new one.
pub fn drop_unclean<B>(req: &mut Request<B>) {
    if req.headers().get(&REQUEST_ID).is_some_and(|v| !clean(v)) {
        req.headers_mut().remove(&REQUEST_ID);
    }
}

/// The id of a request that went through [`layer`].
pub fn of<B>(req: &Request<B>) -> HeaderValue {
    match req.extensions().get::<RequestId>() {
        Some(id) => id.header_value().clone(),
        None => HeaderValue::from_static("-"),
    }
}

/// Whether a caller-supplied request id is a short token.
fn clean(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

/// Makes new request ids for [`SetRequestId`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        Some(RequestId::new(new_request_id()))
    }
}

/// A new request id: a version-4 UUID from a per-process random key and a counter (ids
/// must be unique, not secret; this costs no system call, where tower-http's
/// `MakeRequestUuid` asks the operating system for randomness on every request).
fn new_request_id() -> HeaderValue {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::LazyLock;
    static KEY: LazyLock<std::collections::hash_map::RandomState> =
        LazyLock::new(std::collections::hash_map::RandomState::new);
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let hi = KEY.hash_one((n, 0u8));
    let lo = KEY.hash_one((n, 1u8));
    let bytes = ((u128::from(hi) << 64) | u128::from(lo)).to_be_bytes();
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let mut buf = uuid::Uuid::encode_buffer();
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut buf))
        .unwrap_or(HeaderValue::from_static("-"))
}

/// Answers `req` with `answer` in the request's context: a span that names its id (set
/// by [`layer`] around every request), and the id where error bodies read it.
/// A 5xx is logged as an error.
pub async fn in_request_context<F, A>(req: axum::extract::Request, answer: F) -> Response
where
    F: FnOnce(axum::extract::Request) -> A,
    A: std::future::Future<Output = Response>,
{
    let id = of(&req);
    // Clean ids and new ones are ASCII.
    let id_text = id.to_str().unwrap_or("-");
    // Path only: query strings may carry codes or tokens.
    let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id_text, user = tracing::field::Empty);
    let started = std::time::Instant::now();
    let resp = crate::edges::http::error::REQUEST_ID
        .scope(id, answer(req))
        .instrument(span.clone())
        .await;
    let status = resp.status();
    let ms = || started.elapsed().as_secs_f64() * 1e3;
    if status.is_server_error() {
        tracing::error!(parent: &span, status = status.as_u16(), latency_ms = ms(), "request failed");
    } else if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(parent: &span, status = status.as_u16(), latency_ms = ms(), "request answered");
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Response;
    use tower::ServiceExt;

    #[test]
    fn new_request_ids_are_distinct_version_4_uuids() {
        let ids: std::collections::HashSet<String> = (0..1000)
            .map(|_| new_request_id().to_str().unwrap().to_string())
            .collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(10) {
            let u = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(u.get_version_num(), 4, "{id}");
            assert!(clean(&HeaderValue::from_str(id).unwrap()));
        }
        for bad in ["", "a b", "x\"y", &"a".repeat(65)] {
            assert!(!clean(&HeaderValue::from_str(bad).unwrap()), "{bad:?}");
        }
    }

    /// Answers with the id the request carried, as a body, and no id header.
    async fn echo(req: Request<()>) -> Result<Response<String>, std::convert::Infallible> {
        Ok(Response::new(of(&req).to_str().unwrap().to_string()))
    }

    async fn answer(sent: Option<&str>) -> (String, String) {
        let mut req = Request::new(());
        if let Some(id) = sent {
            req.headers_mut()
                .insert(REQUEST_ID, HeaderValue::from_str(id).unwrap());
        }
        drop_unclean(&mut req);
        let resp = layer(tower::service_fn(echo)).oneshot(req).await.unwrap();
        let header = resp.headers()[REQUEST_ID].to_str().unwrap().to_string();
        (header, resp.into_body())
    }

    #[tokio::test]
    async fn a_clean_id_is_kept_a_bad_one_replaced_and_the_answer_carries_the_id_seen() {
        let (header, seen) = answer(Some("trace-abc.123")).await;
        assert_eq!(
            (header.as_str(), seen.as_str()),
            ("trace-abc.123", "trace-abc.123")
        );
        let (header, seen) = answer(Some("a b\"c")).await;
        assert_eq!(header, seen);
        assert!(uuid::Uuid::parse_str(&header).is_ok(), "{header}");
        let (header, seen) = answer(None).await;
        assert_eq!(header, seen);
        assert!(uuid::Uuid::parse_str(&header).is_ok(), "{header}");
    }
}
