//! The key-encryption key (KEK): what seals the broker's private keys before they are
//! stored in the database, so that every replica given the same KEK shares the same keys
//! and the database alone gives none of them away.
//!
//! [`KeyEncryption`] is the seam: [`LocalKek`] seals with AES-256-GCM (ring) under a
//! 32-byte key the operator gives every replica; a KMS (AWS KMS, Vault transit) would be
//! another implementation. Each sealing draws a fresh 96-bit nonce and binds the key's
//! kind, id and algorithm as associated data, so a row whose ciphertext, id or kind was
//! changed does not open.

use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

/// Why sealing or opening failed.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    /// The KEK setting is not 32 bytes in base64 or hex.
    #[error("{0}")]
    Invalid(String),
    /// The ciphertext does not open under this KEK with this associated data.
    #[error("the key-encryption key does not open the keys in the database (set the one the other replicas use)")]
    WrongKey,
    /// The random number generator failed.
    #[error("sealing a key: {0}")]
    Seal(String),
}

/// Seals and opens private key material; implementations must authenticate `aad`.
pub trait KeyEncryption: Send + Sync {
    /// Encrypts `plain`, binding `aad`; the result carries whatever opening needs (nonce).
    fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, KekError>;
    /// Decrypts what [`KeyEncryption::seal`] made with the same `aad`.
    fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KekError>;
}

/// AES-256-GCM under a 32-byte key held in this process.
pub struct LocalKek {
    key: LessSafeKey,
}

impl std::fmt::Debug for LocalKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalKek([redacted])")
    }
}

impl LocalKek {
    /// A KEK from 32 bytes written in base64 (standard or URL-safe, padded or not) or
    /// hex; surrounding whitespace (a trailing newline in a file) is ignored.
    pub fn parse(text: &str) -> Result<Self, KekError> {
        let text = text.trim();
        let bytes = decode(text).ok_or_else(|| {
            KekError::Invalid(
                "the key-encryption key must be 32 bytes in base64 or hex (e.g. `openssl rand -base64 32`)".into(),
            )
        })?;
        let mut bytes = zeroize::Zeroizing::new(bytes);
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| KekError::Invalid("the key-encryption key is not 32 bytes".into()))?;
        zeroize::Zeroize::zeroize(&mut *bytes);
        Ok(Self {
            key: LessSafeKey::new(key),
        })
    }
}

fn decode(text: &str) -> Option<Vec<u8>> {
    if text.len() == 64 {
        if let Ok(b) = hex::decode(text) {
            return Some(b);
        }
    }
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    let unpadded = text.trim_end_matches('=');
    [
        STANDARD.decode(text),
        URL_SAFE.decode(text),
        URL_SAFE_NO_PAD.decode(unpadded),
    ]
    .into_iter()
    .flatten()
    .find(|b| b.len() == 32)
}

impl KeyEncryption for LocalKek {
    fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, KekError> {
        let mut nonce = [0u8; NONCE_LEN];
        crate::model::random::fill(&mut nonce).map_err(|e| KekError::Seal(e.to_string()))?;
        let mut body = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .map_err(|_| KekError::Seal("AES-GCM refused the input".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&body);
        zeroize::Zeroize::zeroize(&mut body);
        Ok(out)
    }

    fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KekError> {
        if sealed.len() < NONCE_LEN {
            return Err(KekError::WrongKey);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KekError::WrongKey)?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut body)
            .map_err(|_| KekError::WrongKey)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn a_sealed_key_opens_only_with_its_kek_and_its_associated_data() {
        let kek = LocalKek::parse(HEX).unwrap();
        let a = kek.seal(b"signing/k1", b"secret").unwrap();
        let b = kek.seal(b"signing/k1", b"secret").unwrap();
        assert_ne!(a, b, "a fresh nonce per sealing");
        assert!(!a.windows(6).any(|w| w == b"secret"));
        assert_eq!(kek.open(b"signing/k1", &a).unwrap(), b"secret");
        assert!(matches!(
            kek.open(b"signing/k2", &a),
            Err(KekError::WrongKey)
        ));
        let mut flipped = a.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(kek.open(b"signing/k1", &flipped).is_err());
        let other = LocalKek::parse(&"11".repeat(32)).unwrap();
        let err = other.open(b"signing/k1", &a).unwrap_err().to_string();
        assert!(err.contains("set the one the other replicas use"), "{err}");
    }

    #[test]
    fn the_kek_is_read_as_base64_or_hex_of_32_bytes() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        assert!(LocalKek::parse(&format!("{b64}\n")).is_ok());
        assert!(LocalKek::parse(HEX).is_ok());
        assert!(LocalKek::parse("c2hvcnQ=").is_err());
        assert!(LocalKek::parse(&"zz".repeat(32)).is_err());
    }
}
