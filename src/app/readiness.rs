//! Whether the broker can serve: the database answers, the audit log was not found broken,
//! and signing keys are loaded. `/readyz` reports it; the checks live here so the edge
//! reads no store.

use crate::app::services::Admin;
use crate::store::audit_guard::WHAT_TO_DO;

/// A broker ready to serve, as `/readyz` describes it.
#[derive(Debug, Clone)]
pub struct Ready {
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    /// Signing keys loaded.
    pub keys: usize,
    /// Whether this is a development broker.
    pub dev: bool,
}

/// Why the broker cannot serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// The database does not answer.
    Database,
    /// The audit log was found cut short or rewritten: every change and issuance is
    /// refused until an operator acts.
    AuditBroken(String),
    /// No signing key is loaded.
    NoKeys,
}

impl NotReady {
    /// The stable code of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            NotReady::AuditBroken(_) => "audit_chain_broken",
            NotReady::Database | NotReady::NoKeys => "not_ready",
        }
    }

    /// What to tell the caller.
    pub fn message(&self) -> String {
        match self {
            NotReady::Database => "the database does not answer".into(),
            NotReady::AuditBroken(why) => format!("the audit log was found cut short or rewritten ({why}); the broker refuses every change and issuance: {WHAT_TO_DO}"),
            NotReady::NoKeys => "no signing key is loaded".into(),
        }
    }
}

impl Admin {
    /// Checks, in order, the database, the audit log's guard and the signing keys.
    pub async fn readiness(&self) -> Result<Ready, NotReady> {
        if let Err(e) = self.core.store.ping().await {
            tracing::warn!(error = %e, "not ready: database");
            return Err(NotReady::Database);
        }
        if let Some(why) = self.core.store.audit_guard().broken() {
            return Err(NotReady::AuditBroken(why.to_string()));
        }
        if self.keyring.is_empty() {
            return Err(NotReady::NoKeys);
        }
        Ok(Ready {
            database: self.core.store.backend(),
            keys: self.keyring.len(),
            dev: self.core.config.dev,
        })
    }
}
