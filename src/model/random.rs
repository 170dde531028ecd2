//! Random identifiers from the operating system's generator. A failure of the generator
//! is an error: an identifier is never made from zeros, a nil UUID or a weaker source.

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

/// A random version-4 UUID (audit event ids, request ids of access requests, issuance
/// ids, token `jti`s). `uuid::Uuid::new_v4` would panic where the generator fails.
pub fn uuid_v4() -> Result<uuid::Uuid, RandomError> {
    uuid_from(fill)
}

/// A version-4 UUID from 16 bytes of `source` (the builder sets the version and variant
/// bits).
fn uuid_from(
    source: impl FnOnce(&mut [u8]) -> Result<(), RandomError>,
) -> Result<uuid::Uuid, RandomError> {
    let mut bytes = [0u8; 16];
    source(&mut bytes)?;
    Ok(uuid::Builder::from_random_bytes(bytes).into_uuid())
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

    #[test]
    fn uuids_are_distinct_valid_version_4() {
        let a = uuid_v4().unwrap();
        let b = uuid_v4().unwrap();
        assert_ne!(a, b);
        for id in [a, b] {
            assert_eq!(id.get_version(), Some(uuid::Version::Random));
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            assert_eq!(uuid::Uuid::parse_str(&id.to_string()), Ok(id));
        }
    }

    #[test]
    fn a_failing_generator_is_an_error_never_a_nil_or_fixed_uuid() {
        assert_eq!(uuid_from(|_| Err(RandomError)), Err(RandomError));
        // a generator that fails after writing part of the buffer yields no id either
        let partial = |b: &mut [u8]| {
            b[..8].fill(0xab);
            Err(RandomError)
        };
        assert_eq!(uuid_from(partial), Err(RandomError));
    }

    #[test]
    fn the_uuid_is_made_from_the_source_bytes() {
        let id = uuid_from(|b| {
            b.fill(0xff);
            Ok(())
        })
        .unwrap();
        // all ones but the version nibble (4) and the variant bits (10)
        assert_eq!(id.to_string(), "ffffffff-ffff-4fff-bfff-ffffffffffff");
    }
}
