//! Credential providers: each resource's kind picks the one that turns an active grant
//! into a credential a real tool accepts.
//!
//! - [`aws`]: AWS STS AssumeRole sessions named after the human.
//! - [`token`]: the broker's own signed tokens (EdDSA, or ES256), verified offline against the JWKS.

pub mod aws;
pub mod token;

/// A short fingerprint of a secret, for the audit log: the first 16 hex digits of its SHA-256.
pub fn fingerprint(secret: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, secret.as_bytes())
        .as_ref()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}
