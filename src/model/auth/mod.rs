//! Identity claims as the core reads them.

pub(crate) mod claims;
