//! Adapters: what the application layer calls outside the process (the identity provider,
//! keys on disk, AWS, Slack's Web API, the gate's upstream pool, checkpoint sinks), and
//! the signed tokens the broker mints ([`mint`] says why one could not be made).

pub mod assertion;
pub mod auth;
pub mod http;
pub mod keys;
pub mod mint;
pub mod providers;
pub mod sink;
pub mod slack;
pub mod upstream;
