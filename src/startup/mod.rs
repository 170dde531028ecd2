//! From a validated configuration to a listening broker: bind, open storage, migrate,
//! load keys, serve until a shutdown signal, then let in-flight requests finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;

use crate::adapters::auth::oidc::IdTokenVerifier;
use crate::adapters::keys::Keyring;
use crate::app::{App, Core, Parts};
use crate::config::Config;
use crate::edges::http;
use crate::edges::http::AppState;
use crate::model::audit::EventKind;
use crate::model::policy::PolicyHandle;
use crate::model::secret::redact_url;
use crate::store::Store;

pub mod commands;
mod serve;
mod tasks;
use tasks::{audit_policy, chain_legacy_events, checkpoint_forever, sweep_forever, watch_policy};

/// A broker bound to its socket, ready to serve.
pub struct Application {
    listener: tokio::net::TcpListener,
    app: App,
    local_addr: SocketAddr,
}

/// Selects ring for rustls once per process (several providers may be compiled in).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub use crate::adapters::http::client as http_client;

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
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))?;
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

impl Application {
    /// Binds, opens the store, migrates, loads (or creates) the keys and the policy, wires
    /// the services, and readies the state before anything is served.
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        install_crypto_provider();
        let listener = bind(&mut config).await?;
        let local_addr = config.listen;
        create_private_dir(&config.data_dir)?;
        // Working directories of exports a crash interrupted.
        let _ = std::fs::remove_dir_all(config.data_dir.join("exports"));
        let store = open_store(&config).await?;
        let parts = outside(&config).await?;
        let policy = load_policy(&config).await?;
        let chained = chain_legacy_events(&store).await?;
        if chained > 0 {
            tracing::info!(
                events = chained,
                "audit events written before the hash chain existed are now chained"
            );
        }
        if config.audit.checkpoint_sink.is_none() {
            tracing::warn!("no audit.checkpoint_sink: checkpoints are kept in the database only; set one so history cannot be rewritten unnoticed");
        }
        let app = parts.wire(Core {
            config,
            store,
            policy,
            in_flight: Default::default(),
        });
        ready(&app).await?;
        Ok(Self {
            listener,
            app,
            local_addr,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The application's services (tests use them to reach the store and the gate).
    pub fn app(&self) -> App {
        self.app.clone()
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        // On the signal, gated streams end first (audited), so the drain does not wait on them.
        let hub = self.app.gate().hub.clone();
        let shutdown = async move {
            shutdown.await;
            hub.end_where(crate::app::gate::End::Shutdown, |_| true);
        };
        let state = AppState {
            app: self.app.clone(),
            metrics: Default::default(),
        };
        let background = spawn_background(&self.app).await;
        // One service per connection, which knows the caller's address.
        let app = http::service(state);
        let config = &self.app.core.config;
        tracing::info!(addr = %self.local_addr, public_url = %config.public_url, database = self.app.core.store.backend(), "latchkey listening");
        match &config.tls {
            None => serve::plain(self.listener, app, shutdown).await?,
            Some(tls) => serve::tls(self.listener, app, tls, shutdown).await?,
        }
        // Every background task is stopped, and gone, before the shutdown checkpoint: a
        // writer aborted mid-transaction would otherwise hold SQLite's write lock while the
        // checkpoint waits for it (seen once: "database is locked" after 5 s).
        for task in background {
            task.abort();
            // A cancelled task's error is the expected end.
            let _ = task.await;
        }
        // The tail since the last checkpoint is signed too: a stopped broker leaves none.
        tasks::checkpoint_at_shutdown(&self.app.audit).await;

        self.app.core.store.close().await;
        tracing::info!("latchkey stopped");
        Ok(())
    }
}

/// Listens on the configured address; a derived public URL and port 0 become what was bound.
async fn bind(config: &mut Config) -> anyhow::Result<tokio::net::TcpListener> {
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

/// The policy in force at start; refused if a resource needs settings that are missing.
async fn load_policy(config: &Config) -> anyhow::Result<PolicyHandle> {
    let policy = PolicyHandle::load(&config.policy_dir)
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
    if config.dev {
        tracing::warn!(policy_dir = %config.policy_dir.display(), "development mode: loopback only, development login enabled");
    }
    Ok(policy)
}

/// What the services talk to outside the process: keys on disk, the identity
/// provider, AWS, Slack, and the HTTP client for hooks and sinks.
struct Outside {
    keyring: Keyring,
    verifier: Option<IdTokenVerifier>,
    aws: crate::adapters::providers::aws::AwsProvider,
    iam: crate::adapters::providers::aws_iam::IamClient,
    audit_key: crate::adapters::keys::audit::AuditKey,
    slack: Option<crate::adapters::slack::api::SlackApi>,
    http: reqwest::Client,
}

async fn outside(config: &Config) -> anyhow::Result<Outside> {
    let keyring = Keyring::load_or_create(&config.keys_dir, Utc::now())
        .context("loading the signing keys")?;
    let verifier = match &config.oidc {
        Some(oidc) => Some(IdTokenVerifier::new(oidc.clone(), http_client()?)),
        None => None,
    };
    let sdk = crate::adapters::providers::aws::sdk_config(&config.aws).await;
    let audit_key = crate::adapters::keys::audit::AuditKey::load_or_create(&config.keys_dir)
        .context("loading the audit key")?;
    let slack = match &config.slack {
        Some(s) => Some(
            crate::adapters::slack::api::SlackApi::new(s).context("building the Slack client")?,
        ),
        None => None,
    };
    Ok(Outside {
        keyring,
        verifier,
        aws: crate::adapters::providers::aws::AwsProvider::from_config(&sdk, &config.aws),
        iam: crate::adapters::providers::aws_iam::IamClient::from_config(&sdk, &config.aws),
        audit_key,
        slack,
        http: http_client()?,
    })
}

impl Outside {
    fn wire(self, core: Core) -> App {
        App::new(Parts {
            core,
            keyring: self.keyring,
            verifier: self.verifier,
            aws: self.aws,
            iam: self.iam,
            audit_key: self.audit_key,
            http: self.http,
            slack: self.slack,
        })
    }
}

/// Before anything is served: the log holds against its checkpoints, an earlier
/// development broker's sessions are ended, whatever ran out while the broker was down
/// has ended, and the policy in force is in the audit log.
async fn ready(app: &App) -> anyhow::Result<()> {
    // A log shorter than, or at odds with, a signed checkpoint is not served from.
    if let Some(report) = app
        .audit
        .check_audit_at_start()
        .await
        .context("checking the audit log against its newest checkpoints")?
    {
        anyhow::bail!(tasks::refusal(&report));
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

/// The broker's background tasks, in the order they are stopped.
async fn spawn_background(app: &App) -> Vec<tokio::task::JoinHandle<()>> {
    let core = &app.core;
    let reloader = tokio::spawn(watch_policy(core.clone()));
    let sweeper = tokio::spawn(sweep_forever(app.access.clone()));
    let checkpointer = tokio::spawn(checkpoint_forever(app.audit.clone()));
    let feed = core
        .config
        .audit
        .event_sink
        .clone()
        .map(|sink| tokio::spawn(crate::app::audit_feed::run(core.store.clone(), sink)));
    // Slack's outbox drains in the background: Slack being slow or down blocks nothing.
    let slack = app
        .slack
        .api
        .clone()
        .map(|api| tokio::spawn(crate::app::slack::notify::run(app.slack.clone(), api)));
    // Denies of revoked AWS sessions: queued with the revocation, written from here.
    let aws_denies = tokio::spawn(crate::app::aws_deny_sync::run(app.deny_writer.clone()));
    let gate_poll = tokio::spawn(crate::app::gate::poll::poll_forever(app.gatekeeper.clone()));
    let dev_source = match core.config.dev_source {
        Some(addr) => {
            crate::edges::gate::devsource::spawn_dev(addr, dev_assertion_check(app)).await
        }
        None => None,
    };
    [
        Some(reloader),
        Some(sweeper),
        Some(checkpointer),
        feed,
        slack,
    ]
    .into_iter()
    .flatten()
    .chain([gate_poll, aws_denies])
    .chain(dev_source)
    .collect()
}

/// The development live-events source accepts the gate's own identity assertions.
fn dev_assertion_check(app: &App) -> crate::edges::gate::devsource::AssertionCheck {
    let admin = app.admin.clone();
    Some(Arc::new(move |a: &str| {
        serde_json::from_value(admin.keyring.jwks(Utc::now())).is_ok_and(|jwks| {
            crate::adapters::assertion::verify(
                &jwks,
                &admin.core.config.public_url,
                crate::edges::gate::devsource::DEV_AUDIENCE,
                a,
            )
            .is_ok()
        })
    }))
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
