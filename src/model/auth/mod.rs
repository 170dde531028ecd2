//! Identity claims as the core reads them.

pub mod claims;
