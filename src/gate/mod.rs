//! The gate: internal HTTP services reachable only inside an active grant, and only for
//! as long as it lasts.
//!
//! - [`admission_rules`]: what an admission is, and the pure rules that refuse one.
//! - [`cache`]: admissions remembered for a while, and one check at a time per credential.
//! - [`admission_check`]: the admission check against tokens and the store (session or
//!   broker token, grant, lock).
//! - [`assertion`]: the signed identity assertion passed upstream.
//! - [`revocation`]: the hub that ends every stream of a grant, session or user.
//! - [`poll`]: the store poll that catches ends committed by other replicas or clocks.
//! - [`headers`]: which headers cross the gate, and the path split.
//! - [`spoof`]: identity and forwarding headers a caller may not send upstream.
//! - [`paths`]: paths refused because a decoding upstream would read a parent segment.
//! - [`proxy`]: the streaming reverse proxy under `/gate/{resource}/…`.
//! - [`inbound`]: the caller's body on its way upstream, watched for the caller's own faults.
//! - [`pool`]: kept-alive HTTP/1.1 connections to the upstreams.
//! - [`relay`]: the response body that counts, ends on revocation and audits its stream.
//! - [`forward_auth`]: answers for nginx `auth_request`, Traefik ForwardAuth, Envoy ext_authz.
//! - [`livestream`]: PostHog live events tokens and the service's authorization callback.
//! - [`devsource`]: a small live-events source for the development server and the tests.

pub mod admission_check;
pub mod admission_rules;
pub mod assertion;
pub mod cache;
pub mod devsource;
pub mod forward_auth;
pub mod headers;
pub mod inbound;
pub mod livestream;
pub mod paths;
pub mod poll;
pub mod pool;
pub mod proxy;
pub mod relay;
pub mod revocation;
pub mod spoof;

use std::sync::Arc;

pub use admission_rules::{Admission, GateRefusal};
pub use cache::AdmissionCache;
pub use revocation::{End, Hub, Liveness};

/// The body type sent upstream: the caller's, as it arrives.
pub type UpstreamBody = axum::body::Body;

/// The gate's state: open streams, recent admissions, upstream connections.
#[derive(Default)]
pub struct Gate {
    /// Open streams.
    pub hub: Arc<Hub>,
    /// Recent admissions.
    pub admissions: AdmissionCache,
    /// Kept-alive HTTP/1.1 connections to upstreams.
    pub pool: Arc<pool::Pool>,
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
