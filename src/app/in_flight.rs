//! A test seam of the issuance and admission paths: a pause where something is about to
//! be granted on the strength of an earlier read.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

/// An async pause (see [`InFlight`]).
pub type Pause =
    Arc<dyn Fn(&'static str) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A test seam: an optional pause where something is about to be granted on the
/// strength of an earlier read: `token`, `aws` and `livestream` after the provider
/// minted and before the re-check, `admission` after the gate's check and before it is
/// remembered. The broker never sets it; the race tests do, to hold a credential in
/// flight (a slow provider) while they revoke. Unset, it costs one uncontended read lock.
#[derive(Default)]
pub struct InFlight {
    pause: RwLock<Option<Pause>>,
}

impl InFlight {
    /// Sets (or with `None` removes) the pause.
    pub fn set(&self, pause: Option<Pause>) {
        *self
            .pause
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = pause;
    }

    /// Waits as long as the pause says for `what`, if one is set.
    pub(crate) async fn pass(&self, what: &'static str) {
        let pause = self
            .pause
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(p) = pause {
            p(what).await;
        }
    }
}
