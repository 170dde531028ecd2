//! The database login key: 32 random bytes that every grant login's password is derived
//! from (`adapters::providers::scram`). It lives beside the token keys as `db-login.key`
//! (mode 0600), is made on first start, and is what lets the broker hand the same
//! password out for every credential of one grant without ever storing it.

use std::path::Path;

use crate::adapters::keys::error::KeyError;
use crate::adapters::keys::files;
pub use crate::adapters::providers::scram::LoginKey;

impl LoginKey {
    /// Loads `db-login.key` from `dir`, creating it on first start.
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyError> {
        let path = dir.join("db-login.key");
        files::ensure_private_dir(dir)?;
        let bytes = match files::read_private(&path)? {
            Some(bytes) => bytes,
            None => {
                let mut bytes = vec![0u8; 32];
                crate::model::random::fill(&mut bytes).map_err(|e| KeyError::Corrupt {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                files::write_new_private(&path, &bytes)?;
                bytes
            }
        };
        if bytes.len() != 32 {
            return Err(KeyError::Corrupt {
                path,
                message: format!("{} bytes where 32 belong", bytes.len()),
            });
        }
        Ok(LoginKey::new(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_key_is_made_once_and_read_back() {
        let dir = files::private_tempdir();
        let a = LoginKey::load_or_create(dir.path()).unwrap();
        let b = LoginKey::load_or_create(dir.path()).unwrap();
        assert_eq!(a.password("t", "lk_x_1"), b.password("t", "lk_x_1"));
        std::fs::write(dir.path().join("db-login.key"), b"short").unwrap();
        assert!(LoginKey::load_or_create(dir.path()).is_err());
    }
}
