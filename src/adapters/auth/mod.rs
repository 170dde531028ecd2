//! Authentication against the outside: the identity provider and the broker's own
//! session tokens.
//!
//! - [`provider`]: the provider as an OpenID Connect client (the `openidconnect` crate):
//!   discovery, the device flow, the authorization code flow with PKCE.
//! - [`jwks`]: the provider's JWKS, cached, refetched on an unknown `kid`, with backoff on
//!   failure and a bounded wait.
//! - [`oidc`]: ID token verification through the crate's verifier, with an explicit
//!   algorithm allow-list and the broker's own rules on top; the claim rules (`azp`,
//!   `typ`, nonce, the replay key) are `model::auth::claims`.
//! - [`registered`]: the registered JWT claims every token the broker signs carries.
//! - [`session`]: the broker's Ed25519-signed session tokens.

pub mod jwks;
pub mod oidc;
pub mod provider;
pub mod registered;
pub mod session;

/// Reads the `alg` of a compact JWS without trusting anything else in it, so that a token
/// whose algorithm is not allowed (including `none`) is refused by name before any parsing
/// library sees it.
pub(crate) fn peek_alg(token: &str) -> Option<String> {
    use base64::Engine;
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("alg")?.as_str().map(str::to_string)
}
