//! The identity assertion as upstreams see it: the header it travels in and its JOSE
//! `typ`. Signing and verifying it is `adapters::assertion`.

/// The header upstreams read the assertion from.
pub const HEADER: &str = "x-latchkey-assertion";
/// [`HEADER`] as a header name, made once (a name made from a string at each use is
/// parsed, and copied when inserted).
pub const HEADER_NAME: http::HeaderName = http::HeaderName::from_static(HEADER);
/// The JOSE `typ` of assertions.
pub const TYP: &str = "latchkey-assertion+jwt";
