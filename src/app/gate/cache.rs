//! The admission cache: admissions remembered by a fingerprint of the credential and
//! the resource, for [`CACHE_FOR`], so that a busy upstream does not cost two database
//! reads per request. The cache never outlives an end: every end this replica commits
//! forgets the admissions it touches at once, and the store poll (every 400 ms) reads
//! back the grant, session and locks behind every remembered admission and forgets what
//! ended elsewhere; if the poll fails, everything is forgotten.
//!
//! Nor does a check that an end overtook get remembered: every end is also kept, for a
//! while, in a numbered list, and an admission is put in only if no end since the check
//! began (its [`AdmissionCache::since`]) touches it; else the check runs again.
//!
//! Checks are single-flight per credential and resource: when a busy credential's
//! admission runs out, the requests that find it gone wait for one check instead of each
//! verifying the credential and reading the store (a stampede of reads every
//! [`CACHE_FOR`], and a burst of latency with it). If that check admits nobody (a
//! refusal, or the store failing), those that waited check on their own, side by side:
//! queued one behind another, each would wait for every check before it (a store that
//! times out would make the last of 32 wait 32 timeouts).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::model::gate::admission_rules::Admission;

/// How long an admission is reused before it is checked in full again (ends reach it
/// sooner: see the module's documentation).
pub const CACHE_FOR: Duration = Duration::from_secs(30);
/// Admissions kept at most (a flood of distinct tokens cannot grow memory without bound).
const CACHE_MAX: usize = 50_000;
/// Ends kept for checks in flight; a check older than the oldest kept counts as overtaken.
const ENDS_KEPT: usize = 4096;

/// What an admission is remembered under: SHA-256 of the resource and the credential
/// (the credential itself is never kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheKey([u8; 32]);

/// The cache key of `token` presented for `resource`.
pub fn cache_key(token: &str, resource: &str) -> CacheKey {
    let mut d = ring::digest::Context::new(&ring::digest::SHA256);
    d.update(resource.as_bytes());
    d.update(&[0]);
    d.update(token.as_bytes());
    let mut key = [0; 32];
    key.copy_from_slice(d.finish().as_ref());
    CacheKey(key)
}

impl std::hash::Hash for CacheKey {
    /// Eight bytes of the digest are hash enough: it is SHA-256 of a credential the broker
    /// signed, so no caller can choose keys that collide.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mut first = [0; 8];
        first.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_ne_bytes(first));
    }
}

/// Passes a [`CacheKey`]'s own hash through (SipHash would hash a hash again).
#[derive(Default)]
struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `CacheKey` is hashed here, and it writes one u64.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
}

/// Admissions by cache key, with when they were checked.
type Map = HashMap<CacheKey, (Instant, Arc<Admission>), std::hash::BuildHasherDefault<Prehashed>>;

/// Which admissions an end touches.
type Touches = Box<dyn Fn(&Admission) -> bool + Send + Sync>;

/// The remembered admissions and the recent ends, under one lock so that an admission
/// is never put in between an end's being numbered and its forgetting.
#[derive(Default)]
struct Entries {
    map: Map,
    /// The number of the last end.
    generation: u64,
    /// The latest ends (at most [`ENDS_KEPT`]), numbered, oldest first.
    ends: std::collections::VecDeque<(u64, Touches)>,
}

/// Checks in progress: one turn per cache key.
type Flights =
    HashMap<CacheKey, Arc<tokio::sync::Mutex<()>>, std::hash::BuildHasherDefault<Prehashed>>;

/// Recent admissions by credential fingerprint and resource.
#[derive(Default)]
pub struct AdmissionCache {
    entries: Mutex<Entries>,
    flights: Mutex<Flights>,
    checks: AtomicU64,
}

/// The right to check one credential for one resource in full; others presenting the
/// same wait for it (see [`AdmissionCache::turn`]). Dropping it, done or cancelled, lets
/// the next one go.
pub struct Turn<'a> {
    cache: &'a AdmissionCache,
    key: CacheKey,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    waited: bool,
}

