//! The broker: the state every operation of the application layer works on.

use std::sync::Arc;

use crate::adapters::auth::oidc::IdTokenVerifier;
use crate::adapters::keys::Keyring;
use crate::app::error::ServiceError;
use crate::app::in_flight::InFlight;
use crate::config::Config;
use crate::model::domain::Principal;
use crate::model::policy::{Action, PolicyHandle};
use crate::store::Store;

/// The broker's core: configuration, storage, keys and the provider's verifier.
pub struct Broker {
    /// Validated configuration.
    pub config: Config,
    /// Storage.
    pub store: Store,
    /// Signing keys.
    pub keyring: Keyring,
    /// ID token verifier; `None` when no provider is configured (development mode only).
    pub verifier: Option<IdTokenVerifier>,
    /// The policy in force.
    pub policy: PolicyHandle,
    /// AWS STS.
    pub aws: crate::adapters::providers::aws::AwsProvider,
    /// AWS IAM, where revoked sessions are denied.
    pub iam: crate::adapters::providers::aws_iam::IamClient,
    /// Signs audit checkpoints and evidence manifests.
    pub audit_key: crate::adapters::keys::audit::AuditKey,
    /// Outbound HTTP (hooks, the checkpoint sink).
    pub http: reqwest::Client,
    /// The Slack Web API; `None` when Slack is not configured.
    pub slack: Option<crate::adapters::slack::api::SlackApi>,
    /// The gate: open streams and recent admissions.
    pub gate: crate::app::gate::Gate,
    /// A test seam: pauses where something is granted on an earlier read (unset here).
    pub in_flight: InFlight,
}

/// A shared handle to the broker.
pub type SharedBroker = Arc<Broker>;

impl Broker {
    /// The name policy lines use for a principal: the verified email, else the user id.
    pub fn policy_name(p: &Principal) -> &str {
        p.email.as_deref().unwrap_or(&p.user_id)
    }

    /// Whether the policy (`admin` on `broker`) or the configuration makes this principal an administrator.
    pub fn is_admin(&self, p: &Principal) -> bool {
        if self
            .policy
            .current()
            .check(Self::policy_name(p), &p.groups, "broker", Action::Admin)
            .allowed
        {
            return true;
        }
        let admin = &self.config.admin;
        p.groups.iter().any(|g| admin.groups.contains(g))
            || admin.users.iter().any(|u| {
                *u == p.user_id
                    || *u == p.subject
                    || p.email
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(u))
            })
    }

    pub(crate) fn require_admin(&self, p: &Principal, what: &str) -> Result<(), ServiceError> {
        if self.is_admin(p) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "only an administrator may {what}; administrators are those the policy allows `admin` on `broker`, and the configured groups {:?} and users {:?}",
                self.config.admin.groups, self.config.admin.users
            )))
        }
    }
}
