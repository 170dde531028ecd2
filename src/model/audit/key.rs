//! The audit key as the core uses it: an Ed25519 key that signs audit checkpoints and
//! evidence manifests, and nothing else, and its public half as a JWK that auditors pin.
//! Where it is kept is an adapter's concern (`adapters::keys::audit`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};

use crate::model::keys as material;

/// The private audit key.
pub struct AuditKey {
    pair: Ed25519KeyPair,
    public: AuditPublicKey,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

/// The public half, as a JWK (`kty` OKP, `crv` Ed25519, `x`, `kid`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditPublicKey {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    /// RFC 7638 thumbprint.
    pub kid: String,
}

impl AuditKey {
    /// From an Ed25519 PKCS#8 document.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, String> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|e| format!("not an Ed25519 PKCS#8 key: {e}"))?;
        let public = AuditPublicKey::from_bytes(pair.public_key().as_ref());
        Ok(AuditKey { pair, public })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    /// The public half.
    pub fn public(&self) -> &AuditPublicKey {
        &self.public
    }

    /// An Ed25519 signature of `msg`.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.pair.sign(msg).as_ref().to_vec()
    }
}

impl AuditPublicKey {
    /// From the 32 raw bytes of an Ed25519 public key.
    pub fn from_bytes(public: &[u8]) -> Self {
        let x = URL_SAFE_NO_PAD.encode(public);
        AuditPublicKey {
            kid: material::thumbprint(&format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#)),
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x,
        }
    }

    /// Reads a JWK as `latchkey audit key` prints it. The `kid` is recomputed, never trusted.
    pub fn from_jwk(json: &str) -> Result<Self, String> {
        let jwk: AuditPublicKey =
            serde_json::from_str(json).map_err(|e| format!("not an audit key JWK: {e}"))?;
        if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
            return Err("the audit key must be an Ed25519 (OKP) JWK".into());
        }
        let raw = URL_SAFE_NO_PAD
            .decode(&jwk.x)
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or("the JWK's x is not a 32-byte base64url Ed25519 key")?;
        let key = AuditPublicKey::from_bytes(&raw);
        if key.kid != jwk.kid {
            return Err(format!(
                "the JWK's kid {} is not the thumbprint of its key",
                jwk.kid
            ));
        }
        Ok(key)
    }

    /// Whether `sig` is this key's signature of `msg` (strict Ed25519 verification).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(raw) = URL_SAFE_NO_PAD.decode(&self.x) else {
            return false;
        };
        let (Ok(raw), Ok(sig)) = (
            <[u8; 32]>::try_from(raw.as_slice()),
            <[u8; 64]>::try_from(sig),
        ) else {
            return false;
        };
        let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&raw) else {
            return false;
        };
        key.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok()
    }
}
