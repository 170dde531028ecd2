//! The gate as the application runs it: internal HTTP services reachable only inside an
//! active grant, and only for as long as it lasts. The pure admission rules are
//! `model::gate`; the HTTP edge (proxy, forward-auth) is `edges::gate`; the upstream
//! pool and the identity assertion are adapters.
//!
//! - [`cache`]: admissions remembered for a while, and one check at a time per credential.
//! - [`admission_check`]: the admission check against tokens and the store (session or
//!   broker token, grant, lock).
//! - [`revocation`]: the hub that ends every stream of a grant, session or user.
//! - [`poll`]: the store poll that catches ends committed by other replicas or clocks.
//! - [`relay`]: the response body that counts, ends on revocation and audits its stream.
//! - [`livestream`]: PostHog live events tokens and the service's authorization callback.

pub mod admission_check;
pub mod cache;
pub mod livestream;
pub mod poll;
pub mod relay;
pub mod revocation;

use std::sync::Arc;

pub use crate::model::gate::admission_rules::{Admission, GateRefusal};
pub use cache::AdmissionCache;
pub use revocation::{End, Hub, Liveness};

pub use crate::adapters::upstream::UpstreamBody;

/// The gate's state: open streams, recent admissions, upstream connections.
#[derive(Default)]
pub struct Gate {
    /// Open streams.
    pub hub: Arc<Hub>,
    /// Recent admissions.
    pub admissions: AdmissionCache,
    /// Kept-alive HTTP/1.1 connections to upstreams.
    pub pool: Arc<crate::adapters::upstream::Pool>,
}

impl Gate {
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
