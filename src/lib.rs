//! latchkey: a zero-trust access broker for infrastructure.
//!
//! Engineers log in with the company's OpenID Connect provider through the `latchkey`
//! CLI; the broker verifies the ID token, maps it to a principal and answers with its own
//! short-lived, revocable session token. They request just-in-time access; the policy
//! grants it at once, waits for reviewers, or refuses, and every decision, review and
//! state change is audited in the same transaction.
//!
//! # Layout
//! Five layers; a file imports only its own layer and those below (`tests/api/house.rs`
//! checks it, and that no two files import each other in a circle).
//!
//! 0. [`model`]: the pure core. Access requests and grants as a state machine with three
//!    clocks, the policy (catalogue, casbin rules, decisions with their explanation),
//!    audit events with their kinds, hash chain, canonical form and checkpoint maths, the
//!    gate's admission rules, identity claims, the refusal vocabulary (every refusal a
//!    stable code with a class, mapped to HTTP statuses in `edges::http::error` and to
//!    exit codes in `edges::cli` only), human durations, secrets that never print, random
//!    ids (a failure of the generator is an error), SHA-256, the one HTML escaper. No
//!    axum, hyper, sqlx, reqwest or tokio; time is passed in.
//! 1. [`config`]: layered configuration (defaults, TOML file, `LATCHKEY_*`, flags) and
//!    its validation.
//! 2. [`store`]: persistence through sqlx, SQLite by default and PostgreSQL for replicas.
//!    [`adapters`]: what lies outside the process: the identity provider (discovery,
//!    JWKS, ID tokens), the broker's keys on disk and its session tokens, credential
//!    providers (broker tokens, AWS STS, the IAM deny), Slack's Web API and Block Kit,
//!    the gate's upstream pool and identity assertion, checkpoint sinks. The store and
//!    the adapters do not know each other.
//! 3. [`app`]: the one application layer: every operation (login, locks, keys, access
//!    requests, reviews, credentials, audit, Slack approvals, gate admissions and
//!    streams), each one transaction with its audit events, calling adapters. It is a few
//!    services with one concern each (`Sessions`, `Access`, `Credentials`, `Admin`,
//!    `Audit`, `Gatekeeper`, `Slack`; `app::services` shows what each holds and whom it
//!    calls) over a shared `Core` (configuration, store, policy). A write that acts for a
//!    person takes a `model::policy::permit::Permit`, which only the policy's check makes.
//! 4. [`edges`]: HTTP (the axum router, the one API error type, extractors, metrics,
//!    request ids, the OpenAPI document generated from the API's types), the gate's
//!    reverse proxy and forward-auth, and the command line. They call the application
//!    layer and share its wire types.
//! 5. [`startup`]: wiring, from a validated configuration to a listening broker with
//!    graceful shutdown, and `serve --check-idp` (what the identity provider really
//!    sends); [`telemetry`]: tracing set-up.

pub mod model;

pub mod config;

pub mod adapters;
pub mod store;

pub mod app;

pub mod edges;

pub mod startup;
pub mod telemetry;
