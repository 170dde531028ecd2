//! Whether the broker can serve: not cut off from its database past `gate.cutoff_after`,
//! the database answers, the audit log was not found broken, and signing keys are loaded. `/readyz` reports it; the checks live here so the edge
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
    /// The hash of the policy in force here: replicas that disagree show at a glance.
    pub policy_hash: String,
    /// This replica's identity.
    pub replica: String,
}

/// Why the broker cannot serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// The database has not answered for this many seconds, past `gate.cutoff_after`:
    /// the gate admits nobody and has closed its streams.
    StoreUnreachable(u64),
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
            NotReady::StoreUnreachable(_) => crate::app::gate::reach::STORE_UNREACHABLE,
            NotReady::Database | NotReady::NoKeys => "not_ready",
        }
    }

    /// What to tell the caller.
    pub fn message(&self) -> String {
        match self {
            NotReady::Database => "the database does not answer".into(),
            NotReady::StoreUnreachable(s) => format!("the database has not answered for {s}s (past gate.cutoff_after): this replica cannot learn of revocations, so its gate admits nobody and its streams were closed"),
            NotReady::AuditBroken(why) => format!("the audit log was found cut short or rewritten ({why}); the broker refuses every change and issuance: {WHAT_TO_DO}"),
            NotReady::NoKeys => "no signing key is loaded".into(),
        }
    }
}

impl Admin {
    /// Checks, in order, the cut-off rule, the database, the audit log's guard and the
    /// signing keys.
    pub async fn readiness(&self) -> Result<Ready, NotReady> {
        // First, and without a round trip: a ping would wait for the pool's timeout.
        if self.gate.reach.is_cut() {
            return Err(NotReady::StoreUnreachable(
                self.gate.reach.silent_for().as_secs(),
            ));
        }
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
            policy_hash: self.core.policy.current().hash.clone(),
            replica: self.core.replica.id.clone(),
        })
    }
}
