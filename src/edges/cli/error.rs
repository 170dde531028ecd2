//! Why a client verb failed, and the exit code each failure gives: the one place a
//! refusal class becomes an exit code.

use crate::edges::cli::client::ApiClientError;
use crate::edges::cli::output::exit;
use crate::model::refusal::Class;

/// Why a client verb failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The broker refused.
    #[error(transparent)]
    Api(#[from] ApiClientError),
    /// Not logged in to this server.
    #[error("{0}")]
    NotLoggedIn(String),
    /// Anything else.
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
    /// A defined outcome with its own exit code (`--wait`).
    #[error("{1}")]
    Exit(u8, String),
}

impl CliError {
    /// The process exit code for this error: the one place a refusal class becomes one.
    pub fn exit_code(&self) -> u8 {
        let class = match self {
            CliError::Api(e) => e.status().and_then(crate::edges::http::error::class_of),
            _ => None,
        };
        match self {
            _ if class == Some(Class::Unauthenticated) => exit::UNAUTHENTICATED,
            _ if class == Some(Class::Forbidden) => exit::FORBIDDEN,
            CliError::NotLoggedIn(_) => exit::UNAUTHENTICATED,
            CliError::Exit(code, _) => *code,
            _ => exit::FAILURE,
        }
    }
}
