//! The listener, plain or TLS, served until shutdown and then drained for at most
//! [`DRAIN`].

use std::time::Duration;

use std::future::Future;

use axum_server::tls_rustls::RustlsConfig;

use crate::edges::http::front::MakeFront;

/// How long in-flight requests may take to finish after a shutdown signal.
pub(crate) const DRAIN: Duration = Duration::from_secs(30);

/// Plain HTTP: after `shutdown`, in-flight requests get [`DRAIN`] to finish.
pub(super) async fn plain(
    listener: tokio::net::TcpListener,
    app: MakeFront,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut graceful = stop_rx.clone();
    let mut deadline = stop_rx;
    // No Nagle delay: a proxied answer's head and body are separate writes.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = graceful.wait_for(|stop| *stop).await;
    });
    tokio::select! {
        result = serve => result?,
        _ = async {
            let _ = deadline.wait_for(|stop| *stop).await;
            tokio::time::sleep(DRAIN).await;
        } => tracing::warn!("requests still running after {DRAIN:?}; stopping anyway"),
    }
    Ok(())
}

/// HTTPS with the certificate and key loaded at start, drained the same way.
pub(super) async fn tls(
    listener: tokio::net::TcpListener,
    app: MakeFront,
    rustls: RustlsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h.graceful_shutdown(Some(DRAIN));
    });
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rustls)
        .acceptor(axum_server::accept::NoDelayAcceptor::new());
    axum_server::from_tcp(listener.into_std()?)
        .acceptor(acceptor)
        .handle(handle)
        .serve(app)
        .await?;
    Ok(())
}
