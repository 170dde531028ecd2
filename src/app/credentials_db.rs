//! PostgreSQL logins inside grants. A grant's login is made when its first credential is
//! asked for (recorded first, so a crash between making and handing out leaves a record
//! the worker ends), reused for the rest of the grant (the password is derived, never
//! stored), and lives no longer than the grant: `VALID UNTIL` is its end, and the worker in
//! [`crate::app::db_logins`] ends the login the moment the grant ends. Every credential is
//! handed out through the same re-check of grant, session and locks as every other.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::adapters::providers::postgres::LoginSpec;
use crate::adapters::providers::{fingerprint, scram};
use crate::app::error::ServiceError;
use crate::app::issuance::{MadeLogin, Minted};
use crate::app::services::Credentials;
use crate::model::access::AccessRequest;
use crate::model::audit::{AuditEvent, EventKind, Origin};
use crate::model::domain::{to_ms, Principal};
use crate::model::policy::db::{login_name, DbRole};
use crate::model::policy::{Kind, Resource};
pub use crate::model::wire::DbCredentials;
use crate::store::{Issuance, NewLogin};

/// How long a maker holds a login it is making: well past the longest the making can take
/// (a connection within 5 s, then one query bounded by a 10 s statement_timeout). A login
/// whose maker died is ended once this has passed.
pub const MAKING_LEASE: Duration = Duration::from_secs(30);
/// How long a second caller waits for a login another call is making.
const WAIT_FOR_MAKER: Duration = Duration::from_secs(20);

