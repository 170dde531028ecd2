//! PostgreSQL logins made for grants: recorded (`creating`, with a lease) before they are
//! made on their database, `live` once made, and ended by the worker when their grant is no
//! longer live (`dropped`, or `disabled` when the role owns objects). The end of a grant's
//! logins is queued in the transaction that ends the grant or locks its user; the worker's
//! due list also reads the grants and locks themselves, so an end is never missed.

use chrono::{DateTime, Utc};

use crate::model::domain::to_ms;
use crate::store::error::StoreError;
use crate::store::statement::sql;
use crate::store::tx::Tx;

/// A login as recorded.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DbLoginRow {
    /// Id.
    pub id: i64,
    /// The grant.
    pub request_id: String,
    /// Its requester.
    pub user_id: String,
    /// Resource.
    pub resource: String,
    /// Role.
    pub role: String,
    /// `host:port/database`.
    pub target: String,
    /// The login's name.
    pub login: String,
    /// Which login of the grant.
    pub incarnation: i64,
    /// `creating`, `live`, `dropped`, `disabled`.
    pub state: String,
    /// VALID UNTIL on the server (ms).
    pub valid_until: i64,
    /// Recorded at (ms).
    pub created_at: i64,
    /// Held until (ms).
    pub lease_until: Option<i64>,
    /// Why it must end, if queued.
    pub end_cause: Option<String>,
    /// When its end was queued (ms).
    pub end_queued_at: Option<i64>,
    /// Failed attempts to end it.
    pub attempts: i64,
    /// A failure to end it is already audited.
    pub failure_reported: bool,
}

/// A login due to end, with its grant as it stands.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueLogin {
    /// The login.
    #[sqlx(flatten)]
    pub login: DbLoginRow,
    /// The grant's state.
    pub grant_state: String,
    /// The grant's end (ms).
    pub grant_end: Option<i64>,
    /// Its requester is locked.
    pub locked: bool,
}

/// A login to record before it is made.
pub struct NewLogin<'a> {
    /// The grant.
    pub request_id: &'a str,
    /// Its requester.
    pub user_id: &'a str,
    /// Resource.
    pub resource: &'a str,
    /// Role.
    pub role: &'a str,
    /// `host:port/database`.
    pub target: &'a str,
    /// The name.
    pub login: &'a str,
    /// Which login of the grant.
    pub incarnation: i64,
    /// VALID UNTIL.
    pub valid_until: DateTime<Utc>,
    /// Held until.
    pub lease_until: DateTime<Utc>,
}

const COLUMNS: &str = "l.id, l.request_id, l.user_id, l.resource, l.role, l.target, l.login, l.incarnation, l.state,
    l.valid_until, l.created_at, l.lease_until, l.end_cause, l.end_queued_at, l.attempts, l.failure_reported";

/// A login's requester is locked (by user id, subject or email).
const LOCKED: &str = "EXISTS (SELECT 1 FROM user_locks k JOIN users u
    ON k.identifier = u.id OR k.identifier = u.subject OR k.identifier = LOWER(u.email) WHERE u.id = l.user_id)";

impl Tx {
    /// The grant's login being made or live.
    pub async fn db_login_open(
        &mut self,
        request_id: &str,
    ) -> Result<Option<DbLoginRow>, StoreError> {
        sql(format!(
            "SELECT {COLUMNS} FROM db_logins l WHERE l.request_id = $1 AND l.state IN ('creating', 'live')"
        ))
        .bind(request_id)
        .fetch_optional(self)
        .await
    }

    /// How many logins the grant has had.
    pub async fn db_login_count(&mut self, request_id: &str) -> Result<i64, StoreError> {
        let (n,): (i64,) = sql("SELECT COUNT(*) FROM db_logins WHERE request_id = $1")
            .bind(request_id)
            .fetch_one(self)
            .await?;
        Ok(n)
    }

