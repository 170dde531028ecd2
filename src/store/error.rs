//! Why a store operation failed.

/// A storage failure. Its text never contains connection secrets.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database said no or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The audit events of a change could not be written, so the change was not either.
    #[error("the audit log could not be written: {0}")]
    AuditLog(Box<StoreError>),
    /// The audit log was found cut short or rewritten: nothing that writes an audit
    /// event commits until an operator has dealt with it.
    #[error("the audit log was found cut short or rewritten ({0}); refusing to act")]
    AuditBroken(String),
    /// A periodic job's leader lost its lease (another replica took over): it writes
    /// nothing more as the leader.
    #[error("lease lost: {0}")]
    LeaseLost(String),
    /// A write was handed a permit for someone or something else (a bug, never written).
    #[error("not permitted: {0}")]
    NotPermitted(String),
}

impl StoreError {
    /// Whether this is the refusal of a log found cut short or rewritten.
    pub fn audit_broken(&self) -> bool {
        match self {
            StoreError::AuditBroken(_) => true,
            StoreError::AuditLog(inner) => inner.audit_broken(),
            _ => false,
        }
    }
}
