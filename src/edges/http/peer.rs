//! The peer of a connection, as the API and the gate see it.

use std::net::SocketAddr;

use axum::http::HeaderValue;

/// The peer of a connection, as the gate passes it on.
#[derive(Clone, Debug)]
pub struct Peer {
    /// The caller's address.
    pub addr: SocketAddr,
    /// Its `X-Forwarded-For` value.
    pub forwarded_for: Option<HeaderValue>,
}

impl Peer {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            forwarded_for: crate::edges::gate::headers::ip_value(addr.ip()),
        }
    }
}