impl Credentials {
    /// A login for `resource` inside the caller's active grant: the grant's login, made
    /// now if it has none. A failure makes nothing (the database rolls it back), issues
    /// nothing and is audited as `credential.failed`.
    pub async fn issue_db(
        &self,
        p: &Principal,
        resource: &str,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<DbCredentials, ServiceError> {
        let began = Instant::now();
        let (r, grant) = self.live_grant(p, resource, Kind::Db, origin, now).await?;
        let role = db_settings(&r, &grant)?;
        let grant_end = grant.expires_at.unwrap_or(now);
        let (login, made) = match self.login_for(p, &r, &grant, &role, origin, now).await {
            Ok(l) => l,
            Err(e) => {
                self.audit_failed(p, &r, &grant, &e, origin, now).await?;
                return Err(e);
            }
        };
        let password = self.login_key.password(&role.connection.target, &login);
        let print = fingerprint(password.expose());
        let issued = AuditEvent::new(EventKind::CredentialIssued, &p.user_id, origin, now)?
            .about(&grant.id, &r.name, &grant.role)
            .details(json!({ "kind": "db", "login": login, "target": role.connection.target,
                "groups": role.groups, "fingerprint": print, "expires_at": grant_end, "created": made.is_some() }));
        let minted = Minted {
            issuance: Issuance {
                id: crate::model::random::uuid_v4()?.to_string(),
                request_id: grant.id.clone(),
                kind: "db",
                fingerprint: print.clone(),
                issued_at: now,
                expires_at: grant_end,
            },
            issued,
            identifiers: json!({ "kind": "db", "login": login, "target": role.connection.target, "fingerprint": print }),
            made_login: made,
        };
        let created = minted.made_login.is_some();
        if let Err(e) = self
            .hand_out_to(p, &r, &grant, minted, origin, (now, began))
            .await
        {
            // The grant may have ended meanwhile: its login ends now, not at the next poll.
            self.core.logins_due.notify_one();
            return Err(e);
        }
        let c = &role.connection;
        Ok(DbCredentials {
            host: c.host.clone(),
            port: c.port,
            database: c.database.clone(),
            user: login,
            password: password.expose().to_string(),
            sslmode: c.sslmode.clone(),
            groups: role.groups.clone(),
            expires_at: grant_end,
            grant_id: grant.id,
            role: grant.role,
            created,
        })
    }

    /// The grant's login, made now if it has none: then also its record and
    /// `db.login_created`, which the hand-out commits with the issuance. One caller makes
    /// it; a concurrent one waits for it.
    async fn login_for(
        &self,
        p: &Principal,
        r: &Resource,
        grant: &AccessRequest,
        role: &DbRole,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<(String, Option<MadeLogin>), ServiceError> {
        let grant_end = grant.expires_at.unwrap_or(now);
        let conn = &role.connection;
        let waited = Instant::now();
        let mut taken = 0;
        loop {
            let mut tx = self.core.store.begin().await?;
            let open = tx.db_login_open(&grant.id).await?;
            if let Some(l) = open {
                tx.commit().await?;
                if l.state == "live" {
                    if l.valid_until < to_ms(grant_end) {
                        // Extended since it was made: new logins stay possible to the new end.
                        self.postgres
                            .set_valid_until(conn, &l.login, grant_end)
                            .await?;
                        let mut tx = self.core.store.begin().await?;
                        tx.db_login_valid_until(l.id, grant_end).await?;
                        tx.commit().await?;
                    }
                    return Ok((l.login, None));
                }
                if waited.elapsed() > WAIT_FOR_MAKER {
                    return Err(ServiceError::DbLoginBusy(grant.id.clone()));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            let incarnation = tx.db_login_count(&grant.id).await? + 1 + taken;
            let name = login_name(
                p.policy_name(),
                &grant.id,
                u32::try_from(incarnation).unwrap_or(u32::MAX),
            );
            let lease = now + chrono::Duration::from_std(MAKING_LEASE).unwrap_or_default();
            let new = NewLogin {
                request_id: &grant.id,
                user_id: &p.user_id,
                resource: &r.name,
                role: &grant.role,
                target: &conn.target,
                login: &name,
                incarnation,
                valid_until: grant_end,
                lease_until: lease,
            };
            let Some(id) = tx.db_login_insert(&new, now).await? else {
                // Another call records it first (then we wait for it), or the name is
                // another grant's (then the next incarnation's name).
                let theirs = tx.db_login_open(&grant.id).await?.is_some();
                tx.commit().await?;
                if !theirs {
                    taken += 1;
                }
                continue;
            };
            tx.commit().await?;
            let verifier = scram::verifier(&self.login_key.password(&conn.target, &name))?;
            let spec = LoginSpec {
                name: &name,
                verifier: &verifier,
                valid_until: grant_end,
                role,
            };
            if let Err(e) = self.postgres.ensure_login(conn, &spec).await {
                let mut tx = self.core.store.begin().await?;
                tx.db_login_forget(id).await?;
                tx.commit().await?;
                return Err(e.into());
            }
            let created = AuditEvent::new(EventKind::DbLoginCreated, &p.user_id, origin, now)?
                .about(&grant.id, &r.name, &grant.role)
                .details(
                    json!({ "login": name, "target": conn.target, "groups": role.groups,
                    "valid_until": grant_end, "connection_limit": role.connection_limit,
                    "incarnation": incarnation, "verifier": "SCRAM-SHA-256" }),
                );
            return Ok((
                name,
                Some(MadeLogin {
                    id,
                    valid_until: grant_end,
                    created,
                }),
            ));
        }
    }

    /// `credential.failed` for a login that could not be made or reused.
    async fn audit_failed(
        &self,
        p: &Principal,
        r: &Resource,
        grant: &AccessRequest,
        e: &ServiceError,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        let (code, sqlstate) = match e {
            ServiceError::Db(d) => (d.code(), d.sqlstate().map(str::to_string)),
            other => (other.refusal().1, None),
        };
        let event = AuditEvent::new(EventKind::CredentialFailed, &p.user_id, origin, now)?
            .about(&grant.id, &r.name, &grant.role)
            .outcome("failure", Some(e.to_string()))
            .details(json!({ "kind": "db", "code": code, "sqlstate": sqlstate }));
        let mut tx = self.core.store.begin().await?;
        tx.append_audit(&event).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The database settings of the grant's role in the catalogue.
fn db_settings(r: &Resource, grant: &AccessRequest) -> Result<DbRole, ServiceError> {
    r.roles
        .get(&grant.role)
        .and_then(|role| role.db.clone())
        .ok_or_else(|| {
            ServiceError::NotFound(format!(
                "{}#{} has no database settings in the catalogue",
                r.name, grant.role
            ))
        })
}
