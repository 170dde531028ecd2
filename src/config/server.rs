//! The server's own settings: where it listens and with what TLS, the URL it is reached
//! at, its database, and how long a session lasts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::error::{invalid, ConfigError};
use crate::model::duration;

/// Certificate and key files.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// The listening address and its TLS: plain HTTP only on loopback, or behind a proxy
/// that terminates TLS; development mode on loopback only.
pub(super) fn validate_listen(
    listen: Option<&str>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    dev: bool,
    behind_tls_proxy: bool,
) -> Result<(SocketAddr, Option<TlsConfig>), ConfigError> {
    let listen: SocketAddr = listen.unwrap_or("127.0.0.1:8080").parse().map_err(|_| {
        invalid(
            "listen (LATCHKEY_LISTEN, --listen)",
            "not a socket address; write e.g. 127.0.0.1:8080 or [::]:443",
        )
    })?;
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsConfig { cert, key }),
        (None, None) => None,
        _ => {
            return Err(invalid(
                "tls.cert / tls.key (LATCHKEY_TLS_CERT, LATCHKEY_TLS_KEY)",
                "set both the certificate and the key, or neither",
            ))
        }
    };
    if dev && !listen.ip().is_loopback() {
        return Err(invalid(
            "listen (LATCHKEY_LISTEN, --listen)",
            format!(
                "development mode listens on loopback only, not {listen}; use e.g. 127.0.0.1:8080"
            ),
        ));
    }
    if !listen.ip().is_loopback() && tls.is_none() && !behind_tls_proxy {
        return Err(invalid(
            "tls.cert / tls.key (LATCHKEY_TLS_CERT, LATCHKEY_TLS_KEY)",
            format!(
                "refusing plain HTTP on the non-loopback address {listen}: configure a certificate and key, \
                 or set behind_tls_proxy = true (LATCHKEY_BEHIND_TLS_PROXY=true) if a TLS-terminating proxy sits in front"
            ),
        ));
    }
    Ok((listen, tls))
}

/// The public URL as given (without a trailing `/`), else the listening address's.
pub(super) fn validate_public_url(
    public_url: Option<String>,
    listen: &SocketAddr,
    tls: bool,
) -> Result<String, ConfigError> {
    let scheme = if tls { "https" } else { "http" };
    let public_url = public_url
        .unwrap_or_else(|| format!("{scheme}://{listen}"))
        .trim_end_matches('/')
        .to_string();
    url::Url::parse(&public_url).map_err(|e| {
        invalid(
            "public_url (LATCHKEY_PUBLIC_URL)",
            format!("not a URL ({e}); write e.g. https://latchkey.example.com"),
        )
    })?;
    Ok(public_url)
}

/// The database: SQLite (by default in the data directory) or PostgreSQL.
pub(super) fn validate_database_url(
    database_url: Option<String>,
    data_dir: &std::path::Path,
) -> Result<String, ConfigError> {
    let database_url = database_url
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("latchkey.db").display()));
    if !(database_url.starts_with("sqlite:")
        || database_url.starts_with("postgres://")
        || database_url.starts_with("postgresql://"))
    {
        return Err(invalid(
            "database_url (LATCHKEY_DATABASE_URL)",
            "must start with sqlite:// or postgres://",
        ));
    }
    Ok(database_url)
}

/// How long a session lasts: 8h by default, from 1m to 7d.
pub(super) fn validate_session_lifetime(lifetime: Option<&str>) -> Result<Duration, ConfigError> {
    let session_lifetime = match lifetime {
        None => Duration::from_secs(8 * 3600),
        Some(s) => duration::parse(s).map_err(|e| {
            invalid(
                "session_lifetime (LATCHKEY_SESSION_LIFETIME)",
                e.to_string(),
            )
        })?,
    };
    if session_lifetime < Duration::from_secs(60)
        || session_lifetime > Duration::from_secs(7 * 86_400)
    {
        return Err(invalid(
            "session_lifetime (LATCHKEY_SESSION_LIFETIME)",
            "must be between 1m and 7d",
        ));
    }
    Ok(session_lifetime)
}
