//! Rate limits on the endpoints anyone can call without a session (beginning a browser
//! login, exchanging an ID token, the development login, the Slack fresh-login pages):
//! each writes to the database or the audit log, so each client address has a token
//! bucket of `limits.anonymous_burst` requests refilled at `limits.anonymous_per_minute`.
//! IPv6 addresses count per /64 (one host usually holds the whole prefix). At most
//! [`MAX_TRACKED`] addresses are tracked; full buckets are forgotten first, and while the
//! table is full of busy ones a new address is refused (fail closed). Over the limit the
//! answer is 429 `rate_limited` with `Retry-After`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::LimitsConfig;
use crate::edges::http::error::ApiError;
use crate::model::refusal::Class;

/// The most client addresses remembered at once.
pub const MAX_TRACKED: usize = 10_000;

/// Paths (exact, or prefixes ending in `/`) limited per address.
const ANONYMOUS: &[&str] = &[
    "/v1/auth/browser",
    "/v1/auth/login",
    "/v1/auth/dev-login",
    "/v1/slack/confirm/",
    "/v1/slack/callback",
];

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets per client address.
#[derive(Debug)]
pub struct AnonymousLimiter {
    burst: f64,
    per_sec: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

/// The address a bucket is kept for.
fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl AnonymousLimiter {
    /// A limiter with the configured limits.
    pub fn new(limits: &LimitsConfig) -> Self {
        Self {
            burst: f64::from(limits.anonymous_burst),
            per_sec: f64::from(limits.anonymous_per_minute) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `ip` at `now`; `Err(wait)` when there is none.
    pub fn take(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let key = bucket_key(ip);
        if !buckets.contains_key(&key) && buckets.len() >= MAX_TRACKED {
            let (burst, per_sec) = (self.burst, self.per_sec);
            buckets
                .retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * per_sec < burst);
            if buckets.len() >= MAX_TRACKED {
                return Err(Duration::from_secs(60));
            }
        }
        let b = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refilled = now.saturating_duration_since(b.at).as_secs_f64() * self.per_sec;
        b.tokens = (b.tokens + refilled).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                ((1.0 - b.tokens) / self.per_sec).ceil().max(1.0),
            ))
        }
    }
}

fn limited(path: &str) -> bool {
    ANONYMOUS
        .iter()
        .any(|p| path == *p || (p.ends_with('/') && path.starts_with(p)))
}

/// Middleware: the per-address limit on the anonymous endpoints.
pub async fn anonymous(
    State(limiter): State<Arc<AnonymousLimiter>>,
    req: Request,
    next: Next,
) -> Response {
    if !limited(req.uri().path()) {
        return next.run(req).await;
    }
    let Some(peer) = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
    else {
        return next.run(req).await;
    };
    match limiter.take(peer.ip(), Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            tracing::warn!(client = %peer.ip(), path = %req.uri().path(), "unauthenticated request rate-limited");
            let mut resp = ApiError::new(
                Class::TooMany,
                "rate_limited",
                format!(
                    "too many unauthenticated requests from your address; retry in {} s",
                    wait.as_secs()
                ),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&wait.as_secs().to_string()) {
                resp.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(burst: u32, per_minute: u32) -> AnonymousLimiter {
        AnonymousLimiter::new(&LimitsConfig {
            anonymous_burst: burst,
            anonymous_per_minute: per_minute,
            pending_logins: 1,
        })
    }

    #[test]
    fn a_burst_is_allowed_then_one_request_per_refill() {
        let l = limiter(3, 60);
        let t = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!((0..3).all(|_| l.take(ip, t).is_ok()));
        assert_eq!(l.take(ip, t), Err(Duration::from_secs(1)));
        assert!(l.take(ip, t + Duration::from_millis(1000)).is_ok());
        assert!(l.take(ip, t + Duration::from_millis(1000)).is_err());
        // Another address has its own bucket.
        assert!(l.take("192.0.2.2".parse().unwrap(), t).is_ok());
    }

    #[test]
    fn ipv6_addresses_share_a_bucket_per_64_and_mapped_ipv4_is_ipv4() {
        let l = limiter(1, 1);
        let t = Instant::now();
        assert!(l.take("2001:db8::1".parse().unwrap(), t).is_ok());
        assert!(l.take("2001:db8::ffff:2".parse().unwrap(), t).is_err());
        assert!(l.take("2001:db8:0:1::1".parse().unwrap(), t).is_ok());
        assert!(l.take("192.0.2.9".parse().unwrap(), t).is_ok());
        assert!(l.take("::ffff:192.0.2.9".parse().unwrap(), t).is_err());
    }

    #[test]
    fn the_table_of_addresses_stays_bounded() {
        let l = limiter(1, 1);
        let t = Instant::now();
        for i in 0..MAX_TRACKED as u32 {
            let _ = l.take(IpAddr::V4(std::net::Ipv4Addr::from(i)), t);
        }
        // Every bucket is busy: a new address is refused rather than tracked.
        assert!(l.take("198.51.100.1".parse().unwrap(), t).is_err());
        // Once refilled, old buckets are forgotten to make room.
        assert!(l
            .take("198.51.100.1".parse().unwrap(), t + Duration::from_secs(61))
            .is_ok());
        assert!(l.buckets.lock().unwrap().len() <= MAX_TRACKED);
    }

    #[test]
    fn only_the_anonymous_endpoints_are_limited() {
        assert!(limited("/v1/auth/browser"));
        assert!(limited("/v1/slack/confirm/abc"));
        assert!(!limited("/v1/auth/browserx"));
        assert!(!limited("/v1/requests"));
    }
}
