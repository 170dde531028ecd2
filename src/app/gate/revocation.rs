//! The revocation hub: every open stream registers the grant, session and user it lives
//! by, and ends the moment one of them does. The service layer signals the hub after it
//! commits a revocation, an expiry, a lock or a logout; other replicas sharing a
//! PostgreSQL database hear of it by notification (see `fanout`), which runs the store
//! poll at once; and the poll also runs every [`POLL`] on its own, catching what a clock
//! ended or a lost notification missed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

/// How often the store is polled for ends committed elsewhere.
pub const POLL: Duration = Duration::from_millis(400);

/// Why a stream was ended by the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The grant was revoked.
    Revoked,
    /// The grant ran out.
    Expired,
    /// The grant ended otherwise (cancelled, or gone).
    GrantEnded,
    /// The user was locked.
    UserLocked,
    /// The session the stream was opened with ended (logout, or its expiry).
    SessionEnded,
    /// The broker is shutting down.
    Shutdown,
    /// The database was unreachable past `gate.cutoff_after`: revocations could no
    /// longer be learnt of.
    StoreUnreachable,
}

impl End {
    /// The word written in audit events and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            End::Revoked => "revoked",
            End::Expired => "expired",
            End::GrantEnded => "grant_ended",
            End::UserLocked => "user_locked",
            End::SessionEnded => "session_ended",
            End::Shutdown => "shutdown",
            End::StoreUnreachable => "store_unreachable",
        }
    }

    /// The end a grant in `state` stands for.
    pub fn of_state(state: &str) -> End {
        match state {
            "revoked" => End::Revoked,
            "expired" => End::Expired,
            _ => End::GrantEnded,
        }
    }
}

/// What a stream lives by.
#[derive(Debug, Clone)]
pub struct Liveness {
    /// The grant (access request id).
    pub grant_id: String,
    /// Identifiers a lock may name for the user: user id, subject, email (lower case).
    pub user_keys: Vec<String>,
    /// The session the stream was opened with, if it was opened with one.
    pub session_id: Option<String>,
}

struct Registered {
    live: Liveness,
    tx: watch::Sender<Option<End>>,
}

/// Open streams by registration number.
#[derive(Default)]
pub struct Hub {
    streams: Mutex<HashMap<u64, Registered>>,
    next: AtomicU64,
}

/// A stream's registration: resolves when the stream must end; deregisters when dropped.
pub struct Watch {
    id: u64,
    hub: Arc<Hub>,
    rx: watch::Receiver<Option<End>>,
}

impl Watch {
    /// Resolves with the reason once the broker ends this stream.
    pub async fn ended(&mut self) -> End {
        match self.rx.wait_for(Option::is_some).await {
            Ok(end) => end.unwrap_or(End::Shutdown),
            // The hub is gone: the broker is stopping.
            Err(_) => End::Shutdown,
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.hub.lock().remove(&self.id);
    }
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Registered>> {
        // A panic while holding this lock cannot leave the map inconsistent: keep going.
        self.streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a stream.
    pub fn register(self: &Arc<Self>, live: Liveness) -> Watch {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(None);
        self.lock().insert(id, Registered { live, tx });
        Watch {
            id,
            hub: self.clone(),
            rx,
        }
    }

    /// How many streams are open.
    pub fn open_streams(&self) -> usize {
        self.lock().len()
    }

    /// Ends every stream matching `which`; returns how many.
    pub fn end_where(&self, why: End, which: impl Fn(&Liveness) -> bool) -> usize {
        let streams = self.lock();
        let mut n = 0;
        for r in streams.values().filter(|r| which(&r.live)) {
            if r.tx
                .send_if_modified(|v| v.is_none() && v.replace(why).is_none())
            {
                n += 1;
            }
        }
        n
    }

    /// Ends the streams of one grant.
    pub fn end_grant(&self, grant_id: &str, why: End) -> usize {
        self.end_where(why, |l| l.grant_id == grant_id)
    }

    /// Ends the streams of users a lock on `identifier` names.
    pub fn end_user(&self, identifier: &str) -> usize {
        let id = identifier.to_lowercase();
        self.end_where(End::UserLocked, |l| {
            l.user_keys.iter().any(|k| k.to_lowercase() == id)
        })
    }

    /// Ends the streams opened with one session.
    pub fn end_session(&self, session_id: &str) -> usize {
        self.end_where(End::SessionEnded, |l| {
            l.session_id.as_deref() == Some(session_id)
        })
    }

    /// What the open streams live by (for the poll).
    pub fn snapshot(&self) -> Vec<Liveness> {
        self.lock().values().map(|r| r.live.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(grant: &str, user: &str, session: Option<&str>) -> Liveness {
        Liveness {
            grant_id: grant.into(),
            user_keys: vec![format!("dev|{user}"), user.into()],
            session_id: session.map(Into::into),
        }
    }

    #[tokio::test]
    async fn each_end_reaches_exactly_the_streams_it_names_and_dropped_watches_deregister() {
        let hub = Arc::new(Hub::default());
        let mut a = hub.register(live("g1", "alice@example.com", Some("s1")));
        let mut b = hub.register(live("g2", "alice@example.com", Some("s2")));
        let mut c = hub.register(live("g3", "bob@example.com", Some("s3")));
        let d = hub.register(live("g4", "carol@example.com", None));
        assert_eq!(hub.open_streams(), 4);
        assert_eq!(hub.end_grant("g1", End::Revoked), 1);
        assert_eq!(a.ended().await, End::Revoked);
        // An end is final: a later signal does not change the reason.
        assert_eq!(hub.end_session("s1"), 0);
        assert_eq!(hub.end_user("ALICE@example.com"), 1);
        assert_eq!(b.ended().await, End::UserLocked);
        assert_eq!(hub.end_session("s3"), 1);
        assert_eq!(c.ended().await, End::SessionEnded);
        assert_eq!(hub.end_grant("nope", End::Revoked), 0);
        drop(d);
        drop((a, b, c));
        assert_eq!(hub.open_streams(), 0);
    }
}
