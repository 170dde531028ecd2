//! The application's services, each with one concern and only what that concern needs.
//! Each is cheap to clone (shared parts behind `Arc`), so an HTTP handler takes just the
//! one it calls (axum's `FromRef`), and a background task holds just the one it runs.
//!
//! Who calls whom, always downwards (no service reaches one above it):
//!
//! ```text
//!   Slack ─────────► Access ──► Core (config, store, policy)
//!   Gatekeeper ─► Sessions ─┘     ▲
//!        └──────► Credentials ────┤
//!   Admin, Audit ─────────────────┘
//! ```

use std::sync::Arc;

use crate::adapters::auth::oidc::IdTokenVerifier;
use crate::adapters::keys::audit::AuditKey;
use crate::adapters::keys::ssh_ca::SshCa;
use crate::adapters::keys::Keyring;
use crate::adapters::providers::aws::AwsProvider;
use crate::adapters::providers::postgres::Postgres;
use crate::adapters::providers::scram::LoginKey;
use crate::adapters::slack::api::SlackApi;
use crate::app::aws_deny_sync::DenyWriter;
use crate::app::core::Core;
use crate::app::db_logins::LoginReaper;
use crate::app::gate::state::Gate;

/// Access requests: creating them (decided by the policy), reviews, activation,
/// extension, cancellation, revocation and expiry.
#[derive(Clone)]
pub struct Access {
    pub(crate) core: Arc<Core>,
    /// Ends the gate's streams and admissions of a grant that ended.
    pub(crate) gate: Arc<Gate>,
    /// Break-glass hooks.
    pub(crate) http: reqwest::Client,
    /// Whether Slack is configured (changes are then queued for its outbox).
    pub(crate) slack_on: bool,
}

/// Logging in, authenticating a session token, logging out.
#[derive(Clone)]
pub struct Sessions {
    pub(crate) core: Arc<Core>,
    /// Signs and verifies session tokens.
    pub(crate) keyring: Arc<Keyring>,
    /// The provider's ID token verifier; `None` without a provider (development mode only).
    pub(crate) verifier: Option<Arc<IdTokenVerifier>>,
    /// Ends the gate's streams of a session that ended.
    pub(crate) gate: Arc<Gate>,
    /// A logout may revoke the caller's grants first.
    pub(crate) access: Access,
    /// The groups claims already warned of as missing from ID tokens (once per name).
    pub(crate) groups_claim_warned: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
}

/// Credentials inside active grants: broker tokens, AWS sessions, database logins, live
/// events tokens.
#[derive(Clone)]
pub struct Credentials {
    pub(crate) core: Arc<Core>,
    /// Signs broker tokens.
    pub(crate) keyring: Arc<Keyring>,
    /// AWS STS.
    pub(crate) aws: Arc<AwsProvider>,
    /// The catalogue's PostgreSQL databases.
    pub(crate) postgres: Arc<Postgres>,
    /// Derives database logins' passwords.
    pub(crate) login_key: Arc<LoginKey>,
    /// Signs SSH user certificates.
    pub(crate) ssh_ca: Arc<SshCa>,
    /// The last SSH revocation list made.
    pub(crate) krl: Arc<crate::app::krl_cache::KrlCache>,
}

/// Operating the broker: locking users, rotating signing keys, readiness.
#[derive(Clone)]
pub struct Admin {
    pub(crate) core: Arc<Core>,
    pub(crate) keyring: Arc<Keyring>,
    /// The SSH CA, rotated here.
    pub(crate) ssh_ca: Arc<SshCa>,
    /// The keys in the database, when a key-encryption key is set; `None`: on disk.
    pub(crate) shared_keys: Option<Arc<crate::app::shared_keys::SharedKeys>>,
    /// Ends the gate's streams of a user who was locked.
    pub(crate) gate: Arc<Gate>,
}

/// The audit log: checkpoints, verification, reading, exports.
#[derive(Clone)]
pub struct Audit {
    pub(crate) core: Arc<Core>,
    /// Signs checkpoints and evidence manifests.
    pub(crate) audit_key: Arc<AuditKey>,
    /// Sends checkpoints to their sink.
    pub(crate) http: reqwest::Client,
}

/// The gate: admissions of gated requests and streams, ended with their grant.
#[derive(Clone)]
pub struct Gatekeeper {
    pub(crate) core: Arc<Core>,
    /// Open streams, recent admissions, upstream connections.
    pub(crate) gate: Arc<Gate>,
    /// Verifies broker tokens offline.
    pub(crate) keyring: Arc<Keyring>,
    /// Session tokens are checked as the API checks them.
    pub(crate) sessions: Sessions,
    /// The live events service's own tokens.
    pub(crate) credentials: Credentials,
}

