//! The gate's state, shared by the services that end access (a grant, a session, a user)
//! and the one that admits.

use std::sync::Arc;

use crate::app::gate::cache::AdmissionCache;
use crate::app::gate::listener::{listener_name, FanoutStats};
use crate::app::gate::reach::Reach;
use crate::app::gate::revocation::{End, Hub};

/// The gate's state: open streams, recent admissions, upstream connections, and what it
/// knows of the database across replicas.
#[derive(Default)]
pub struct Gate {
    /// Open streams.
    pub hub: Arc<Hub>,
    /// Recent admissions.
    pub admissions: AdmissionCache,
    /// Kept-alive HTTP/1.1 connections to upstreams.
    pub pool: Arc<crate::adapters::upstream::Pool>,
    /// Runs the store poll at once (a notification, or a reconnect of the listener).
    pub wake: tokio::sync::Notify,
    /// When the database last answered; the cut-off rule.
    pub reach: Reach,
    /// This replica's listener's name in `pg_stat_activity`.
    pub listener: String,
    /// What the listener has heard.
    pub fanout: FanoutStats,
}

impl Gate {
    /// A gate that fails closed after `cutoff` of silence from the database (`None`:
    /// never, as on SQLite).
    pub fn new(cutoff: Option<std::time::Duration>) -> Self {
        Gate {
            reach: Reach::new(cutoff),
            listener: listener_name(),
            ..Gate::default()
        }
    }

    /// A grant ended (committed): its streams close and its admissions are forgotten.
    pub fn end_grant(&self, grant_id: &str, why: End) {
        let id = grant_id.to_string();
        self.admissions.forget(move |a| a.grant_id == id);
        let n = self.hub.end_grant(grant_id, why);
        if n > 0 {
            tracing::info!(grant = %grant_id, streams = n, why = why.as_str(), "gated streams closed");
        }
    }

    /// A lock on `identifier` was committed.
    pub fn end_user(&self, identifier: &str) {
        let id = identifier.to_lowercase();
        self.admissions
            .forget(move |a| a.user_keys.iter().any(|k| k.to_lowercase() == id));
        let n = self.hub.end_user(identifier);
        if n > 0 {
            tracing::info!(streams = n, "gated streams of a locked user closed");
        }
    }

    /// A session ended (logout).
    pub fn end_session(&self, session_id: &str) {
        let id = session_id.to_string();
        self.admissions
            .forget(move |a| a.session_id.as_deref() == Some(id.as_str()));
        self.hub.end_session(session_id);
    }
}
