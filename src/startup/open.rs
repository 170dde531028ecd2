//! What start-up opens and checks before anything is served: the socket, the state
//! directory and the database, the policy, what lies outside the process (keys,
//! the identity provider, AWS, Slack), and the state every replica must be in first.

use anyhow::Context;
use chrono::Utc;

use crate::adapters::auth::oidc::IdTokenVerifier;
use crate::adapters::http::client as http_client;
use crate::adapters::keys::Keyring;
use crate::app::{App, Core, Parts};
use crate::config::Config;
use crate::model::audit::EventKind;
use crate::model::policy::upstream::UpstreamMove;
use crate::model::policy::PolicyHandle;
use crate::model::secret::redact_url;
use crate::startup::tasks::{audit_policy, refusal};
use crate::store::Store;

/// Opens the database and applies migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database_url)
        .await
        .with_context(|| format!("opening the database {}", redact_url(&config.database_url)))?;
    store
        .migrate()
        .await
        .context("applying database migrations")?;
    Ok(store)
}

/// Creates the state directory readable by the broker's user only, or closes an existing
/// one down to that (it holds the database, the keys and the checkpoints).
pub(super) fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| {
            format!(
                "data_dir (LATCHKEY_DATA_DIR, --data-dir): cannot create {}",
                dir.display()
            )
        })?;
    let mode = std::fs::metadata(dir)
        .with_context(|| format!("reading the data directory {}", dir.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(dir = %dir.display(), mode = format!("{:o}", mode & 0o777), "the data directory was readable by others; now 0700");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making the data directory {} private", dir.display()))?;
    }
    Ok(())
}

/// Listens on the configured address; a derived public URL and port 0 become what was bound.
pub(super) async fn bind(config: &mut Config) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let local_addr = listener.local_addr()?;
    if config.public_url_derived {
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        config.public_url = format!("{scheme}://{local_addr}");
    }
    config.listen = local_addr;
    Ok(listener)
}

/// Where the development live-events source was bound, when that is not where the
/// catalogue's default points: the move that sends the catalogue's upstream after it.
pub(super) fn dev_source_move(listener: &tokio::net::TcpListener) -> Option<UpstreamMove> {
    let at = listener.local_addr().ok()?;
    let from: http::uri::Authority = crate::config::DEV_SOURCE_DEFAULT.parse().ok()?;
    let to: http::uri::Authority = at.to_string().parse().ok()?;
    (from != to).then_some(UpstreamMove { from, to })
}

/// The policy in force at start; refused if a resource needs settings that are missing.
pub(super) async fn load_policy(
    config: &Config,
    moved: Option<UpstreamMove>,
) -> anyhow::Result<PolicyHandle> {
    let policy = PolicyHandle::load_moving(&config.policy_dir, moved)
        .await
        .with_context(|| {
            format!(
                "loading the policy from {} (set policy_dir / LATCHKEY_POLICY_DIR)",
                config.policy_dir.display()
            )
        })?;
    tracing::info!(policy_dir = %config.policy_dir.display(), hash = %policy.current().hash, "policy loaded");
    if config.livestream.is_none() {
        if let Some(r) = policy
            .current()
            .catalogue
            .resources
            .values()
            .find(|r| r.upstream_auth == crate::model::policy::UpstreamAuth::Livestream)
        {
            anyhow::bail!(
                "{} has upstream_auth = \"livestream\": set [livestream] secret and api_token (LATCHKEY_LIVESTREAM_SECRET, LATCHKEY_LIVESTREAM_API_TOKEN)",
                r.name
            );
        }
    }
    if let Some((names, m)) = policy.moved_upstreams() {
        if !names.is_empty() {
            tracing::warn!(resources = %names.join(", "), from = %m.from, to = %m.to, "development mode: {} now proxies to the development live-events source at http://{} (the catalogue says http://{}; set gate.dev_source to choose)", names.join(", "), m.to, m.from);
        }
    }
    if config.dev {
        tracing::warn!(policy_dir = %config.policy_dir.display(), "development mode: loopback only, development login enabled");
    }
    Ok(policy)
}

