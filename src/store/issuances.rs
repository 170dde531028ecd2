//! Credentials issued inside a grant, recorded by fingerprint (never the secret).

use chrono::{DateTime, Utc};

use crate::model::domain::to_ms;
use crate::store::error::StoreError;
use crate::store::statement::sql;
use crate::store::tx::Tx;

/// A credential issued inside a grant, as stored: never the secret.
#[derive(Debug, Clone)]
pub struct Issuance {
    /// Id.
    pub id: String,
    /// The grant.
    pub request_id: String,
    /// Provider kind.
    pub kind: &'static str,
    /// SHA-256 of the secret, hex, shortened.
    pub fingerprint: String,
    /// When.
    pub issued_at: DateTime<Utc>,
    /// Until.
    pub expires_at: DateTime<Utc>,
}

impl Tx {
    /// Records a credential issued inside grant `request_id` (fingerprint only).
    pub async fn insert_issuance(&mut self, i: &Issuance) -> Result<(), StoreError> {
        sql("INSERT INTO credential_issuances (id, request_id, kind, fingerprint, issued_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&i.id)
        .bind(&i.request_id)
        .bind(i.kind)
        .bind(&i.fingerprint)
        .bind(to_ms(i.issued_at))
        .bind(to_ms(i.expires_at))
        .execute(self)
        .await?;
        Ok(())
    }
}
