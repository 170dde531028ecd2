//! Why a token the broker signs (a broker token, a gate assertion, a livestream token)
//! could not be made: its id could not be drawn, or signing failed.

use crate::model::random::RandomError;

/// Why a token could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The operating system's generator failed, so the token has no `jti`.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] jsonwebtoken::errors::Error),
}
