//! The CLI's cache of AWS sessions (`$XDG_CONFIG_HOME/latchkey/cache/aws-*.json`, directory
//! 0700, files 0600): one per server and resource, with the grant it belongs to. A cached
//! session is served only inside its grant, outside AWS tools' refresh window, and while
//! the broker says the grant is still active; it is dropped when the grant is revoked or
//! the session ends through this CLI (`revoke`, `logout`, `lock` of oneself).

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::adapters::providers::aws::AwsCredentials;
use crate::edges::cli::client::{ApiClient, ApiClientError};
use crate::edges::cli::error::CliError;
use crate::edges::cli::saved_sessions::config_dir;
use crate::model::access::State;
use crate::model::wire::RequestView;

/// Cached credentials are refreshed this long before they expire: AWS SDKs and the CLI
/// refresh 15 minutes before `Expiration` and refuse from 10 minutes before.
const REFRESH_BEFORE: chrono::Duration = chrono::Duration::minutes(16);

/// One cached session.
#[derive(Serialize, Deserialize)]
struct Cached {
    server: String,
    resource: String,
    #[serde(flatten)]
    credentials: AwsCredentials,
}

fn cache_dir() -> anyhow::Result<PathBuf> {
    Ok(config_dir()?.join("cache"))
}

fn cache_path(server: &str, resource: &str) -> anyhow::Result<PathBuf> {
    let key = crate::adapters::providers::fingerprint(&format!("{server}\n{resource}"));
    Ok(cache_dir()?.join(format!("aws-{key}.json")))
}

/// Whether cached credentials may still be handed out at `now`: their grant is known and
/// has not ended, and AWS tools would not yet refresh them.
pub fn servable(c: &AwsCredentials, now: DateTime<Utc>) -> bool {
    c.grant_id.is_some()
        && c.grant_expires_at.is_some_and(|end| now < end)
        && c.expiration - now > REFRESH_BEFORE
}

/// Whether the broker says the grant is still active. A broker that cannot say fails the
/// call: a cached session is never served on a guess.
async fn grant_live(api: &ApiClient, grant: &str) -> Result<bool, CliError> {
    match api
        .get::<RequestView>(&format!("/v1/requests/{grant}"))
        .await
    {
        Ok(v) => Ok(v.request.state == State::Active
            && v.request.expires_at.is_some_and(|end| end > Utc::now())),
        Err(ApiClientError::Api {
            status: 403 | 404, ..
        }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The cached session for `resource`, if it may still be served; one that may not is dropped.
pub async fn cached(api: &ApiClient, resource: &str) -> Result<Option<AwsCredentials>, CliError> {
    let path = cache_path(api.server(), resource)?;
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(None);
    };
    let c = match serde_json::from_slice::<Cached>(&bytes) {
        Ok(c) if c.server == api.server() && c.resource == resource => c.credentials,
        _ => {
            let _ = std::fs::remove_file(&path);
            return Ok(None);
        }
    };
    let live = match &c.grant_id {
        Some(grant) if servable(&c, Utc::now()) => grant_live(api, grant).await?,
        _ => false,
    };
    if live {
        return Ok(Some(c));
    }
    let _ = std::fs::remove_file(&path);
    Ok(None)
}

/// Caches a session the broker just issued.
pub fn save(server: &str, resource: &str, creds: &AwsCredentials) -> anyhow::Result<()> {
    let path = cache_path(server, resource)?;
    let dir = path.parent().context("cache path")?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // A temporary file of its own (mode 0600): an AWS SDK may run several
    // `credential_process` at once, and they must not write into one file.
    let mut f = tempfile::Builder::new().suffix(".tmp").tempfile_in(dir)?;
    let entry = Cached {
        server: server.to_string(),
        resource: resource.to_string(),
        credentials: creds.clone(),
    };
    std::io::Write::write_all(&mut f, &serde_json::to_vec(&entry)?)?;
    f.persist(&path)
        .map_err(|e| e.error)
        .with_context(|| format!("caching credentials in {}", path.display()))?;
    Ok(())
}

/// Drops the cached sessions of `server`: those of one grant, or all of them. Entries that
/// cannot be read are dropped too. Returns how many files were removed.
pub fn forget(server: &str, grant: Option<&str>) -> anyhow::Result<usize> {
    forget_in(&cache_dir()?, server, grant)
}

fn forget_in(dir: &Path, server: &str, grant: Option<&str>) -> anyhow::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("aws-") {
            continue;
        }
        let drop_it = match std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Cached>(&b).ok())
        {
            Some(c) => {
                c.server == server
                    && grant.is_none_or(|g| c.credentials.grant_id.as_deref() == Some(g))
            }
            None => true,
        };
        if drop_it {
            std::fs::remove_file(&path)
                .with_context(|| format!("removing the cached credential {}", path.display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(grant: Option<&str>, grant_end: DateTime<Utc>, exp: DateTime<Utc>) -> AwsCredentials {
        AwsCredentials {
            access_key_id: "ASIA".into(),
            secret_access_key: "s".into(),
            session_token: "t".into(),
            expiration: exp,
            assumed_role_arn: None,
            region: None,
            grant_id: grant.map(String::from),
            grant_expires_at: Some(grant_end),
        }
    }

    #[test]
    fn a_cached_session_is_never_served_past_its_grant_or_inside_the_refresh_window() {
        let now = Utc::now();
        let m = chrono::Duration::minutes;
        assert!(servable(&creds(Some("g"), now + m(60), now + m(30)), now));
        // The grant ends before the session would: not past the grant's end.
        assert!(!servable(&creds(Some("g"), now - m(1), now + m(30)), now));
        // AWS tools would refresh it.
        assert!(!servable(&creds(Some("g"), now + m(60), now + m(15)), now));
        // A session cached without its grant (an older CLI) is never served.
        assert!(!servable(&creds(None, now + m(60), now + m(30)), now));
    }

    #[test]
    fn forgetting_a_grant_drops_its_sessions_only_and_logout_drops_the_servers() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let write = |name: &str, server: &str, grant: &str| {
            let c = Cached {
                server: server.into(),
                resource: "aws:x".into(),
                credentials: creds(Some(grant), now, now),
            };
            std::fs::write(dir.path().join(name), serde_json::to_vec(&c).unwrap()).unwrap();
        };
        write("aws-1.json", "https://a", "g1");
        write("aws-2.json", "https://a", "g2");
        write("aws-3.json", "https://b", "g1");
        assert_eq!(forget_in(dir.path(), "https://a", Some("g1")).unwrap(), 1);
        assert!(!dir.path().join("aws-1.json").exists());
        assert!(dir.path().join("aws-2.json").exists() && dir.path().join("aws-3.json").exists());
        assert_eq!(forget_in(dir.path(), "https://a", None).unwrap(), 1);
        assert!(
            dir.path().join("aws-3.json").exists(),
            "another server's stays"
        );
    }
}
