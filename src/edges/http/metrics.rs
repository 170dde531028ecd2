//! Prometheus metrics through `prometheus-client`: the request counters, latency
//! histograms and in-flight gauge kept in process, plus what is read at scrape time.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::{prometheus_text, text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

const KNOWN_METHODS: &[Method] = &[
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
    Method::CONNECT,
    Method::TRACE,
];

/// The `Content-Type` of the OpenMetrics text format, served to scrapers that ask for it.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The label of requests no route matched.
const UNMATCHED: &str = "unmatched";

/// Route templates known when the router is built ([`know_routes`]): their label borrows
/// the template, so counting a request for one allocates nothing.
static KNOWN_ROUTES: OnceLock<HashSet<&'static str>> = OnceLock::new();

/// Tells the metrics which route templates the router serves (once per process; the
/// router is the same for every broker in it).
pub fn know_routes(routes: impl IntoIterator<Item = &'static str>) {
    KNOWN_ROUTES.get_or_init(|| routes.into_iter().chain([UNMATCHED]).collect());
}

/// The labels of one answer.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Answer {
    method: &'static str,
    route: Cow<'static, str>,
    status: u16,
}

/// The label of one route's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: Cow<'static, str>,
}

/// Request counters and latency histograms by route, in a registry of their own.
pub struct Metrics {
    registry: Registry,
    requests: Family<Answer, Counter>,
    latency: Family<Route, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::<Answer, Counter>::default();
        let latency: Family<Route, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(BUCKETS.iter().copied()));
        let in_flight = Gauge::default();
        let mut registry = Registry::default();
        // The crate adds `_total` to a counter's name and a full stop to each help text.
        registry.register(
            "latchkey_http_requests",
            "HTTP requests answered, by method, route and status",
            requests.clone(),
        );
        registry.register(
            "latchkey_http_request_duration_seconds",
            "Time to answer, by route",
            latency.clone(),
        );
        registry.register(
            "latchkey_http_requests_in_flight",
            "Requests being answered",
            in_flight.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            in_flight,
        }
    }
}

/// The route label of `route`: borrowed when the route is known.
fn route_label(route: &str) -> Cow<'static, str> {
    match KNOWN_ROUTES.get().and_then(|known| known.get(route)) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(route.to_string()),
    }
}

/// The exposition formats `/metrics` speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text, version 0.0.4: the default.
    PrometheusText,
    /// OpenMetrics text 1.0.0, for scrapers whose `Accept` names it.
    OpenMetrics,
}

impl Format {
    /// The format a scraper's `Accept` header asks for.
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Self::OpenMetrics,
            _ => Self::PrometheusText,
        }
    }

    /// Its `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::PrometheusText => prometheus_text::CONTENT_TYPE,
            Self::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

impl Metrics {
    fn observe(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        // Callers choose methods: any outside HTTP's own are counted together.
        let method = KNOWN_METHODS
            .iter()
            .find(|m| *m == method)
            .map_or("OTHER", Method::as_str);
        let route = route_label(route);
        self.latency
            .get_or_create(&Route {
                route: route.clone(),
            })
            .observe(seconds);
        self.requests
            .get_or_create(&Answer {
                method,
                route,
                status,
            })
            .inc();
    }

    /// Every metric in `format`, those of `scrape` (read at scrape time) after the
    /// request metrics.
    pub fn render(&self, scrape: &Registry, format: Format) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = match format {
            Format::PrometheusText => prometheus_text::encode(&mut out, &self.registry)
                .and_then(|()| prometheus_text::encode(&mut out, scrape)),
            Format::OpenMetrics => text::encode_registry(&mut out, &self.registry)
                .and_then(|()| text::encode_registry(&mut out, scrape))
                .and_then(|()| text::encode_eof(&mut out)),
        };
        out
    }
}

impl Metrics {
    /// Counts and times the answer `answer` makes for a request for `route`. `answer` is
    /// called here, not passed in as a future: a future argument would be stored twice in
    /// this one's state (as the argument and as the future awaited), and moved between.
    pub async fn time<A: std::future::Future<Output = Response>>(
        &self,
        method: &Method,
        route: &str,
        answer: impl FnOnce() -> A,
    ) -> Response {
        let started = Instant::now();
        self.in_flight.inc();
        let response = answer().await;
        self.in_flight.dec();
        self.observe(
            method,
            route,
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
        response
    }
}

/// Middleware: counts and times every request by its route template (never the raw path,
/// which would let callers create unbounded label values).
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    metrics.time(&method, route, || next.run(req)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_cannot_grow_the_method_label_without_bound() {
        let m = Metrics::default();
        for name in ["GET", "PURGE", "X-ANYTHING", "GET"] {
            let method = Method::from_bytes(name.as_bytes()).unwrap();
            m.observe(&method, "/gate/{resource}/{*path}", 200, 0.001);
        }
        let text = m.render(&Registry::default(), Format::PrometheusText);
        assert!(text.contains(r#"latchkey_http_requests_total{method="GET",route="/gate/{resource}/{*path}",status="200"} 2"#), "{text}");
        assert!(text.contains(r#"latchkey_http_requests_total{method="OTHER",route="/gate/{resource}/{*path}",status="200"} 2"#), "{text}");
        assert!(text.contains(r#"latchkey_http_request_duration_seconds_count{route="/gate/{resource}/{*path}"} 4"#), "{text}");
    }

    #[test]
    fn the_text_format_keeps_the_names_and_help_of_before() {
        let m = Metrics::default();
        m.observe(&Method::GET, "/healthz", 200, 0.003);
        let text = m.render(&Registry::default(), Format::PrometheusText);
        for line in [
            "# HELP latchkey_http_requests_total HTTP requests answered, by method, route and status.",
            "# TYPE latchkey_http_requests_total counter",
            "# TYPE latchkey_http_request_duration_seconds histogram",
            r#"latchkey_http_request_duration_seconds_bucket{route="/healthz",le="0.0025"} 0"#,
            r#"latchkey_http_request_duration_seconds_bucket{route="/healthz",le="0.005"} 1"#,
            r#"latchkey_http_request_duration_seconds_bucket{route="/healthz",le="1"} 1"#,
            r#"latchkey_http_request_duration_seconds_bucket{route="/healthz",le="+Inf"} 1"#,
            "# TYPE latchkey_http_requests_in_flight gauge",
            "latchkey_http_requests_in_flight 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in {text}");
        }
        assert!(!text.contains("# EOF"), "{text}");
    }

    #[test]
    fn openmetrics_is_served_when_asked_for_and_ends_with_eof() {
        let accept = "application/openmetrics-text;version=1.0.0,text/plain;q=0.5";
        let format = Format::from_accept(Some(accept));
        assert_eq!(format, Format::OpenMetrics);
        assert_eq!(Format::from_accept(Some("*/*")), Format::PrometheusText);
        assert_eq!(Format::from_accept(None), Format::PrometheusText);
        let m = Metrics::default();
        m.observe(&Method::GET, "/healthz", 200, 0.003);
        let text = m.render(&Registry::default(), format);
        assert!(
            text.contains("# TYPE latchkey_http_requests counter"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
