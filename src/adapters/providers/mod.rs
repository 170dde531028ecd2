//! Credential providers: each resource's kind picks the one that turns an active grant
//! into a credential a real tool accepts.
//!
//! - [`aws`]: AWS STS AssumeRole sessions named after the human.
//! - [`aws_deny`]: the inline deny policy that makes AWS refuse a revoked grant's or a locked user's sessions.
//! - [`aws_failure`]: why an AWS call got no answer, in one sentence naming what to set.
//! - [`aws_iam`]: IAM calls that write, read back and delete that policy.
//! - [`postgres`]: a PostgreSQL login per grant, ended (sessions terminated, role dropped) with it.
//! - [`postgres_check`]: the start-up check of the broker's role on a database.
//! - `postgres_error`: why a database refused, with stable codes and SQLSTATEs.
//! - [`postgres_dev`]: the example databases and roles a development server makes on a local PostgreSQL.
//! - [`scram`]: those logins' passwords, and the SCRAM-SHA-256 verifiers the server is sent instead.
//! - [`livestream`]: tokens for PostHog's live events service (HS256 with its own secret).
//! - [`token`]: the broker's own signed tokens (EdDSA, or ES256), verified offline against the JWKS.

pub mod aws;
pub mod aws_deny;
pub mod aws_failure;
pub mod aws_iam;
pub mod livestream;
pub mod postgres;
pub mod postgres_check;
pub mod postgres_dev;
mod postgres_error;
pub mod scram;
pub mod ssh;
pub mod token;

/// A short fingerprint of a secret, for the audit log: the first 16 hex digits of its SHA-256.
pub fn fingerprint(secret: &str) -> String {
    crate::model::digest::sha256_hex(secret.as_bytes())[..16].to_string()
}
