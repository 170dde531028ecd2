//! The HTTP client the broker and the CLI talk to the identity provider with: bounded
//! connect and total times, no redirects followed, a user agent that names latchkey.

use std::time::Duration;

use anyhow::Context;

/// An HTTP client for talking to the identity provider.
pub fn client() -> anyhow::Result<reqwest::Client> {
    client_from(reqwest::Client::builder())
}

/// The same from `builder` (the CLI's, which may trust a private CA too).
pub fn client_from(builder: reqwest::ClientBuilder) -> anyhow::Result<reqwest::Client> {
    builder
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("latchkey/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")
}
