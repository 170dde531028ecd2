//! The gate as the application runs it: internal HTTP services reachable only inside an
//! active grant, and only for as long as it lasts. The pure admission rules are
//! `model::gate`; the HTTP edge (proxy, forward-auth) is `edges::gate`; the upstream
//! pool and the identity assertion are adapters.
//!
//! - [`cache`]: admissions remembered for a while, and one check at a time per credential.
//! - [`admission_check`]: the admission check, through the cache; refusals audited.
//! - [`identify`]: the human behind a credential (a session token or a broker token).
//! - [`standing`]: the caller's grant and lock on a resource, and the upstream's assertion.
//! - [`failure`]: the refusal for a failure of the broker itself while admitting.
//! - [`state`]: what the gate holds: open streams, recent admissions, upstream connections.
//! - [`revocation`]: the hub that ends every stream of a grant, session or user.
//! - [`poll`]: the store poll that catches ends committed by other replicas or clocks.
//! - [`fanout`]: PostgreSQL notifications that run the poll at once; the cut-off watchdog.
//! - [`listener`]: the listener's name in `pg_stat_activity` and what it has heard.
//! - [`reach`]: when the database last answered, and failing closed when cut off.
//! - [`relay`]: the response body that counts, ends on revocation and audits its stream.
//! - [`forward`]: an admitted request to its upstream, through the pool, with a bounded wait.
//! - [`livestream`]: PostHog live events tokens and the service's authorization callback.

pub mod admission_check;
pub mod cache;
pub mod failure;
pub mod fanout;
pub mod forward;
pub mod identify;
pub mod listener;
pub mod livestream;
pub mod poll;
pub mod reach;
pub mod relay;
pub mod revocation;
pub mod standing;
pub mod state;

pub use crate::model::gate::admission_rules::{Admission, GateRefusal};
pub use cache::AdmissionCache;
pub use revocation::{End, Hub, Liveness};
pub use state::Gate;

pub use crate::adapters::upstream::UpstreamBody;
pub use forward::{ForwardError, UpstreamResponse};
