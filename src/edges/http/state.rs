//! The state every handler is given, and the request id header they all name.

use std::sync::Arc;

use axum::http::HeaderName;

use crate::app::SharedBroker;
use crate::edges::http::metrics;

/// Shared state of every handler: small, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The broker core.
    pub broker: SharedBroker,
    /// Request metrics.
    pub metrics: Arc<metrics::Metrics>,
}

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