    /// Records a login about to be made, held by its maker until `lease_until`; `None` if
    /// the grant already has one being made or live, or the name is taken.
    pub async fn db_login_insert(
        &mut self,
        l: &NewLogin<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let id: Option<(i64,)> = sql(
            "INSERT INTO db_logins (request_id, user_id, resource, role, target, login, incarnation, state, valid_until, created_at, lease_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'creating', $8, $9, $10)
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(l.request_id)
        .bind(l.user_id)
        .bind(l.resource)
        .bind(l.role)
        .bind(l.target)
        .bind(l.login)
        .bind(l.incarnation)
        .bind(to_ms(l.valid_until))
        .bind(to_ms(now))
        .bind(to_ms(l.lease_until))
        .fetch_optional(self)
        .await?;
        Ok(id.map(|(id,)| id))
    }

    /// A login its maker made: live, released. False if it was no longer held by the
    /// maker (it took longer than its lease and the worker ended it).
    pub async fn db_login_made(
        &mut self,
        id: i64,
        valid_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = sql(
            "UPDATE db_logins SET state = 'live', lease_until = NULL, valid_until = $2
                     WHERE id = $1 AND state = 'creating' AND lease_until > $3",
        )
        .bind(id)
        .bind(to_ms(valid_until))
        .bind(to_ms(now))
        .execute(self)
        .await?;
        Ok(n == 1)
    }

    /// Forgets a login whose making failed (its database rolled it back).
    pub async fn db_login_forget(&mut self, id: i64) -> Result<(), StoreError> {
        sql("DELETE FROM db_logins WHERE id = $1 AND state = 'creating'")
            .bind(id)
            .execute(self)
            .await?;
        Ok(())
    }

    /// Records a live login's new VALID UNTIL.
    pub async fn db_login_valid_until(
        &mut self,
        id: i64,
        valid_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sql("UPDATE db_logins SET valid_until = $2 WHERE id = $1 AND valid_until < $2")
            .bind(id)
            .bind(to_ms(valid_until))
            .execute(self)
            .await?;
        Ok(())
    }

    /// Queues the end of a grant's logins (in the transaction that ends the grant).
    pub async fn db_logins_end_grant(
        &mut self,
        request_id: &str,
        cause: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        sql("UPDATE db_logins SET end_cause = COALESCE(end_cause, $2), end_queued_at = COALESCE(end_queued_at, $3), next_at = 0
             WHERE request_id = $1 AND state IN ('creating', 'live')")
        .bind(request_id)
        .bind(cause)
        .bind(to_ms(now))
        .execute(self)
        .await
    }

    /// Queues the end of every login of the users a lock names (in the lock's transaction).
    pub async fn db_logins_end_locked(
        &mut self,
        identifier: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        sql("UPDATE db_logins SET end_cause = COALESCE(end_cause, 'user.locked'), end_queued_at = COALESCE(end_queued_at, $2), next_at = 0
             WHERE state IN ('creating', 'live') AND user_id IN
               (SELECT id FROM users WHERE id = $1 OR subject = $1 OR LOWER(email) = LOWER($1))")
        .bind(identifier)
        .bind(to_ms(now))
        .execute(self)
        .await
    }

    /// Logins due to end at `now` and not held: queued, or whose grant is no longer live
    /// or whose requester is locked, or whose making was abandoned (its lease ran out).
    pub async fn db_logins_due(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<DueLogin>, StoreError> {
        sql(format!(
            "SELECT {COLUMNS}, a.state AS grant_state, a.expires_at AS grant_end, {LOCKED} AS locked
             FROM db_logins l LEFT JOIN access_requests a ON a.id = l.request_id
             WHERE l.state IN ('creating', 'live') AND l.next_at <= $1
               AND (l.lease_until IS NULL OR l.lease_until <= $1)
               AND (l.state = 'creating' OR l.end_queued_at IS NOT NULL OR a.state IS NULL OR a.state <> 'active'
                    OR a.expires_at IS NULL OR a.expires_at <= $1 OR {LOCKED})
             ORDER BY l.id LIMIT $2"
        ))
        .bind(to_ms(now))
        .bind(limit)
        .fetch_all(self)
        .await
    }

    /// Live logins whose grant was extended past their VALID UNTIL, with the new end.
    pub async fn db_logins_behind(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<(DbLoginRow, i64)>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Behind {
            #[sqlx(flatten)]
            login: DbLoginRow,
            grant_end: i64,
        }
        let rows: Vec<Behind> = sql(format!(
            "SELECT {COLUMNS}, a.expires_at AS grant_end
             FROM db_logins l JOIN access_requests a ON a.id = l.request_id
             WHERE l.state = 'live' AND l.end_queued_at IS NULL AND l.lease_until IS NULL AND a.state = 'active'
               AND a.expires_at > l.valid_until AND a.expires_at > $1
             ORDER BY l.id LIMIT $2"
        ))
        .bind(to_ms(now))
        .bind(limit)
        .fetch_all(self)
        .await?;
        Ok(rows.into_iter().map(|b| (b.login, b.grant_end)).collect())
    }

    /// Takes a login for ending until `until`; false if someone holds it.
    pub async fn db_login_claim(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = sql("UPDATE db_logins SET lease_until = $3
                     WHERE id = $1 AND state IN ('creating', 'live') AND (lease_until IS NULL OR lease_until <= $2)")
        .bind(id)
        .bind(to_ms(now))
        .bind(to_ms(until))
        .execute(self)
        .await?;
        Ok(n == 1)
    }

    /// Records how a login ended (`dropped` or `disabled`).
    pub async fn db_login_ended(
        &mut self,
        id: i64,
        state: &str,
        cause: &str,
        terminated: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sql("UPDATE db_logins SET state = $2, end_cause = COALESCE(end_cause, $3), ended_at = $4, lease_until = NULL,
                terminated = terminated + $5, last_error = NULL WHERE id = $1")
        .bind(id)
        .bind(state)
        .bind(cause)
        .bind(to_ms(now))
        .bind(i64::try_from(terminated).unwrap_or(i64::MAX))
        .execute(self)
        .await?;
        Ok(())
    }

    /// Releases a login whose end failed, due again at `next_at`.
    pub async fn db_login_retry(
        &mut self,
        id: i64,
        next_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        sql("UPDATE db_logins SET lease_until = NULL, attempts = attempts + 1, failure_reported = TRUE,
                next_at = $2, last_error = $3 WHERE id = $1")
        .bind(id)
        .bind(to_ms(next_at))
        .bind(error)
        .execute(self)
        .await?;
        Ok(())
    }

    /// Every login name recorded on a target, with its state.
    pub async fn db_logins_on(
        &mut self,
        target: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        sql("SELECT login, state FROM db_logins WHERE target = $1")
            .bind(target)
            .fetch_all(self)
            .await
    }

    /// A login ended before (dropped) that is back on its server (a restore from backup,
    /// a drop that did not hold): due to end again.
    pub async fn db_login_reopen(&mut self, target: &str, login: &str) -> Result<(), StoreError> {
        sql("UPDATE db_logins SET state = 'live', next_at = 0, end_cause = COALESCE(end_cause, 'found_again'),
                end_queued_at = COALESCE(end_queued_at, 0)
             WHERE target = $1 AND login = $2 AND state = 'dropped'
               AND NOT EXISTS (SELECT 1 FROM db_logins o WHERE o.request_id = db_logins.request_id AND o.state IN ('creating', 'live'))")
        .bind(target)
        .bind(login)
        .execute(self)
        .await?;
        Ok(())
    }
}
