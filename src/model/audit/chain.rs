//! The hash chain: each event carries the hash of the one before it, so an edit, a
//! deletion, an insertion or a reordering breaks the chain at that event.
//!
//! `hash = lowercase hex of SHA-256("latchkey.audit.v1\n" || JCS(event without "hash"))`,
//! where the event is the JSON object of `events.jsonl` (see [`write_event`]) and JCS is
//! the canonical form of [`crate::model::audit::canonical`]. The first event's `prev_hash` is
//! [`GENESIS`]. The README gives the same rule for writers of other verifiers.

mod hash;
mod verifier;

pub use crate::model::audit::problem::Problem;
pub use hash::{event_hash, link, write_event, DOMAIN, GENESIS};
pub use verifier::{ChainVerifier, Link};

#[cfg(test)]
mod tests;
