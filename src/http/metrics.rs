//! Prometheus metrics in the text exposition format, kept in process.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

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

static OTHER_METHOD: std::sync::LazyLock<Method> =
    std::sync::LazyLock::new(|| Method::from_bytes(b"OTHER").unwrap_or(Method::GET));

#[derive(Default)]
struct Histogram {
    counts: [u64; 12],
    sum: f64,
    count: u64,
}

/// One route's answers: counts by method and status, and its latency.
#[derive(Default)]
struct RouteStats {
    answers: Vec<(Method, u16, u64)>,
    latency: Histogram,
}

/// Request counters and latency histograms by route.
#[derive(Default)]
pub struct Metrics {
    /// By route template; a lookup of a known route allocates nothing.
    routes: Mutex<BTreeMap<String, RouteStats>>,
    in_flight: AtomicI64,
}

impl Metrics {
    fn observe(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        // Callers choose methods: any outside HTTP's own are counted together.
        let method = if KNOWN_METHODS.contains(method) {
            method
        } else {
            &OTHER_METHOD
        };
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let stats = match routes.get_mut(route) {
            Some(s) => s,
            None => routes.entry(route.to_string()).or_default(),
        };
        match stats
            .answers
            .iter_mut()
            .find(|(m, s, _)| m == method && *s == status)
        {
            Some((_, _, n)) => *n += 1,
            None => stats.answers.push((method.clone(), status, 1)),
        }
        let h = &mut stats.latency;
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    /// The text exposition of every metric, with `extra` lines appended.
    pub fn render(&self, extra: &str) -> String {
        let mut out = String::new();
        out.push_str("# HELP latchkey_http_requests_total HTTP requests answered, by method, route and status.\n");
        out.push_str("# TYPE latchkey_http_requests_total counter\n");
        let routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        for (r, stats) in routes.iter() {
            let mut answers: Vec<_> = stats.answers.iter().collect();
            answers.sort_by(|a, b| (a.0.as_str(), a.1).cmp(&(b.0.as_str(), b.1)));
            for (m, s, n) in answers {
                let _ = writeln!(
                    out,
                    "latchkey_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{s}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP latchkey_http_request_duration_seconds Time to answer, by route.\n");
        out.push_str("# TYPE latchkey_http_request_duration_seconds histogram\n");
        for (r, stats) in routes.iter() {
            let h = &stats.latency;
            for (b, c) in BUCKETS.iter().zip(h.counts.iter()) {
                let _ = writeln!(
                    out,
                    "latchkey_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {c}"
                );
            }
            let _ = writeln!(
                out,
                "latchkey_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "latchkey_http_request_duration_seconds_sum{{route=\"{r}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "latchkey_http_request_duration_seconds_count{{route=\"{r}\"}} {}",
                h.count
            );
        }
        drop(routes);
        out.push_str("# HELP latchkey_http_requests_in_flight Requests being answered.\n");
        out.push_str("# TYPE latchkey_http_requests_in_flight gauge\n");
        let _ = writeln!(
            out,
            "latchkey_http_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        out.push_str(extra);
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
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let response = answer().await;
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
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
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    state.metrics.time(&method, route, || next.run(req)).await
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
        let text = m.render("");
        assert!(text.contains(r#"latchkey_http_requests_total{method="GET",route="/gate/{resource}/{*path}",status="200"} 2"#), "{text}");
        assert!(text.contains(r#"latchkey_http_requests_total{method="OTHER",route="/gate/{resource}/{*path}",status="200"} 2"#), "{text}");
        assert!(text.contains(r#"latchkey_http_request_duration_seconds_count{route="/gate/{resource}/{*path}"} 4"#), "{text}");
    }
}
