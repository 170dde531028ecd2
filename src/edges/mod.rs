//! The edges: HTTP and the command line. The server's edges (HTTP, the gate) call the
//! application layer and share the model's wire types; they never open a transaction,
//! and never reach the store or an adapter (`tests/api/house.rs` holds them to it). An
//! HTTP handler takes only the service it calls (`State<Access>`, `State<Credentials>`,
//! …). The CLI runs on the engineer's machine and may use adapters (the provider client,
//! key files), never the store.

pub mod cli;
pub mod gate;
pub mod http;
