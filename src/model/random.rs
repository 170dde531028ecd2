//! Random identifiers from the operating system's generator. A failure of the generator
//! is an error: an identifier is never made from zeros or from a weaker source.

use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};

/// The operating system's random number generator failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RandomError;

/// Fills `bytes` from the operating system's generator.
pub fn fill(bytes: &mut [u8]) -> Result<(), RandomError> {
    SystemRandom::new().fill(bytes).map_err(|_| RandomError)
}

/// A random, URL-safe identifier with 256 bits of entropy (session ids, nonces, PKCE
/// verifiers).
pub fn random_id() -> Result<String, RandomError> {
    id_from(fill)
}

/// An identifier of 32 bytes from `source`.
fn id_from(
    source: impl FnOnce(&mut [u8]) -> Result<(), RandomError>,
) -> Result<String, RandomError> {
    let mut bytes = [0u8; 32];
    source(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_url_safe_and_256_bits() {
        let a = random_id().unwrap();
        let b = random_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn a_failing_generator_is_an_error_never_zeros() {
        assert_eq!(id_from(|_| Err(RandomError)), Err(RandomError));
    }
}
