//! OpenSSH user certificates inside grants. The caller sends a public key; the broker
//! checks it, fills the certificate from the role (principals for this user, extensions,
//! critical options), draws a serial by recording the certificate, signs it with the CA,
//! and hands it out through the same re-check of grant, session and locks as every other
//! credential. A certificate lives at most the role's `max_validity` and never past its
//! grant; one whose grant ends early is named in the revocation list (`ssh_krl`) until it
//! would have expired anyway.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::adapters::providers::ssh::{self, CertSpec};
use crate::app::error::ServiceError;
use crate::app::issuance::Minted;
use crate::app::services::Credentials;
pub use crate::app::ssh_refusal::SshRefusal;
use crate::model::audit::{AuditEvent, EventKind, Origin};
use crate::model::domain::Principal;
use crate::model::duration;
use crate::model::policy::ssh::{source_address_for, SshRole};
use crate::model::policy::{Kind, Resource};
pub use crate::model::wire::SshCertificate;
use crate::store::{Issuance, NewCert};

/// How far back a certificate's validity starts, for clocks a little behind the broker's.
pub const BACKDATE: Duration = Duration::from_secs(120);
/// The shortest certificate worth issuing.
const MIN_VALIDITY: Duration = Duration::from_secs(60);

impl Credentials {
    /// A certificate for `public_key` inside the caller's active grant on `resource`,
    /// living `ttl` (default: as long as the role and the grant allow).
    pub async fn issue_ssh(
        &self,
        p: &Principal,
        resource: &str,
        public_key: &str,
        ttl: Option<Duration>,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<SshCertificate, ServiceError> {
        let began = Instant::now();
        let r = self.served(resource, Kind::Ssh)?;
        // One writer transaction reads the grant and records the certificate (drawing its
        // serial): a signing costs two transactions, this and the hand-out's re-check.
        let mut tx = self.core.store.begin().await?;
        let Some(grant) = tx.active_grant(&p.user_id, resource, now).await? else {
            drop(tx);
            return Err(self.no_grant(p, &r, origin, now).await?);
        };
        let role = ssh_settings(&r, &grant.role)?;
        let key = ssh::user_key(public_key).map_err(SshRefusal::from)?;
        let principals = role
            .principals_for(p.email.as_deref(), &p.subject)
            .map_err(SshRefusal::from)?;
        let login = role
            .login_for(p.email.as_deref(), &p.subject)
            .map_err(SshRefusal::from)?;
        let grant_end = grant.expires_at.unwrap_or(now);
        let valid_before = validity_end(&role, ttl, now, grant_end)?;
        let valid_after = now - chrono::Duration::from_std(BACKDATE).unwrap_or_default();
        let mut options: Vec<(&str, String)> = Vec::new();
        if let Some(c) = &role.force_command {
            options.push(("force-command", c.clone()));
        }
        if let Some(s) =
            source_address_for(&role, caller_ip(origin)).map_err(|_| SshRefusal::CallerUnknown)?
        {
            options.push(("source-address", s));
        }
        let signer = self
            .ssh_ca
            .signer()
            .ok_or_else(|| SshRefusal::Sign("the CA has no signing key".into()))?;
        let key_id = format!(
            "latchkey:{}:{}#{}:grant:{}",
            p.policy_name(),
            r.name,
            grant.role,
            grant.id
        );
        let serial = tx
            .ssh_cert_insert(
                &NewCert {
                    request_id: &grant.id,
                    user_id: &p.user_id,
                    ca: &signer.fingerprint,
                    key_id: &key_id,
                    key_fingerprint: &key.fingerprint,
                    principals: &principals,
                    valid_after,
                    valid_before,
                },
                now,
            )
            .await?;
        tx.commit().await?;
        let spec = CertSpec {
            serial,
            key_id: &key_id,
            principals: &principals,
            valid_after: secs(valid_after),
            valid_before: secs(valid_before),
            critical_options: &options,
            extensions: &role.extensions,
        };
        let certificate =
            ssh::sign(&signer.private, &key, &spec).map_err(|e| SshRefusal::Sign(e.to_string()))?;
        let identifiers = json!({ "kind": "ssh", "serial": serial, "key_id": key_id,
            "fingerprint": key.fingerprint, "principals": principals, "ca": signer.fingerprint });
        let mut details = identifiers.clone();
        details["valid_after"] = json!(valid_after);
        details["valid_before"] = json!(valid_before);
        details["expires_at"] = json!(valid_before);
        details["extensions"] = json!(role.extensions);
        details["critical_options"] = json!(options.iter().cloned().collect::<BTreeMap<_, _>>());
        let minted = Minted {
            issuance: Issuance {
                id: crate::model::random::uuid_v4()?.to_string(),
                request_id: grant.id.clone(),
                kind: "ssh",
                fingerprint: key.fingerprint.clone(),
                issued_at: now,
                expires_at: valid_before,
            },
            issued: AuditEvent::new(EventKind::CredentialIssued, &p.user_id, origin, now)?
                .about(&grant.id, &r.name, &grant.role)
                .details(details),
            identifiers,
            made_login: None,
        };
        self.hand_out_to(p, &r, &grant, minted, origin, (now, began))
            .await?;
        let host = r.ssh.clone();
        Ok(SshCertificate {
            certificate,
            serial,
            key_id,
            principals,
            login,
            valid_after,
            valid_before,
            key_fingerprint: key.fingerprint,
            ca_fingerprint: signer.fingerprint,
            extensions: role.extensions.clone(),
            critical_options: options
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            host: host.as_ref().map(|h| h.host.clone()),
            port: host.as_ref().map(|h| h.port),
            host_key: host.and_then(|h| h.host_key),
            grant_id: grant.id,
            role: grant.role,
        })
    }
}

/// The role's SSH settings (the catalogue requires them on every ssh role).
fn ssh_settings(r: &Resource, role: &str) -> Result<SshRole, ServiceError> {
    r.roles
        .get(role)
        .and_then(|x| x.ssh.clone())
        .ok_or_else(|| ServiceError::NotFound(format!("{}#{role} has no SSH settings", r.name)))
}

/// When the certificate ends: what was asked, else the role's longest, and never past the
/// grant. Asking for more than that is refused rather than cut short unseen.
fn validity_end(
    role: &SshRole,
    ttl: Option<Duration>,
    now: DateTime<Utc>,
    grant_end: DateTime<Utc>,
) -> Result<DateTime<Utc>, ServiceError> {
    let left = (grant_end - now).to_std().unwrap_or_default();
    let allowed = left.min(role.max_validity);
    let want = match ttl {
        Some(t) if t > allowed => {
            return Err(SshRefusal::TooLong {
                asked: duration::format(t),
                allowed: duration::format(allowed),
            }
            .into())
        }
        // A certificate shorter than a minute is one no one manages to use.
        Some(t) => t.max(MIN_VALIDITY).min(allowed),
        None => allowed,
    };
    Ok(now + chrono::Duration::from_std(want).unwrap_or_default())
}

/// The caller's address as the edge recorded it (`IP` or `IP:PORT`).
fn caller_ip(origin: &Origin) -> Option<IpAddr> {
    let a = origin.client.addr.as_deref()?;
    a.parse::<IpAddr>()
        .ok()
        .or_else(|| a.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

fn secs(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp()).unwrap_or(0)
}
