//! Why an SSH certificate is not issued, with its stable code (nothing is issued).

use crate::adapters::providers::ssh::KeyRefusal;
use crate::model::policy::ssh::PrincipalError;

/// Why a certificate is not issued (nothing is).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshRefusal {
    /// The public key is not one to certify.
    #[error(transparent)]
    Key(#[from] KeyRefusal),
    /// A principal could not be made for this user.
    #[error(transparent)]
    Principal(#[from] PrincipalError),
    /// The caller asked for longer than the grant (or the role) allows.
    #[error("a certificate for {asked} was asked, and {allowed} is the most this grant allows now (the role's max_validity, and never past the grant's end); ask for less, or extend the grant")]
    TooLong {
        /// What was asked.
        asked: String,
        /// What is left.
        allowed: String,
    },
    /// The role binds certificates to the caller's address, which is not known.
    #[error("the role binds certificates to the caller's address (source_address = \"caller\"), and the broker could not tell it")]
    CallerUnknown,
    /// The CA could not sign.
    #[error("the SSH CA could not sign: {0}")]
    Sign(String),
}

impl SshRefusal {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            SshRefusal::Key(k) => k.code(),
            SshRefusal::Principal(PrincipalError::NoEmail(_)) => "ssh_no_email",
            SshRefusal::Principal(PrincipalError::Unsafe(..)) => "ssh_bad_principal",
            SshRefusal::TooLong { .. } => "ssh_validity_exceeds_grant",
            SshRefusal::CallerUnknown => "ssh_source_unknown",
            SshRefusal::Sign(_) => "ssh_sign_failed",
        }
    }
}
