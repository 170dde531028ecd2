//! The audit key: an Ed25519 key that signs audit checkpoints and evidence manifests, and
//! nothing else. It lives beside the token keys as `audit.key` (PKCS#8, mode 0600) and
//! is never rotated with them: auditors pin its public half (`latchkey audit key`) and
//! verify bundles offline with it.

use std::path::Path;

use crate::adapters::keys::error::KeyError;
pub use crate::model::audit::key::{AuditKey, AuditPublicKey};
use crate::model::keys as material;

impl AuditKey {
    /// Loads `audit.key` from `dir`, creating it on first start.
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyError> {
        let path = dir.join("audit.key");
        crate::adapters::keys::files::ensure_private_dir(dir)?;
        let pkcs8 = match crate::adapters::keys::files::read_private(&path)? {
            Some(bytes) => bytes,
            None => {
                let bytes =
                    material::generate(crate::model::keys::KeyAlg::Ed25519).map_err(|message| {
                        KeyError::Corrupt {
                            path: path.clone(),
                            message,
                        }
                    })?;
                crate::adapters::keys::files::write_new_private(&path, &bytes)?;
                bytes
            }
        };
        AuditKey::from_pkcs8(&pkcs8).map_err(|message| KeyError::Corrupt {
            path: path.clone(),
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_audit_key_signs_and_its_public_jwk_verifies() {
        let dir = crate::adapters::keys::files::private_tempdir();
        let key = AuditKey::load_or_create(dir.path()).unwrap();
        let sig = key.sign(b"head");
        let jwk = serde_json::to_string(key.public()).unwrap();
        let public = AuditPublicKey::from_jwk(&jwk).unwrap();
        assert!(public.verify(b"head", &sig));
        assert!(!public.verify(b"tail", &sig));
        // The same key on the next start.
        assert_eq!(
            AuditKey::load_or_create(dir.path()).unwrap().kid(),
            key.kid()
        );
        let mode = fs::metadata(dir.path().join("audit.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_jwk_whose_kid_lies_is_refused() {
        let dir = crate::adapters::keys::files::private_tempdir();
        let key = AuditKey::load_or_create(dir.path()).unwrap();
        let mut jwk = key.public().clone();
        jwk.kid = "someone-else".into();
        assert!(AuditPublicKey::from_jwk(&serde_json::to_string(&jwk).unwrap()).is_err());
    }
}
