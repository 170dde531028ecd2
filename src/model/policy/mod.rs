//! The policy: a resource catalogue and casbin rules, loaded from one directory,
//! reloaded on SIGHUP or file change, and answering every question with its reasons.
//!
//! - [`action`]: what a policy line allows or denies (`request`, `review`, …).
//! - [`aws`]: the AWS settings of a role, checked against AWS's limits at load.
//! - [`catalogue`]: resources, roles, clocks and thresholds (`catalogue.toml`).
//! - [`db`]: the PostgreSQL settings of a role and its logins' names, checked at load.
//! - [`rules`]: casbin model and lines (`model.conf`, `policy.csv`).
//! - [`decide`]: a request's decision and who may review it, with the explanation.
//! - [`forms`]: what a role expects of a reason or ticket, in words.
//! - [`review`]: who may review a role, and whether one person may review one request now.
//! - [`lint`]: `latchkey policy check`.
//! - [`permit`]: proof of a decision, which the writes that act for a person take.
//! - [`upstream`]: the upstream of an `http` resource, checked at load.
//! - [`table`]: `latchkey policy test`, table tests kept next to the policy.

pub mod action;
pub mod aws;
pub mod catalogue;
pub mod db;
pub mod decide;
pub mod forms;
pub mod kind;
pub mod lint;
pub mod permit;
pub mod review;
pub mod rules;
pub mod ssh;
pub mod subject;
pub mod table;
pub mod upstream;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use chrono::{DateTime, Utc};

pub use catalogue::{Catalogue, Kind, Resource, Role, UpstreamAuth};
pub use rules::{Action, RuleOutcome, Rules};

