//! Adapters: what the application layer calls outside the process (the identity provider,
//! keys on disk, AWS, Slack's Web API, the gate's upstream pool, checkpoint sinks).

pub mod assertion;
pub mod auth;
pub mod http;
pub mod keys;
pub mod providers;
pub mod sink;
pub mod slack;
pub mod upstream;
