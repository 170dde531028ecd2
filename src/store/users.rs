//! Reading users back: by id or email (Slack bindings), by a lock identifier (AWS
//! denies), and as the gate passes them upstream. Users are written at login
//! ([`Tx::upsert_user`]).

use crate::store::error::StoreError;
use crate::store::sessions::parse_groups;
use crate::store::statement::sql;
use crate::store::tx::Tx;

/// A latchkey user as stored at their last login, with whether a lock names them.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// User id.
    pub id: String,
    /// Issuer (`dev` for the development login).
    pub issuer: String,
    /// Subject.
    pub subject: String,
    /// Verified email.
    pub email: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Groups at the last login.
    pub groups: Vec<String>,
    /// A lock names this user.
    pub locked: bool,
}

/// A user as the gate passes them upstream.
#[derive(Debug, Clone)]
pub struct UserProfile {
    /// Subject at the provider.
    pub subject: String,
    /// Verified email.
    pub email: Option<String>,
    /// Groups at the last login.
    pub groups: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    issuer: String,
    subject: String,
    email: Option<String>,
    name: Option<String>,
    groups_json: String,
    locked: bool,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        Ok(UserRecord {
            groups: parse_groups(&r.groups_json)?,
            id: r.id,
            issuer: r.issuer,
            subject: r.subject,
            email: r.email,
            name: r.name,
            locked: r.locked,
        })
    }
}

const USER_COLUMNS: &str = "u.id, u.issuer, u.subject, u.email, u.name, u.groups_json,
    EXISTS (SELECT 1 FROM user_locks l WHERE l.identifier IN (u.id, u.subject, u.email)) AS locked";

impl Tx {
    /// A user by id.
    pub async fn user_by_id(&mut self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = sql(format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
        ))
        .bind(id)
        .fetch_optional(self)
        .await?;
        row.map(UserRecord::try_from).transpose()
    }

    /// Users whose verified email is `email` (case-insensitive).
    pub async fn users_by_email(&mut self, email: &str) -> Result<Vec<UserRecord>, StoreError> {
        let rows: Vec<UserRow> = sql(format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE lower(u.email) = lower($1)"
        ))
        .bind(email)
        .fetch_all(self)
        .await?;
        rows.into_iter().map(UserRecord::try_from).collect()
    }

    /// Users a lock identifier names: `(user id, email)`.
    pub async fn users_named(
        &mut self,
        identifier: &str,
    ) -> Result<Vec<(String, Option<String>)>, StoreError> {
        sql("SELECT id, email FROM users WHERE id = $1 OR subject = $1 OR LOWER(email) = LOWER($1)")
            .bind(identifier)
            .fetch_all(self)
            .await
    }

    /// A user's subject, email and groups.
    pub async fn user_profile(&mut self, user_id: &str) -> Result<Option<UserProfile>, StoreError> {
        let row: Option<(String, Option<String>, String)> =
            sql("SELECT subject, email, groups_json FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(self)
                .await?;
        row.map(|(subject, email, groups)| {
            Ok(UserProfile {
                subject,
                email,
                groups: parse_groups(&groups)?,
            })
        })
        .transpose()
    }
}
