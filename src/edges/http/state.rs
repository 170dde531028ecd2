//! The state every handler is given, and the request id header they all name. A handler
//! takes only the service it calls (`State<Access>`, `State<Credentials>`, …): each is
//! reached from [`AppState`] through axum's `FromRef`.

use std::sync::Arc;

use axum::extract::FromRef;
use axum::http::HeaderName;

use crate::app::{Access, Admin, App, Audit, Core, Credentials, Gatekeeper, Sessions, Slack};
use crate::edges::http::metrics;

/// Shared state of every handler: small, cheap to clone (axum clones it per request;
/// a handler's `State<Access>` then clones only that service).
#[derive(Clone)]
pub struct AppState {
    /// The application's services.
    pub app: Arc<App>,
    /// Request metrics.
    pub metrics: Arc<metrics::Metrics>,
}

/// Each service, and the shared core, as a handler's `State`.
macro_rules! from_ref {
    ($($ty:ty => $($field:ident).+;)*) => {$(
        impl FromRef<AppState> for $ty {
            fn from_ref(state: &AppState) -> Self {
                state.app.$($field).+.clone()
            }
        }
    )*};
}

from_ref! {
    Access => access;
    Sessions => sessions;
    Credentials => credentials;
    Admin => admin;
    Audit => audit;
    Gatekeeper => gatekeeper;
    Slack => slack;
    Arc<Core> => core;
}

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
