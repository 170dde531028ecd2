//! The provider's JWKS, fetched with its discovery document ([`crate::adapters::auth::provider`]) and cached.
//!
//! Logins whose key is cached never wait on the network: the cache sits behind a short
//! synchronous lock that is never held across a fetch. Fetches run one at a time (a
//! second lock, held only by the fetching task); a login that needs one waits for it at
//! most [`FETCH_TIMEOUT`]. An unknown `kid` refetches at most once per
//! `jwks_min_refresh`, and a failed fetch is not retried before an exponential backoff
//! (from [`BACKOFF_BASE`] doubling up to [`BACKOFF_MAX`]) has passed, so neither made-up
//! `kid`s nor a failing provider turn logins into a stream of requests to the provider.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet};
use openidconnect::JsonWebKey;

use crate::adapters::auth::provider::Provider;
use crate::model::auth::claims::IdTokenError;

/// How long fetched provider keys are trusted before a refetch.
pub const JWKS_TTL: Duration = Duration::from_secs(3600);
/// The longest a login waits for the provider's keys (discovery and JWKS together).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The wait after the first failed fetch.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// The longest wait between fetches while the provider keeps failing.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

#[derive(Default)]
struct State {
    jwks: Option<(CoreJsonWebKeySet, Instant)>,
    /// When the last fetch was tried, whatever its outcome.
    last_attempt: Option<Instant>,
    /// Failed fetches in a row.
    failures: u32,
    /// No fetch before this instant (set after a failure).
    retry_at: Option<Instant>,
}

/// What the cache says without fetching.
enum Lookup {
    Found(Box<CoreJsonWebKey>),
    /// Known not to be there, or not to be had now: answer without fetching.
    Refuse(IdTokenError),
    Fetch,
}

/// The wait after `failures` failed fetches in a row.
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(1u32 << exp).min(BACKOFF_MAX)
}

/// The provider's keys.
pub struct JwksCache {
    issuer: String,
    client_id: String,
    http: reqwest::Client,
    min_refresh: Duration,
    state: Mutex<State>,
    /// Held only by the task that fetches.
    fetching: tokio::sync::Mutex<()>,
}

fn find(set: &CoreJsonWebKeySet, kid: Option<&str>) -> Option<CoreJsonWebKey> {
    let keys = set.keys();
    match kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.key_id().is_some_and(|id| id.as_str() == kid))
            .cloned(),
        None if keys.len() == 1 => keys.first().cloned(),
        None => None,
    }
}

impl JwksCache {
    /// A cache for `issuer`'s keys, refetching on an unknown `kid` at most once per `min_refresh`.
    pub fn new(
        issuer: String,
        client_id: String,
        http: reqwest::Client,
        min_refresh: Duration,
    ) -> Self {
        Self {
            issuer,
            client_id,
            http,
            min_refresh,
            state: Mutex::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lookup(&self, kid: Option<&str>, now: Instant) -> Lookup {
        let s = self.state();
        let fresh = s
            .jwks
            .as_ref()
            .filter(|(_, at)| now.duration_since(*at) < JWKS_TTL);
        if let Some(k) = fresh.and_then(|(set, _)| find(set, kid)) {
            return Lookup::Found(Box::new(k));
        }
        if s.retry_at.is_some_and(|t| now < t) {
            return Lookup::Refuse(IdTokenError::ProviderUnavailable(
                "the provider's keys could not be fetched recently; retrying later".into(),
            ));
        }
        let recent = s
            .last_attempt
            .is_some_and(|t| now.duration_since(t) < self.min_refresh);
        if fresh.is_some() && recent {
            return Lookup::Refuse(IdTokenError::UnknownKey);
        }
        Lookup::Fetch
    }

    /// The provider's key for `kid`, fetching or refetching the JWKS as needed.
    pub async fn key_for(&self, kid: Option<&str>) -> Result<CoreJsonWebKey, IdTokenError> {
        match self.lookup(kid, Instant::now()) {
            Lookup::Found(k) => return Ok(*k),
            Lookup::Refuse(e) => return Err(e),
            Lookup::Fetch => {}
        }
        let started = Instant::now();
        let timeout =
            || IdTokenError::ProviderUnavailable("the provider's keys took too long".into());
        let _turn = tokio::time::timeout(FETCH_TIMEOUT, self.fetching.lock())
            .await
            .map_err(|_| timeout())?;
        // Another task may have fetched while this one waited.
        match self.lookup(kid, Instant::now()) {
            Lookup::Found(k) => return Ok(*k),
            Lookup::Refuse(e) => return Err(e),
            Lookup::Fetch => {}
        }
        let left = FETCH_TIMEOUT.saturating_sub(started.elapsed());
        let fetched = tokio::time::timeout(left, self.fetch())
            .await
            .unwrap_or_else(|_| Err(timeout()));
        let now = Instant::now();
        let mut s = self.state();
        s.last_attempt = Some(now);
        match fetched {
            Ok(set) => {
                let key = find(&set, kid);
                s.jwks = Some((set, now));
                s.failures = 0;
                s.retry_at = None;
                key.ok_or(IdTokenError::UnknownKey)
            }
            Err(e) => {
                s.failures = s.failures.saturating_add(1);
                let wait = backoff(s.failures).max(self.min_refresh);
                s.retry_at = Some(now + wait);
                tracing::warn!(error = %e, failures = s.failures, retry_in = ?wait, "could not fetch the identity provider's keys");
                Err(e)
            }
        }
    }

    async fn fetch(&self) -> Result<CoreJsonWebKeySet, IdTokenError> {
        let provider = Provider::discover(self.http.clone(), &self.issuer, &self.client_id, &[])
            .await
            .map_err(|e| IdTokenError::ProviderUnavailable(e.to_string()))?;
        Ok(provider.jwks().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_one_second_and_stops_at_five_minutes() {
        let waits: Vec<u64> = [1, 2, 3, 4, 9, 10, 40, u32::MAX]
            .into_iter()
            .map(|n| backoff(n).as_secs())
            .collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 256, 300, 300, 300]);
    }
}
