//! Key material per algorithm: generation, loading from PKCS#8, the public JWK and its
//! RFC 7638 thumbprint (the `kid`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A key as the JWKS and `latchkey keys` show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct KeyInfo {
    /// Key id.
    pub kid: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops being trusted, if it has been rotated out.
    pub retire_at: Option<DateTime<Utc>>,
    /// Whether it signs new tokens.
    pub active: bool,
    /// Key kind.
    #[serde(default)]
    #[schema(inline)]
    pub alg: KeyAlg,
}

/// The kinds of signing key the broker keeps.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum KeyAlg {
    /// Ed25519, JWT `alg` EdDSA: sessions and, by default, broker tokens.
    #[default]
    Ed25519,
    /// ECDSA P-256, JWT `alg` ES256: for verifiers that lack EdDSA.
    P256,
}

impl KeyAlg {
    /// Every kind, each with an active key.
    pub const ALL: [KeyAlg; 2] = [KeyAlg::Ed25519, KeyAlg::P256];

    /// The JWT algorithm.
    pub fn jwt(self) -> Algorithm {
        match self {
            KeyAlg::Ed25519 => Algorithm::EdDSA,
            KeyAlg::P256 => Algorithm::ES256,
        }
    }
}

/// A loaded key.
pub(crate) struct Material {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// Public JWK, without `kid`.
    pub jwk: Value,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
}

/// A new private key as PKCS#8.
pub(crate) fn generate(alg: KeyAlg) -> Result<Vec<u8>, String> {
    let rng = ring::rand::SystemRandom::new();
    let doc = match alg {
        KeyAlg::Ed25519 => Ed25519KeyPair::generate_pkcs8(&rng),
        KeyAlg::P256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng),
    };
    doc.map(|d| d.as_ref().to_vec())
        .map_err(|_| "the system random generator failed".to_string())
}

pub(crate) fn thumbprint(canonical: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.as_bytes(),
    ))
}

/// Loads a PKCS#8 private key of `alg`.
pub(crate) fn load(alg: KeyAlg, pkcs8: &[u8]) -> Result<Material, String> {
    match alg {
        KeyAlg::Ed25519 => {
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                .map_err(|e| format!("not an Ed25519 PKCS#8 key: {e}"))?;
            let public = pair.public_key().as_ref();
            let x = URL_SAFE_NO_PAD.encode(public);
            Ok(Material {
                kid: thumbprint(&format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#)),
                jwk: json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "alg": "EdDSA", "use": "sig" }),
                encoding: EncodingKey::from_ed_der(pkcs8),
                decoding: DecodingKey::from_ed_der(public),
            })
        }
        KeyAlg::P256 => {
            let rng = ring::rand::SystemRandom::new();
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                .map_err(|e| format!("not a P-256 PKCS#8 key: {e}"))?;
            // Uncompressed point: 0x04 || x || y.
            let public = pair.public_key().as_ref();
            let (x, y) = (
                URL_SAFE_NO_PAD.encode(&public[1..33]),
                URL_SAFE_NO_PAD.encode(&public[33..65]),
            );
            let decoding = DecodingKey::from_ec_components(&x, &y).map_err(|e| e.to_string())?;
            Ok(Material {
                kid: thumbprint(&format!(
                    r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#
                )),
                jwk: json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y, "alg": "ES256", "use": "sig" }),
                encoding: EncodingKey::from_ec_der(pkcs8),
                decoding,
            })
        }
    }
}

/// The SSH user CA key's algorithm (`[ssh] ca_algorithm`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SshCaAlg {
    /// `ssh-ed25519`.
    #[default]
    Ed25519,
    /// `ecdsa-sha2-nistp256`, for hosts that take no Ed25519.
    EcdsaP256,
}

impl SshCaAlg {
    /// Reads `ed25519` or `ecdsa-p256`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ed25519" => Some(Self::Ed25519),
            "ecdsa-p256" => Some(Self::EcdsaP256),
            _ => None,
        }
    }
}
