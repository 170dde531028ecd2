//! The cryptography `jsonwebtoken` signs and verifies with: its own RustCrypto backend,
//! except ES256 verification, which goes to ring. The RustCrypto backend verifies ES256
//! with the p256 crate, about five times slower than ring (offline verification of an
//! ES256 broker token fell from about 20,000 to about 4,000 per second on one core), and
//! downstream services verify every request's token.
//!
//! `jsonwebtoken::crypto::CryptoProvider` is the crate's extension point for this; it is
//! chosen once per process, by the first call into the crate, so [`install`] runs before
//! the broker first touches a key ([`crate::adapters::keys::Keyring::load_or_create`]) and when a
//! downstream verifier is made ([`crate::adapters::providers::token::OfflineVerifier::new`]). If
//! another provider was chosen first, that one stays: slower here, never less correct.

use std::sync::OnceLock;

use jsonwebtoken::crypto::{rust_crypto, CryptoProvider, JwtVerifier};
use jsonwebtoken::signature::{Error, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

/// ES256 with ring; the key is the uncompressed point `jsonwebtoken` keeps for EC keys.
struct RingEs256(Vec<u8>);

impl Verifier<Vec<u8>> for RingEs256 {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), Error> {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.0)
            .verify(msg, signature)
            .map_err(|_| Error::new())
    }
}

impl JwtVerifier for RingEs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
}

fn verifier(
    alg: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    match alg {
        Algorithm::ES256 if key.family() == jsonwebtoken::AlgorithmFamily::Ec => {
            Ok(Box::new(RingEs256(key.try_get_as_bytes()?.to_vec())))
        }
        _ => (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(alg, key),
    }
}

static PROVIDER: OnceLock<CryptoProvider> = OnceLock::new();

/// Makes this the process's `jsonwebtoken` provider, unless one was chosen already.
pub fn install() {
    let provider = PROVIDER.get_or_init(|| CryptoProvider {
        verifier_factory: verifier,
        ..rust_crypto::DEFAULT_PROVIDER.clone()
    });
    // Err means a provider is already chosen (this one, or the caller's): keep it.
    let _ = provider.install_default();
}