/// Slack approvals: link codes, the outbox, clicks, the slash command, fresh logins.
#[derive(Clone)]
pub struct Slack {
    pub(crate) core: Arc<Core>,
    /// The Slack Web API; `None` when Slack is not configured.
    pub(crate) api: Option<SlackApi>,
    /// Reviews and lists, on behalf of the Slack user's latchkey user.
    pub(crate) access: Access,
    /// Verifies the ID token of a fresh-login confirmation.
    pub(crate) verifier: Option<Arc<IdTokenVerifier>>,
}

/// What the application is made of, given once at start.
pub struct Parts {
    /// Configuration, store, policy.
    pub core: Core,
    /// Signing keys.
    pub keyring: Keyring,
    /// ID token verifier, if a provider is configured.
    pub verifier: Option<IdTokenVerifier>,
    /// AWS STS.
    pub aws: AwsProvider,
    /// AWS IAM, where revoked sessions are denied.
    pub iam: crate::adapters::providers::aws_iam::IamClient,
    /// The audit key.
    pub audit_key: AuditKey,
    /// Outbound HTTP (hooks, the checkpoint sink, the identity provider).
    pub http: reqwest::Client,
    /// The Slack Web API, if configured.
    pub slack: Option<SlackApi>,
    /// The key database logins' passwords are derived from.
    pub login_key: LoginKey,
    /// The SSH user CA.
    pub ssh_ca: SshCa,
    /// The keys in the database, when a key-encryption key is set.
    pub shared_keys: Option<crate::app::shared_keys::SharedKeys>,
}

/// The application: every service, wired once.
#[derive(Clone)]
pub struct App {
    /// What they share.
    pub core: Arc<Core>,
    /// Access requests.
    pub access: Access,
    /// Sessions.
    pub sessions: Sessions,
    /// Credentials.
    pub credentials: Credentials,
    /// Administration.
    pub admin: Admin,
    /// The audit log.
    pub audit: Audit,
    /// The gate.
    pub gatekeeper: Gatekeeper,
    /// Slack.
    pub slack: Slack,
    /// The worker that writes AWS denies.
    pub deny_writer: DenyWriter,
    /// The worker that ends database logins.
    pub login_reaper: LoginReaper,
}

impl App {
    /// Wires the services from their parts.
    pub fn new(parts: Parts) -> Self {
        let core = Arc::new(parts.core);
        let keyring = Arc::new(parts.keyring);
        let verifier = parts.verifier.map(Arc::new);
        // Only replicas sharing PostgreSQL can miss a revocation when cut off from it.
        let cutoff = (core.store.backend() == "postgres").then_some(core.config.gate_cutoff_after);
        let gate = Arc::new(Gate::new(cutoff));
        let access = Access {
            core: core.clone(),
            gate: gate.clone(),
            http: parts.http.clone(),
            slack_on: parts.slack.is_some(),
        };
        let sessions = Sessions {
            core: core.clone(),
            keyring: keyring.clone(),
            verifier: verifier.clone(),
            gate: gate.clone(),
            access: access.clone(),
            groups_claim_warned: Default::default(),
        };
        let postgres = Arc::new(Postgres::default());
        let ssh_ca = Arc::new(parts.ssh_ca);
        let credentials = Credentials {
            core: core.clone(),
            keyring: keyring.clone(),
            aws: Arc::new(parts.aws),
            postgres: postgres.clone(),
            login_key: Arc::new(parts.login_key),
            ssh_ca: ssh_ca.clone(),
            krl: Arc::default(),
        };
        Self {
            admin: Admin {
                core: core.clone(),
                keyring: keyring.clone(),
                ssh_ca,
                shared_keys: parts.shared_keys.map(Arc::new),
                gate: gate.clone(),
            },
            audit: Audit {
                core: core.clone(),
                audit_key: Arc::new(parts.audit_key),
                http: parts.http,
            },
            gatekeeper: Gatekeeper {
                core: core.clone(),
                gate,
                keyring,
                sessions: sessions.clone(),
                credentials: credentials.clone(),
            },
            slack: Slack {
                core: core.clone(),
                api: parts.slack,
                access: access.clone(),
                verifier,
            },
            deny_writer: DenyWriter {
                core: core.clone(),
                iam: Arc::new(parts.iam),
            },
            login_reaper: LoginReaper {
                core: core.clone(),
                postgres,
            },
            core,
            access,
            sessions,
            credentials,
        }
    }

    /// The gate's state (open streams, admissions, upstream connections).
    pub fn gate(&self) -> &Arc<Gate> {
        &self.gatekeeper.gate
    }
}

impl Admin {
    /// The signing keys.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }
}

impl Audit {
    /// The key that signs checkpoints and evidence manifests.
    pub fn audit_key(&self) -> &AuditKey {
        &self.audit_key
    }
}