/// What the services talk to outside the process: keys on disk, the identity
/// provider, AWS, Slack, and the HTTP client for hooks and sinks.
pub(super) struct Outside {
    keyring: Keyring,
    verifier: Option<IdTokenVerifier>,
    aws: crate::adapters::providers::aws::AwsProvider,
    iam: crate::adapters::providers::aws_iam::IamClient,
    audit_key: crate::adapters::keys::audit::AuditKey,
    slack: Option<crate::adapters::slack::api::SlackApi>,
    http: reqwest::Client,
    login_key: crate::adapters::keys::login::LoginKey,
    ssh_ca: crate::adapters::keys::ssh_ca::SshCa,
    shared_keys: Option<crate::app::shared_keys::SharedKeys>,
}

pub(super) async fn outside(config: &Config, store: &Store) -> anyhow::Result<Outside> {
    let keys = crate::startup::keys::load(config, store).await?;
    let verifier = match &config.oidc {
        Some(oidc) => Some(IdTokenVerifier::new(oidc.clone(), http_client()?)),
        None => None,
    };
    let sdk = crate::adapters::providers::aws::sdk_config(&config.aws).await;
    let slack = match &config.slack {
        Some(s) => Some(
            crate::adapters::slack::api::SlackApi::new(s).context("building the Slack client")?,
        ),
        None => None,
    };
    Ok(Outside {
        keyring: keys.keyring,
        verifier,
        aws: crate::adapters::providers::aws::AwsProvider::from_config(&sdk, &config.aws),
        iam: crate::adapters::providers::aws_iam::IamClient::from_config(&sdk, &config.aws),
        audit_key: keys.audit_key,
        slack,
        http: http_client()?,
        login_key: keys.login_key,
        ssh_ca: keys.ssh_ca,
        shared_keys: keys.shared,
    })
}

impl Outside {
    pub(super) fn wire(self, core: Core) -> App {
        App::new(Parts {
            core,
            keyring: self.keyring,
            verifier: self.verifier,
            aws: self.aws,
            iam: self.iam,
            audit_key: self.audit_key,
            http: self.http,
            slack: self.slack,
            login_key: self.login_key,
            ssh_ca: self.ssh_ca,
            shared_keys: self.shared_keys,
        })
    }
}

/// Before anything is served: the log holds against its checkpoints, an earlier
/// development broker's sessions are ended, whatever ran out while the broker was down
/// has ended, and the policy in force is in the audit log.
pub(super) async fn ready(app: &App) -> anyhow::Result<()> {
    // A log shorter than, or at odds with, a signed checkpoint is not served from.
    if let Some(report) = app
        .audit
        .check_audit_at_start()
        .await
        .context("checking the audit log against its newest checkpoints")?
    {
        anyhow::bail!(refusal(&report));
    }
    // A development broker's sessions do not survive a start without `--dev` on its data.
    let ended = app
        .sessions
        .end_dev_sessions(Utc::now())
        .await
        .context("ending development sessions")?;
    if ended > 0 {
        tracing::warn!(
            ended,
            "ended the development sessions of an earlier development broker"
        );
    }
    // A development server's example databases exist before anyone asks for a login.
    if tokio::time::timeout(
        std::time::Duration::from_secs(15),
        crate::app::db_check::prepare_dev(&app.core),
    )
    .await
    .is_err()
    {
        tracing::warn!("development mode: the local PostgreSQL did not answer in 15 s; db resources will not work");
    }
    // Crash safety: whatever ran out while the broker was down ends before anything is served.
    let expired = app
        .access
        .sweep(Utc::now())
        .await
        .context("expiring overdue requests and grants")?;
    if expired > 0 {
        tracing::info!(expired, "expired overdue requests and grants at start");
    }
    let core = &app.core;
    let mut details = core.policy.provenance();
    details["hash"] = serde_json::json!(core.policy.current().hash);
    details["dir"] = serde_json::json!(core.config.policy_dir);
    details["trigger"] = serde_json::json!("start");
    audit_policy(core, EventKind::PolicyLoaded, "success", None, details).await
}
