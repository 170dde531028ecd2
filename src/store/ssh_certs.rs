//! OpenSSH certificates, recorded before they are signed (the row draws the serial), and
//! the revocation list's source: every certificate still within its validity whose grant
//! is no longer active or whose user is locked.

use chrono::{DateTime, Utc};

use crate::model::domain::to_ms;
use crate::store::error::StoreError;
use crate::store::statement::sql;
use crate::store::tx::Tx;

/// A certificate about to be signed.
pub struct NewCert<'a> {
    /// The grant.
    pub request_id: &'a str,
    /// Its requester.
    pub user_id: &'a str,
    /// The signing CA's fingerprint.
    pub ca: &'a str,
    /// The certificate's key id.
    pub key_id: &'a str,
    /// The certified key's fingerprint.
    pub key_fingerprint: &'a str,
    /// Its principals.
    pub principals: &'a [String],
    /// Valid from.
    pub valid_after: DateTime<Utc>,
    /// Valid until.
    pub valid_before: DateTime<Utc>,
}

/// A certificate the revocation list names.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RevokedCert {
    /// Its serial.
    pub serial: i64,
    /// The CA that signed it.
    pub ca: String,
    /// Its key id.
    pub key_id: String,
}

/// The certificate's user is locked (by user id, subject or email). Uncorrelated, so the
/// database finds the locked users once, not once per certificate.
const LOCKED: &str = "c.user_id IN (SELECT u.id FROM user_locks k JOIN users u
    ON k.identifier = u.id OR k.identifier = u.subject OR k.identifier = LOWER(u.email))";

impl Tx {
    /// Records a certificate about to be signed and returns its serial: never zero, never
    /// drawn twice.
    pub async fn ssh_cert_insert(
        &mut self,
        c: &NewCert<'_>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let (serial,): (i64,) = sql(
            "INSERT INTO ssh_certs (request_id, user_id, ca, key_id, key_fingerprint, principals, valid_after, valid_before, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING serial",
        )
        .bind(c.request_id)
        .bind(c.user_id)
        .bind(c.ca)
        .bind(c.key_id)
        .bind(c.key_fingerprint)
        .bind(c.principals.join(","))
        .bind(to_ms(c.valid_after))
        .bind(to_ms(c.valid_before))
        .bind(to_ms(now))
        .fetch_one(self)
        .await?;
        u64::try_from(serial)
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| StoreError::Corrupt(format!("ssh_certs drew serial {serial}")))
    }

    /// Every certificate still valid at `now` whose grant is no longer active, or whose
    /// user is locked, in serial order.
    pub async fn ssh_certs_revoked(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<Vec<RevokedCert>, StoreError> {
        sql(format!(
            "SELECT c.serial, c.ca, c.key_id FROM ssh_certs c
             JOIN access_requests r ON r.id = c.request_id
             WHERE c.valid_before > $1 AND (r.state <> 'active' OR {LOCKED})
             ORDER BY c.serial"
        ))
        .bind(to_ms(now))
        .fetch_all(self)
        .await
    }
}
