//! A failure of the broker itself while admitting: a 503 refusal, logged, never echoed.
//! Shared by the admission check, the identification of credentials, the standing check
//! and the live events tokens.

use crate::model::gate::admission_rules::GateRefusal;
use crate::model::refusal::Class;

/// A failure of the broker itself while admitting: 503, logged, never echoed.
pub(super) fn internal(e: impl std::fmt::Display) -> GateRefusal {
    tracing::error!(error = %e, "gate admission failed");
    GateRefusal::new(
        Class::Unavailable,
        "unavailable",
        "the broker cannot check access right now; try again",
    )
}
