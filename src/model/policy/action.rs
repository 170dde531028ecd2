//! The actions policy lines name.

/// What a principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Ask for a role on a resource.
    Request,
    /// Be granted without review.
    AutoApprove,
    /// Approve or deny others' requests.
    Review,
    /// Take access at once in an emergency.
    Breakglass,
    /// Read and export the audit log.
    AuditRead,
    /// Administer the broker.
    Admin,
}

impl Action {
    /// The name used in policy lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Request => "request",
            Action::AutoApprove => "auto_approve",
            Action::Review => "review",
            Action::Breakglass => "breakglass",
            Action::AuditRead => "audit_read",
            Action::Admin => "admin",
        }
    }

    /// Position in [`Action::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Every action.
    pub const ALL: [Action; 6] = [
        Action::Request,
        Action::AutoApprove,
        Action::Review,
        Action::Breakglass,
        Action::AuditRead,
        Action::Admin,
    ];
}
