//! The edges: HTTP and the command line. They call the application layer and share wire
//! types; they never open a transaction or call an adapter themselves.

pub mod cli;
pub mod gate;
pub mod http;
