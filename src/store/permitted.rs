//! The store's half of a permit: a write that acts for a person is refused unless its
//! permit is for that person and what the row is about.

use crate::model::policy::permit::{Act, Permit};
use crate::store::error::StoreError;

/// Refuses a write whose permit is for another principal or object.
pub(super) fn permitted<A: Act>(
    permit: &Permit<A>,
    who: &str,
    object: &str,
) -> Result<(), StoreError> {
    if permit.covers(who, object) {
        Ok(())
    } else {
        Err(StoreError::NotPermitted(permit.mismatch(who, object)))
    }
}
