//! [`Tx`] operations for Slack: the outbox, announced messages, bindings, link codes,
//! handled clicks, and the users a binding resolves to.

use chrono::{DateTime, Utc};

use super::{StoreError, Tx};

/// A pending Slack post or update.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    /// Id.
    pub id: i64,
    /// `message:REQUEST` or `dm:REQUEST:STATE`.
    pub dedupe: String,
    /// The request it is about.
    pub request_id: String,
    /// `message` (post or update the channel message) or `dm` (tell the requester).
    pub kind: String,
    /// Bumped by every enqueue.
    pub gen: i64,
    /// Failed attempts so far.
    pub attempts: i64,
    /// Due at (ms).
    pub next_at: i64,
    /// First enqueued at (ms).
    pub created_at: i64,
}

/// A request announced in Slack.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SlackMessage {
    /// The request.
    pub request_id: String,
    /// The requester's first request for this resource.
    pub first_request: bool,
    /// Channel, once posted.
    pub channel: Option<String>,
    /// Message timestamp, once posted.
    pub ts: Option<String>,
}

/// A pending fresh-login confirmation of a Slack review.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Confirmation {
    /// Id (in the link shown to the reviewer).
    pub id: String,
    /// OAuth `state` of the authorization request.
    pub state: String,
    /// The request.
    pub request_id: String,
    /// `approve` or `deny`.
    pub verdict: String,
    /// Who clicked.
    pub slack_user_id: String,
    /// The latchkey user that Slack user is bound to; the login must be theirs.
    pub user_id: String,
    /// Nonce the ID token must carry.
    pub nonce: String,
    /// PKCE code verifier.
    pub pkce_verifier: String,
    /// Until (ms).
    pub expires_at: i64,
}

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

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
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
        let groups = serde_json::from_str(&r.groups_json)
            .map_err(|e| StoreError::Corrupt(format!("users.groups_json: {e}")))?;
        Ok(UserRecord {
            id: r.id,
            issuer: r.issuer,
            subject: r.subject,
            email: r.email,
            name: r.name,
            groups,
            locked: r.locked,
        })
    }
}

impl Tx {
    /// Queues a Slack post or update; a pending row with the same `dedupe` is made due
    /// now and marked changed instead.
    pub async fn slack_enqueue(
        &mut self,
        dedupe: &str,
        request_id: &str,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, slack_enqueue(dedupe, request_id, kind, now))
    }

    /// Outbox rows due at `now`, oldest first.
    pub async fn slack_due(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        dispatch!(self, slack_due(now, limit))
    }

    /// Takes a row for sending until `until`; false if another worker took it or it changed.
    pub async fn slack_claim(
        &mut self,
        id: i64,
        seen_next_at: i64,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        dispatch!(self, slack_claim(id, seen_next_at, until))
    }

    /// Removes a sent row unless it was enqueued again meanwhile (then it is sent again).
    pub async fn slack_sent(&mut self, id: i64, gen: i64) -> Result<bool, StoreError> {
        dispatch!(self, slack_sent(id, gen))
    }

    /// Records a failed attempt and when to try again.
    pub async fn slack_retry(
        &mut self,
        id: i64,
        gen: i64,
        next_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        dispatch!(self, slack_retry(id, gen, next_at, error))
    }

    /// Removes a row that can never be sent.
    pub async fn slack_drop(&mut self, id: i64) -> Result<(), StoreError> {
        dispatch!(self, slack_drop(id))
    }

    /// Marks a request as announced in Slack.
    pub async fn slack_announce(
        &mut self,
        request_id: &str,
        first_request: bool,
    ) -> Result<(), StoreError> {
        dispatch!(self, slack_announce(request_id, first_request))
    }

    /// The Slack message of a request, if it was announced.
    pub async fn slack_message(
        &mut self,
        request_id: &str,
    ) -> Result<Option<SlackMessage>, StoreError> {
        dispatch!(self, slack_message(request_id))
    }

    /// Where the announcement was posted.
    pub async fn slack_message_posted(
        &mut self,
        request_id: &str,
        channel: &str,
        ts: &str,
    ) -> Result<(), StoreError> {
        dispatch!(self, slack_message_posted(request_id, channel, ts))
    }

    /// The latchkey user and binding method (`code`, `email`) of a Slack user.
    pub async fn slack_binding(
        &mut self,
        slack_user_id: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        dispatch!(self, slack_binding(slack_user_id))
    }

    /// The Slack user bound to a latchkey user (a code binding first).
    pub async fn slack_user_of(&mut self, user_id: &str) -> Result<Option<String>, StoreError> {
        dispatch!(self, slack_user_of(user_id))
    }

    /// Binds a Slack user to a latchkey user; true if the binding is new or changed.
    pub async fn slack_bind(
        &mut self,
        slack_user_id: &str,
        user_id: &str,
        method: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        dispatch!(self, slack_bind(slack_user_id, user_id, method, now))
    }

    /// Stores a link code's hash for `user_id` until `expires_at`.
    pub async fn slack_insert_link_code(
        &mut self,
        code_hash: &str,
        user_id: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, slack_insert_link_code(code_hash, user_id, expires_at))
    }

    /// Consumes a link code; the user it was issued to, if it existed and had not expired.
    pub async fn slack_take_link_code(
        &mut self,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        dispatch!(self, slack_take_link_code(code_hash, now))
    }

    /// Records an interaction as handled; false if it already was (a retry or double click).
    pub async fn slack_first_click(
        &mut self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        dispatch!(self, slack_first_click(key, now))
    }

    /// Stores a pending fresh-login confirmation.
    pub async fn slack_insert_confirmation(&mut self, f: &Confirmation) -> Result<(), StoreError> {
        dispatch!(self, slack_insert_confirmation(f))
    }

    /// A pending confirmation by id, unless expired.
    pub async fn slack_confirmation(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Confirmation>, StoreError> {
        dispatch!(self, slack_confirmation(id, now))
    }

    /// Consumes the confirmation with this OAuth `state`, unless expired.
    pub async fn slack_take_confirmation(
        &mut self,
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Confirmation>, StoreError> {
        dispatch!(self, slack_take_confirmation(state, now))
    }

    /// A user by id.
    pub async fn user_by_id(&mut self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        dispatch!(self, user_by_id(id))
    }

    /// Users whose verified email is `email` (case-insensitive).
    pub async fn users_by_email(&mut self, email: &str) -> Result<Vec<UserRecord>, StoreError> {
        dispatch!(self, users_by_email(email))
    }
}
