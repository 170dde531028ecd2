//! What every service of the application layer shares: the validated configuration, the
//! store, the policy in force and the in-flight test seam, and the one question each of
//! them asks of the policy before it acts for someone: is this principal an administrator.

use crate::app::error::ServiceError;
use crate::app::in_flight::InFlight;
use crate::config::Config;
use crate::model::domain::Principal;
use crate::model::policy::permit;
use crate::model::policy::permit::{Administer, Admins, Permit};
use crate::model::policy::PolicyHandle;
use crate::store::Store;

/// The shared ground of the services: nothing here talks to a provider.
pub struct Core {
    /// Validated configuration.
    pub config: Config,
    /// Storage.
    pub store: Store,
    /// The policy in force.
    pub policy: PolicyHandle,
    /// A test seam: pauses where something is granted on an earlier read (unset here).
    pub in_flight: InFlight,
    /// Wakes the worker that ends database logins (a grant ended, a user was locked).
    pub logins_due: tokio::sync::Notify,
    /// This process among the replicas sharing the database.
    pub replica: crate::app::replica::Replica,
}

impl Core {
    /// Whether the policy (`admin` on `broker`) or the configuration makes this principal an administrator.
    pub fn is_admin(&self, p: &Principal) -> bool {
        permit::is_admin(&self.policy.current(), self.admins(), p)
    }

    /// The administrator's permit, if this principal is one.
    pub fn admin_permit(&self, p: &Principal) -> Option<Permit<Administer>> {
        permit::administer(&self.policy.current(), self.admins(), p)
    }

    /// The administrator's permit, or why not (naming who the administrators are).
    pub(crate) fn require_admin(
        &self,
        p: &Principal,
        what: &str,
    ) -> Result<Permit<Administer>, ServiceError> {
        self.admin_permit(p).ok_or_else(|| {
            ServiceError::Forbidden(format!(
                "only an administrator may {what}; administrators are those the policy allows `admin` on `broker`, and the configured groups {:?} and users {:?}",
                self.config.admin.groups, self.config.admin.users
            ))
        })
    }

    fn admins(&self) -> Admins<'_> {
        Admins {
            groups: &self.config.admin.groups,
            users: &self.config.admin.users,
        }
    }
}
