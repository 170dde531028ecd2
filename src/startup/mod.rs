//! From a validated configuration to a listening broker: bind, open storage, migrate,
//! load keys, serve until a shutdown signal, then let in-flight requests finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;

use crate::app::{App, Core};
use crate::config::Config;
use crate::edges::http;
use crate::edges::http::AppState;

mod check_idp;
pub mod commands;
mod keys;
mod open;
mod preflight;
mod serve;
mod tasks;
pub use open::open_store;
use open::{bind, create_private_dir, dev_source_move, load_policy, outside, ready};
use tasks::{chain_legacy_events, spawn_background};

/// A broker bound to its socket, ready to serve.
pub struct Application {
    listener: tokio::net::TcpListener,
    app: App,
    local_addr: SocketAddr,
    /// The certificate and key, loaded before the socket was bound.
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    /// The development live-events source's socket, bound before the policy is loaded so
    /// the catalogue can follow it.
    dev_source: Option<tokio::net::TcpListener>,
}

/// Selects ring for rustls once per process (several providers may be compiled in).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub use crate::adapters::http::client as http_client;

impl Application {
    /// Binds, opens the store, migrates, loads (or creates) the keys and the policy, wires
    /// the services, and readies the state before anything is served.
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        install_crypto_provider();
        // Nothing listens until every file and directory the configuration names is usable.
        let tls = preflight::check(&config)
            .await
            .context("invalid configuration")?;
        create_private_dir(&config.data_dir)?;
        let listener = bind(&mut config).await?;
        let local_addr = config.listen;
        let dev_source = match config.dev_source {
            Some(addr) => crate::edges::gate::devsource::bind_dev(addr).await,
            None => None,
        };
        // Working directories of exports a crash interrupted.
        let _ = std::fs::remove_dir_all(config.data_dir.join("exports"));
        let store = open_store(&config).await?;
        let parts = outside(&config, &store).await?;
        let policy = load_policy(&config, dev_source.as_ref().and_then(dev_source_move)).await?;
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
            logins_due: Default::default(),
            replica: crate::app::replica::Replica::new()?,
        });
        ready(&app).await?;
        Ok(Self {
            listener,
            app,
            local_addr,
            tls,
            dev_source,
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
            app: Arc::new(self.app.clone()),
            metrics: Default::default(),
        };
        let background = spawn_background(&self.app, self.dev_source).await;
        // One service per connection, which knows the caller's address.
        let app = http::service(state);
        let config = &self.app.core.config;
        tracing::info!(addr = %self.local_addr, public_url = %config.public_url, database = self.app.core.store.backend(), "latchkey listening");
        match self.tls {
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
        // Another replica takes the periodic jobs over now rather than when the lease runs out.
        self.app.core.release_lease().await;

        self.app.core.store.close().await;
        tracing::info!("latchkey stopped");
        Ok(())
    }
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