/// Why a policy directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file is missing or unreadable.
    #[error("policy file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The catalogue is invalid.
    #[error(transparent)]
    Catalogue(#[from] catalogue::CatalogueError),
    /// The rules are invalid.
    #[error(transparent)]
    Rules(#[from] rules::RulesError),
}

/// A loaded, validated policy.
#[derive(Debug)]
pub struct Policy {
    /// Resources and roles.
    pub catalogue: Catalogue,
    /// casbin rules.
    pub rules: Rules,
    /// SHA-256 over the three files, hex: what was in force.
    pub hash: String,
    /// When it was loaded.
    pub loaded_at: DateTime<Utc>,
}

const FILES: [&str; 3] = ["catalogue.toml", "model.conf", "policy.csv"];

fn read(dir: &Path, name: &str) -> Result<String, PolicyError> {
    let path = dir.join(name);
    std::fs::read_to_string(&path).map_err(|source| PolicyError::Read { path, source })
}

impl Policy {
    /// Loads `catalogue.toml`, `model.conf` and `policy.csv` from `dir`.
    pub async fn load(dir: &Path) -> Result<Self, PolicyError> {
        let texts: Vec<String> = FILES
            .iter()
            .map(|f| read(dir, f))
            .collect::<Result<_, _>>()?;
        Self::from_texts(&texts[0], &texts[1], &texts[2]).await
    }

    /// Builds a policy from the files' contents.
    pub async fn from_texts(
        catalogue: &str,
        model: &str,
        policy_csv: &str,
    ) -> Result<Self, PolicyError> {
        let catalogue_parsed = Catalogue::parse(catalogue)?;
        let rules = Rules::load(model, policy_csv).await?;
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for t in [catalogue, model, policy_csv] {
            ctx.update(&(t.len() as u64).to_be_bytes());
            ctx.update(t.as_bytes());
        }
        let hash = hex::encode(ctx.finish());
        Ok(Policy {
            catalogue: catalogue_parsed,
            rules,
            hash,
            loaded_at: Utc::now(),
        })
    }

    /// Asks the rules about `action` on `resource#role` (or a broker-wide object).
    pub fn check(
        &self,
        user: &str,
        groups: &[String],
        object: &str,
        action: Action,
    ) -> RuleOutcome {
        self.rules.check(user, groups, object, action)
    }
}

/// The policy in force, swapped atomically on reload.
#[derive(Clone)]
pub struct PolicyHandle {
    dir: PathBuf,
    current: Arc<RwLock<Arc<Policy>>>,
    /// Applied to every load: the development server's move of an upstream.
    moved: Option<upstream::UpstreamMove>,
}

impl PolicyHandle {
    /// Loads the policy in `dir`; start-up fails if it is broken.
    pub async fn load(dir: &Path) -> Result<Self, PolicyError> {
        Self::load_moving(dir, None).await
    }

    /// Loads the policy in `dir` with `moved` applied to its catalogue, now and at every
    /// reload (the files' hash stays theirs: the move is the server's, not the policy's).
    pub async fn load_moving(
        dir: &Path,
        moved: Option<upstream::UpstreamMove>,
    ) -> Result<Self, PolicyError> {
        let policy = load_moved(dir, moved.as_ref()).await?;
        Ok(Self {
            dir: dir.to_path_buf(),
            current: Arc::new(RwLock::new(Arc::new(policy))),
            moved,
        })
    }

    /// The resources whose upstream the server moved, and where to.
    pub fn moved_upstreams(&self) -> Option<(Vec<String>, &upstream::UpstreamMove)> {
        let m = self.moved.as_ref()?;
        let names = self
            .current()
            .catalogue
            .resources
            .values()
            .filter(|r| r.upstream.as_ref().is_some_and(|u| u.authority() == &m.to))
            .map(|r| r.name.clone())
            .collect();
        Some((names, m))
    }

    /// The policy in force.
    pub fn current(&self) -> Arc<Policy> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The policy directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads the directory again. A broken policy is refused and the previous one stays;
    /// returns the new policy if its content changed.
    pub async fn reload(&self) -> Result<Option<Arc<Policy>>, PolicyError> {
        let policy = load_moved(&self.dir, self.moved.as_ref()).await?;
        if policy.hash == self.current().hash {
            return Ok(None);
        }
        let policy = Arc::new(policy);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = policy.clone();
        Ok(Some(policy))
    }

    /// Who last changed the policy files, as far as the file system tells: the owner of
    /// the most recently modified file (a deploy user, or a person), with every file's
    /// owner and modification time. Recorded with each policy load in the audit log.
    pub fn provenance(&self) -> serde_json::Value {
        use std::os::unix::fs::MetadataExt;
        let mut files = Vec::new();
        let mut newest: Option<(SystemTime, String)> = None;
        for f in FILES {
            let Ok(meta) = std::fs::metadata(self.dir.join(f)) else {
                continue;
            };
            let owner = user_name(meta.uid());
            let modified = meta.modified().ok();
            if let Some(m) = modified {
                if newest.as_ref().is_none_or(|(t, _)| m > *t) {
                    newest = Some((m, owner.clone()));
                }
            }
            let at = modified
                .map(|m| crate::model::audit::format_at(chrono::DateTime::<chrono::Utc>::from(m)));
            files.push(format!(
                "{f} (owner {owner}, modified {})",
                at.unwrap_or_default()
            ));
        }
        serde_json::json!({
            "changed_by": newest.map(|(_, o)| o),
            "files": files.join("; "),
        })
    }

    /// Latest modification time of the policy files, to notice edits.
    pub fn modified(&self) -> Option<SystemTime> {
        FILES
            .iter()
            .filter_map(|f| {
                std::fs::metadata(self.dir.join(f))
                    .and_then(|m| m.modified())
                    .ok()
            })
            .max()
    }
}

/// The policy in `dir` with `moved` applied to its catalogue.
async fn load_moved(
    dir: &Path,
    moved: Option<&upstream::UpstreamMove>,
) -> Result<Policy, PolicyError> {
    let mut policy = Policy::load(dir).await?;
    if let Some(m) = moved {
        policy.catalogue.move_upstreams(m);
    }
    Ok(policy)
}

/// The user name of `uid` from `/etc/passwd`, else `uid N`.
fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let id: u32 = fields.nth(1)?.parse().ok()?;
                (id == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_example_policy_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let policy = Policy::load(&dir).await.unwrap();
        assert!(policy.catalogue.resources.contains_key("aws:prod"));
        assert!(policy
            .catalogue
            .resources
            .contains_key("stream:live-events"));
        assert_eq!(policy.hash.len(), 64);
    }

    #[tokio::test]
    async fn a_broken_reload_keeps_the_previous_policy() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let dir = tempfile::tempdir().unwrap();
        for f in FILES {
            std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
        }
        let handle = PolicyHandle::load(dir.path()).await.unwrap();
        let before = handle.current().hash.clone();
        std::fs::write(
            dir.path().join("policy.csv"),
            "p, group:eng, *, fly, allow\n",
        )
        .unwrap();
        let err = handle.reload().await.unwrap_err();
        assert!(err.to_string().contains("fly"), "{err}");
        assert_eq!(handle.current().hash, before);
        std::fs::write(
            dir.path().join("policy.csv"),
            "p, group:eng, *, request, allow\n",
        )
        .unwrap();
        assert!(handle.reload().await.unwrap().is_some());
        assert_ne!(handle.current().hash, before);
        assert!(
            handle.reload().await.unwrap().is_none(),
            "unchanged content is not a reload"
        );
    }
}
