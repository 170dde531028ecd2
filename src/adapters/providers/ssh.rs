//! OpenSSH user certificates: reading the key a user asks to have certified (refusing what
//! is not a key, or a key too weak to vouch for), and signing the certificate with the CA's
//! key through RustCrypto's `ssh-key`, which encodes the fields as `PROTOCOL.certkeys`
//! wants them (options and extensions sorted by name, each value a string in a string).

use ssh_key::certificate::{Builder, CertType};
use ssh_key::public::KeyData;
use ssh_key::rand_core::OsRng;
use ssh_key::{HashAlg, PublicKey};

/// The smallest RSA key certified: what NIST SP 800-131A has allowed since 2014.
pub const MIN_RSA_BITS: usize = 2048;

/// Why a public key is not certified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefusal {
    /// Not an OpenSSH public key line.
    #[error("the public key could not be read as an OpenSSH public key (TYPE BASE64 [COMMENT], as in ~/.ssh/id_ed25519.pub): {0}")]
    Unreadable(String),
    /// A certificate was given where a key belongs.
    #[error("that is a certificate, not a public key: give the key it certifies (the .pub file without -cert)")]
    Certificate,
    /// RSA below [`MIN_RSA_BITS`].
    #[error("the RSA key has {0} bits; at least {MIN_RSA_BITS} are required (or use ssh-keygen -t ed25519)")]
    WeakRsa(usize),
    /// DSA, or a kind sshd no longer takes.
    #[error("{0} keys are not certified: use ssh-keygen -t ed25519")]
    Unsupported(String),
}

impl KeyRefusal {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            KeyRefusal::Unreadable(_) => "ssh_bad_public_key",
            KeyRefusal::Certificate => "ssh_key_is_certificate",
            KeyRefusal::WeakRsa(_) => "ssh_weak_key",
            KeyRefusal::Unsupported(_) => "ssh_unsupported_key",
        }
    }
}

/// A key fit to certify, and its `SHA256:` fingerprint.
#[derive(Debug, Clone)]
pub struct UserKey {
    /// The key.
    pub key: PublicKey,
    /// `SHA256:…`.
    pub fingerprint: String,
}

/// Reads a public key line and refuses what should not be certified.
pub fn user_key(line: &str) -> Result<UserKey, KeyRefusal> {
    let line = line.trim();
    if line.contains("-cert-v01@openssh.com") {
        return Err(KeyRefusal::Certificate);
    }
    let key = PublicKey::from_openssh(line).map_err(|e| KeyRefusal::Unreadable(e.to_string()))?;
    match key.key_data() {
        KeyData::Rsa(rsa) => {
            let bits = rsa.n.as_positive_bytes().map_or(0, |b| {
                b.len() * 8 - b.first().map_or(8, |x| x.leading_zeros() as usize)
            });
            if bits < MIN_RSA_BITS {
                return Err(KeyRefusal::WeakRsa(bits));
            }
        }
        KeyData::Dsa(_) => return Err(KeyRefusal::Unsupported("DSA".into())),
        KeyData::Ed25519(_)
        | KeyData::Ecdsa(_)
        | KeyData::SkEd25519(_)
        | KeyData::SkEcdsaSha2NistP256(_) => {}
        other => return Err(KeyRefusal::Unsupported(other.algorithm().to_string())),
    }
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    Ok(UserKey { key, fingerprint })
}

/// What one certificate says.
#[derive(Debug, Clone)]
pub struct CertSpec<'a> {
    /// Never zero.
    pub serial: u64,
    /// What sshd logs.
    pub key_id: &'a str,
    /// Who it may log in as.
    pub principals: &'a [String],
    /// Seconds since the epoch.
    pub valid_after: u64,
    /// Seconds since the epoch.
    pub valid_before: u64,
    /// `(name, value)`; `force-command`, `source-address`.
    pub critical_options: &'a [(&'a str, String)],
    /// Extension names (values empty).
    pub extensions: &'a [String],
}

/// Signs a user certificate for `key`; `ssh-key` checks the signature it made before it
/// returns. Returns the certificate as the one line a `-cert.pub` file holds.
pub fn sign(
    ca: &ssh_key::PrivateKey,
    key: &UserKey,
    spec: &CertSpec<'_>,
) -> Result<String, ssh_key::Error> {
    let mut b = Builder::new_with_random_nonce(
        &mut OsRng,
        key.key.key_data().clone(),
        spec.valid_after,
        spec.valid_before,
    )?;
    b.serial(spec.serial)?
        .cert_type(CertType::User)?
        .key_id(spec.key_id)?
        .comment(spec.key_id)?;
    for p in spec.principals {
        b.valid_principal(p.as_str())?;
    }
    for (name, value) in spec.critical_options {
        b.critical_option(*name, value.as_str())?;
    }
    for e in spec.extensions {
        b.extension(e.as_str(), "")?;
    }
    b.sign(ca)?.to_openssh()
}

#[cfg(test)]
mod tests;
