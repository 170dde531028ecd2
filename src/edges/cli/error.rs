//! Why a client verb failed, the stable code and exit code each failure gives: the one
//! place a refusal class becomes an exit code.

use crate::edges::cli::client::ApiClientError;
use crate::edges::cli::idp_refusal::IdpRefusal;
use crate::edges::cli::output::exit;
use crate::model::refusal::Class;

/// Why a client verb failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The broker refused, or could not be reached.
    #[error(transparent)]
    Api(#[from] ApiClientError),
    /// Not logged in to this server.
    #[error("{0}")]
    NotLoggedIn(String),
    /// A verb's verdict was "no" (`policy test`, `policy check`, `audit verify`): its
    /// document goes into the JSON failure instead of beside it.
    #[error("{}", .0.message)]
    Verdict(Verdict),
    /// Anything else.
    #[error("{0:#}")]
    Other(anyhow::Error),
    /// A defined outcome with its own exit code (`--wait`, `stream`).
    #[error("{1}")]
    Exit(u8, String),
    /// The program `exec` or `psql` ran exited with this status: passed through as the
    /// program's own, not reported as latchkey's failure.
    #[error("{1}")]
    Program(u8, String),
}

/// A verdict of "no", with the document that says why.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Verdict {
    /// Stable code, e.g. `policy_tests_failed`.
    pub code: &'static str,
    /// For people.
    pub message: String,
    /// The exit code.
    pub exit_code: u8,
    /// The verb's own report (test results, findings, the verification report).
    pub details: serde_json::Value,
}

/// A verdict travels through `anyhow` in the offline verbs and comes out as itself.
impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<Verdict>() {
            Ok(v) => CliError::Verdict(v),
            Err(e) => CliError::Other(e),
        }
    }
}

impl CliError {
    /// The process exit code for this error: the one place a refusal class becomes one.
    /// A refusal of class `Forbidden` (403: no rule lets you, not an administrator, your
    /// own request, a locked user) is "not allowed"; a refusal of the request's input
    /// (a missing ticket, an unknown resource, too long a duration) is a failure whose
    /// message says what to change.
    pub fn exit_code(&self) -> u8 {
        let class = match self {
            CliError::Api(e) => e.status().and_then(crate::edges::http::error::class_of),
            _ => None,
        };
        match self {
            _ if class == Some(Class::Unauthenticated) => exit::UNAUTHENTICATED,
            _ if class == Some(Class::Forbidden) => exit::FORBIDDEN,
            CliError::NotLoggedIn(_) => exit::UNAUTHENTICATED,
            CliError::Verdict(v) => v.exit_code,
            CliError::Exit(code, _) | CliError::Program(code, _) => *code,
            CliError::Api(_) | CliError::Other(_) => exit::FAILURE,
        }
    }

    /// The stable code scripts match on: the broker's own for its refusals, else one
    /// naming what went wrong here.
    pub fn code(&self) -> &str {
        match self {
            CliError::Api(ApiClientError::Api { code, .. }) => code,
            CliError::Api(e @ ApiClientError::Transport { source, .. }) => match e.tls() {
                Some(tls) => crate::edges::cli::trust::tls_code(tls),
                None if source.is_decode() => "unexpected_response",
                None => "unreachable",
            },
            CliError::NotLoggedIn(_) => "not_logged_in",
            CliError::Verdict(v) => v.code,
            CliError::Other(e) if e.is::<IdpRefusal>() => e
                .downcast_ref::<IdpRefusal>()
                .map_or("failed", IdpRefusal::code),
            CliError::Other(e) if e.is::<crate::edges::cli::trust::CaCertError>() => {
                "invalid_ca_cert"
            }
            CliError::Other(e) if e.chain().any(|c| c.is::<crate::config::ConfigError>()) => {
                "invalid_config"
            }
            CliError::Other(e) if e.chain().any(|c| c.is::<std::io::Error>()) => "io_error",
            CliError::Other(_) => "failed",
            CliError::Exit(code, _) => exit::name(*code),
            CliError::Program(..) => "program_failed",
        }
    }

    /// What happened, for people: the broker's own message for its refusals (the code and
    /// request id are fields of their own in JSON).
    pub fn message(&self) -> String {
        match self {
            CliError::Api(ApiClientError::Api { message, .. }) => message.clone(),
            other => other.to_string(),
        }
    }

    /// The broker's `x-request-id`, when the failure came from its answer.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            CliError::Api(e) => e.request_id(),
            _ => None,
        }
    }

    /// What the broker said would make a refused request possible.
    pub fn hint(&self) -> Option<&str> {
        match self {
            CliError::Api(ApiClientError::Api { hint, .. }) => hint.as_deref(),
            _ => None,
        }
    }

    /// The verb's own report of a "no" verdict.
    pub fn details(&self) -> Option<&serde_json::Value> {
        match self {
            CliError::Verdict(v) if !v.details.is_null() => Some(&v.details),
            CliError::Other(e) => e.downcast_ref::<IdpRefusal>().map(|r| &r.details),
            _ => None,
        }
    }
}
