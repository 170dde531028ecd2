//! The pure core: the model, the access state machine, policy decisions, audit events and
//! their chain and checkpoint maths, the gate's admission rules. No I/O: no axum, hyper,
//! sqlx, reqwest or tokio; time is passed in.

pub mod access;
pub mod audit;
pub mod auth;
pub mod digest;
pub mod domain;
pub mod duration;
pub mod error_chain;
pub mod gate;
pub mod html;
pub mod keys;
pub mod krl;
pub mod policy;
pub mod random;
pub mod refusal;
pub mod secret;
pub mod wire;
