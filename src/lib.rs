//! latchkey: a zero-trust access broker for infrastructure.
//!
//! Engineers log in with the company's OpenID Connect provider through the `latchkey`
//! CLI; the broker verifies the ID token, maps it to a principal and answers with its own
//! short-lived, revocable session token. They request just-in-time access; the policy
//! grants it at once, waits for reviewers, or refuses, and every decision, review and
//! state change is audited in the same transaction.
//!
//! # Layout
//! - [`config`]: layered configuration (defaults, TOML file, `LATCHKEY_*`, flags) and its validation.
//! - [`duration`]: human durations (`8h`, `90s`, `1h30m`) for configuration and flags.
//! - [`secret`]: a string newtype that never prints its content, and URLs with their password redacted.
//! - [`random`]: random identifiers; a failure of the generator is an error.
//! - [`digest`]: SHA-256 in hex (the crate's one hex encoding is the `hex` crate).
//! - [`html`]: the one HTML escaper.
//! - [`telemetry`]: tracing set-up.
//! - [`keys`]: the broker's Ed25519 signing keys on disk, their `kid`s, rotation and the JWKS.
//! - [`auth`]: ID token verification against the provider's JWKS, and the broker's session tokens.
//! - [`policy`]: the resource catalogue and casbin rules: decisions with their explanation, lint, table tests.
//! - [`providers`]: credential providers that turn an active grant into a credential (broker tokens, AWS STS), and the IAM deny that ends a revoked grant's AWS sessions.
//! - [`refusal`]: the refusal vocabulary: every refusal a stable code with a class, mapped to HTTP statuses in `http::error` and exit codes in `cli` only.
//! - [`access`]: access requests and grants as a pure state machine with three clocks.
//! - [`audit`]: audit events (appended in the same transaction as the change they record), the hash chain, signed checkpoints, verification, evidence bundles, the event feed.
//! - [`domain`]: plain types of the model (principals, users, sessions) without I/O.
//! - [`store`]: persistence through sqlx, SQLite by default and PostgreSQL for replicas.
//! - [`service`]: the operations the API exposes (login, locks, keys, access requests), each one transaction.
//! - [`slack`]: Slack approvals: signed webhooks, Block Kit messages updated in place, the outbox, Slack-to-principal binding.
//! - [`gate`]: the gate: a streaming reverse proxy and forward-auth for `http` resources, closing streams when their grant ends.
//! - [`http`]: the axum router, the one API error type, extractors, metrics and routes.
//! - [`startup`]: wiring: from a validated configuration to a listening broker with graceful shutdown.
//! - [`cli`]: the command line: `serve`, `migrate` and the client verbs talking to the API.

pub mod access;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod digest;
pub mod domain;
pub mod duration;
pub mod gate;
pub mod html;
pub mod http;
pub mod keys;
pub mod policy;
pub mod providers;
pub mod random;
pub mod refusal;
pub mod secret;
pub mod service;
pub mod slack;
pub mod startup;
pub mod store;
pub mod telemetry;
