//! The edges: HTTP and the command line. The server's edges (HTTP, the gate) call the
//! application layer and share the model's wire types; they never open a transaction.
//! One reach remains (`tests/api/house.rs` lists it): the gate's proxy streams through
//! the upstream pool itself. The CLI runs on the engineer's machine and may use adapters
//! (the provider client, key files), never the store.

pub mod cli;
pub mod gate;
pub mod http;
