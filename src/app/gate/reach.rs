//! Fail closed when cut off: a replica that has not heard from its database for longer
//! than the bound (`gate.cutoff_after`) can no longer learn of revocations committed by
//! the others, so its gate admits nobody and its streams close until the database
//! answers again. Every answer counts: the listener's heartbeat and notifications, and
//! the poll's reads. SQLite is one process, told of every end directly: no bound.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::model::gate::admission_rules::GateRefusal;
use crate::model::refusal::Class;

/// When the database last answered, and the bound on its silence.
#[derive(Debug)]
pub struct Reach {
    /// `None`: never cut off (SQLite).
    bound: Option<Duration>,
    last: Mutex<Instant>,
    /// Whether the cut-off was declared (for logging its start and end once).
    cut: AtomicBool,
}

impl Default for Reach {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Reach {
    /// A replica cut off after `bound` of silence (`None`: never).
    pub fn new(bound: Option<Duration>) -> Self {
        Reach {
            bound,
            last: Mutex::new(Instant::now()),
            cut: AtomicBool::new(false),
        }
    }

    fn last(&self) -> std::sync::MutexGuard<'_, Instant> {
        // An `Instant` cannot be left half-written: keep going after a panic.
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The database answered just now.
    pub fn contact(&self) {
        *self.last() = Instant::now();
        if self.cut.swap(false, Ordering::SeqCst) {
            tracing::warn!("the database answers again; the gate admits again");
        }
    }

    /// How long the database has been silent.
    pub fn silent_for(&self) -> Duration {
        self.last().elapsed()
    }

    /// Whether silence has lasted longer than the bound.
    pub fn is_cut(&self) -> bool {
        self.bound.is_some_and(|b| self.silent_for() > b)
    }

    /// Whether this replica has a bound at all (PostgreSQL).
    pub fn bounded(&self) -> bool {
        self.bound.is_some()
    }

    /// Marks the cut-off as declared; true the first time since the last contact.
    pub fn declare(&self) -> bool {
        !self.cut.swap(true, Ordering::SeqCst)
    }

    /// The gate's refusal while cut off.
    pub fn refusal(&self) -> GateRefusal {
        GateRefusal::new(
            Class::Unavailable,
            STORE_UNREACHABLE,
            format!(
                "this replica has not reached its database for {}s and cannot learn of revocations; it admits nobody until the database answers",
                self.silent_for().as_secs()
            ),
        )
    }
}

/// The stable code of a refusal by a replica cut off from its database.
pub const STORE_UNREACHABLE: &str = "store_unreachable";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_bound_a_replica_is_never_cut_off() {
        let r = Reach::new(None);
        *r.last() = Instant::now() - Duration::from_secs(3600);
        assert!(!r.is_cut());
        assert!(!r.bounded());
    }

    #[test]
    fn silence_past_the_bound_cuts_off_and_one_answer_restores() {
        let r = Reach::new(Some(Duration::from_secs(2)));
        assert!(!r.is_cut());
        *r.last() = Instant::now() - Duration::from_millis(2100);
        assert!(r.is_cut());
        assert!(r.declare());
        assert!(!r.declare(), "declared once");
        assert_eq!(r.refusal().code, STORE_UNREACHABLE);
        r.contact();
        assert!(!r.is_cut());
        assert!(r.declare(), "a new cut-off is declared again");
    }
}
