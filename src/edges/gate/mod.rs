//! The gate's HTTP edge: the streaming reverse proxy, forward-auth, inbound bodies and the
//! headers it strips, refuses or adds.
//!
//! - [`proxy`]: the streaming reverse proxy under `/gate/{resource}/…`.
//! - [`forward_auth`]: answers for nginx `auth_request`, Traefik ForwardAuth, Envoy ext_authz.
//! - [`headers`]: which headers cross the gate, and the path split.
//! - [`spoof`]: identity and forwarding headers a caller may not send upstream.
//! - [`inbound`]: the caller's body on its way upstream, watched for the caller's own faults.
//! - [`devsource`]: a small live-events source for the development server and the tests.

pub mod devsource;
pub mod forward_auth;
pub mod headers;
pub mod inbound;
pub mod proxy;
pub mod spoof;