impl Turn<'_> {
    /// Whether another check of the same key was running when this turn was asked for
    /// (and this one waited for it to end).
    pub fn waited(&self) -> bool {
        self.waited
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let flight = Arc::clone(tokio::sync::OwnedMutexGuard::mutex(&guard));
        drop(guard);
        let mut flights = self.cache.flights();
        // Only the map and this turn hold it: nobody is waiting, so the key is done.
        // (Newcomers take their clone under this lock, so none can slip in between.)
        if Arc::strong_count(&flight) == 2
            && flights
                .get(&self.key)
                .is_some_and(|f| Arc::ptr_eq(f, &flight))
        {
            flights.remove(&self.key);
        }
    }
}

impl AdmissionCache {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn flights(&self) -> MutexGuard<'_, Flights> {
        self.flights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for the turn to check `key` in full: at once when nobody else is checking
    /// it, else after whoever is (who may have remembered an admission meanwhile, so look
    /// again with [`AdmissionCache::get`] before checking).
    pub async fn turn(&self, key: CacheKey) -> Turn<'_> {
        let flight = self.flights().entry(key).or_default().clone();
        let (guard, waited) = match flight.clone().try_lock_owned() {
            Ok(guard) => (guard, false),
            Err(_) => (flight.lock_owned().await, true),
        };
        Turn {
            cache: self,
            key,
            guard: Some(guard),
            waited,
        }
    }

    /// Counts a full check (credential verified, grant read from the store).
    pub fn count_check(&self) {
        self.checks.fetch_add(1, Ordering::Relaxed);
    }

    /// Full checks since start; every other admission was answered from the cache.
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }

    /// Checks waiting or running (for tests: none once every admission is done).
    pub fn in_flight(&self) -> usize {
        self.flights().len()
    }

    /// A fresh admission under `key`, if one is remembered: checked less than
    /// [`CACHE_FOR`] ago, and neither its grant nor its credential ended by `now`.
    pub fn get(&self, key: &CacheKey, now: DateTime<Utc>) -> Option<Arc<Admission>> {
        let mut entries = self.lock();
        match entries.map.get(key) {
            Some((at, a))
                if at.elapsed() < CACHE_FOR
                    && a.grant_ends > now
                    && a.credential_ends > now
                    && a.assertion_expires - now > chrono::Duration::seconds(10) =>
            {
                Some(a.clone())
            }
            Some(_) => {
                entries.map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Where a check begins: pass it to [`AdmissionCache::put`].
    pub fn since(&self) -> u64 {
        self.lock().generation
    }

    /// Remembers an admission under `key`, checked from reads made after `since`,
    /// unless an end since then touches it (then it may rest on a read the end
    /// overtook: false, and it must not be used).
    pub fn put(&self, key: CacheKey, a: Arc<Admission>, since: u64) -> bool {
        let mut entries = self.lock();
        let oldest = entries
            .ends
            .front()
            .map_or(entries.generation, |(n, _)| n - 1);
        if since < oldest
            || entries
                .ends
                .iter()
                .any(|(n, touches)| *n > since && touches(&a))
        {
            return false;
        }
        if entries.map.len() >= CACHE_MAX {
            entries.map.retain(|_, (at, _)| at.elapsed() < CACHE_FOR);
            if entries.map.len() >= CACHE_MAX {
                entries.map.clear();
            }
        }
        entries.map.insert(key, (Instant::now(), a));
        true
    }

    /// An end: forgets every admission matching `which`, and keeps it for the checks in
    /// flight.
    pub fn forget(&self, which: impl Fn(&Admission) -> bool + Send + Sync + 'static) {
        let mut entries = self.lock();
        entries.map.retain(|_, (_, a)| !which(a));
        entries.generation += 1;
        let n = entries.generation;
        entries.ends.push_back((n, Box::new(which)));
        if entries.ends.len() > ENDS_KEPT {
            entries.ends.pop_front();
        }
    }

    /// Grants, sessions and users behind the remembered admissions (for the poll).
    pub fn live(&self) -> Vec<Arc<Admission>> {
        self.lock().map.values().map(|(_, a)| a.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many tasks on several threads taking turns on a few keys: never two holders of one
    /// key at once (a key dropped from the map while someone still waited on it would
    /// let a newcomer start a second, parallel check), and no key left behind.
    #[test]
    fn turns_on_one_key_never_overlap_across_threads_and_leave_nothing_behind() {
        use std::sync::atomic::AtomicUsize;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .build()
            .unwrap();
        let cache = Arc::new(AdmissionCache::default());
        let keys: Vec<CacheKey> = (0..3).map(|i| cache_key(&format!("t{i}"), "r")).collect();
        let holding: Arc<Vec<AtomicUsize>> =
            Arc::new((0..3).map(|_| AtomicUsize::new(0)).collect());
        let overlaps = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for n in 0..400usize {
                let (cache, holding, overlaps, key) = (
                    cache.clone(),
                    holding.clone(),
                    overlaps.clone(),
                    keys[n % 3],
                );
                set.spawn(async move {
                    let turn = cache.turn(key).await;
                    if holding[n % 3].fetch_add(1, Ordering::SeqCst) != 0 {
                        overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    for _ in 0..n % 4 {
                        tokio::task::yield_now().await;
                    }
                    holding[n % 3].fetch_sub(1, Ordering::SeqCst);
                    drop(turn);
                });
            }
            set.join_all().await;
        });
        assert_eq!(overlaps.load(Ordering::SeqCst), 0);
        assert_eq!(cache.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_turn_says_whether_it_waited_and_its_key_goes_once_nobody_holds_it() {
        let cache = AdmissionCache::default();
        let key = cache_key("token", "stream:a");
        let first = cache.turn(key).await;
        assert!(!first.waited());
        let mut second = Box::pin(cache.turn(key));
        let pending = tokio::select! {
            biased;
            _ = &mut second => false,
            _ = std::future::ready(()) => true,
        };
        assert!(pending, "a second turn on the same key waits for the first");
        // Another resource (or credential) is another key: no waiting.
        let other = cache.turn(cache_key("token", "stream:b")).await;
        assert!(!other.waited());
        drop(other);
        assert_eq!(cache.in_flight(), 1);
        drop(first);
        let second = second.await;
        assert!(second.waited());
        assert_eq!(cache.in_flight(), 1);
        drop(second);
        assert_eq!(cache.in_flight(), 0);
    }

    fn admission(now: DateTime<Utc>, credential_ends: DateTime<Utc>) -> Arc<Admission> {
        let hour = chrono::Duration::hours(1);
        let upstream = crate::model::policy::upstream::validate(
            "stream:a",
            crate::model::policy::Kind::Http,
            Some("http://127.0.0.1:1".into()),
            crate::model::policy::UpstreamAuth::Assertion,
            std::iter::empty(),
        );
        Arc::new(Admission {
            user_id: "u".into(),
            user_keys: vec!["u".into()],
            email: None,
            groups: vec![],
            session_id: Some("s".into()),
            grant_id: "g".into(),
            role: "r".into(),
            resource: "stream:a".into(),
            grant_ends: now + hour,
            upstream: upstream.unwrap().unwrap(),
            assertion_expires: now + hour,
            credential_ends,
            headers: crate::model::gate::admission_rules::Prepared::new("a.b.c", None, "g")
                .unwrap(),
        })
    }

    #[test]
    fn a_remembered_admission_ends_when_its_credential_does_though_its_grant_lives_on() {
        let cache = AdmissionCache::default();
        let now = Utc::now();
        let key = cache_key("session", "stream:a");
        let since = cache.since();
        assert!(cache.put(
            key,
            admission(now, now + chrono::Duration::seconds(2)),
            since
        ));
        assert!(cache.get(&key, now).is_some());
        assert!(cache
            .get(&key, now + chrono::Duration::milliseconds(1999))
            .is_some());
        assert!(cache
            .get(&key, now + chrono::Duration::seconds(2))
            .is_none());
        // And it is gone, not merely hidden.
        assert!(cache.get(&key, now).is_none());
    }

    #[test]
    fn cache_keys_differ_by_resource_and_by_credential() {
        let k = cache_key("token", "stream:a");
        assert_eq!(k, cache_key("token", "stream:a"));
        assert_ne!(k, cache_key("token", "stream:b"));
        assert_ne!(k, cache_key("token2", "stream:a"));
        // The separator keeps (resource, token) pairs from running into each other.
        assert_ne!(cache_key("bc", "a"), cache_key("c", "ab"));
    }
}
