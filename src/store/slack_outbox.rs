//! Slack's outbox of posts and updates to send, and the messages announcing requests.

use chrono::{DateTime, Utc};

use crate::model::domain::to_ms;
use crate::store::error::StoreError;
use crate::store::statement::sql;
use crate::store::tx::Tx;

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
        sql("INSERT INTO slack_outbox (dedupe, request_id, kind, gen, attempts, next_at, created_at)
             VALUES ($1, $2, $3, 0, 0, $4, $4)
             ON CONFLICT (dedupe) DO UPDATE SET gen = slack_outbox.gen + 1, next_at = $4")
        .bind(dedupe)
        .bind(request_id)
        .bind(kind)
        .bind(to_ms(now))
        .execute(self)
        .await?;
        Ok(())
    }

    /// Outbox rows due at `now` and held by no sender, oldest first.
    pub async fn slack_due(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        sql("SELECT id, dedupe, request_id, kind, gen, attempts, next_at, created_at FROM slack_outbox
             WHERE next_at <= $1 AND (leased_until IS NULL OR leased_until <= $1)
             ORDER BY id LIMIT $2")
        .bind(to_ms(now))
        .bind(limit)
        .fetch_all(self)
        .await
    }

    /// Takes a row due at `now` for sending until `until`; false if another sender holds
    /// it. An enqueue while it is held makes it due again but leaves it with its sender:
    /// with several replicas, a second one must not post the same message meanwhile.
    pub async fn slack_claim(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let taken = sql("UPDATE slack_outbox SET leased_until = $3
             WHERE id = $1 AND next_at <= $2 AND (leased_until IS NULL OR leased_until <= $2)")
        .bind(id)
        .bind(to_ms(now))
        .bind(to_ms(until))
        .execute(self)
        .await?;
        Ok(taken == 1)
    }

    /// Removes a sent row unless it was enqueued again meanwhile (then it is released, to
    /// be sent again).
    pub async fn slack_sent(&mut self, id: i64, gen: i64) -> Result<bool, StoreError> {
        let removed = sql("DELETE FROM slack_outbox WHERE id = $1 AND gen = $2")
            .bind(id)
            .bind(gen)
            .execute(self)
            .await?;
        if removed == 0 {
            sql("UPDATE slack_outbox SET leased_until = NULL WHERE id = $1")
                .bind(id)
                .execute(self)
                .await?;
        }
        Ok(removed == 1)
    }

    /// Records a failed attempt and when to try again.
    pub async fn slack_retry(
        &mut self,
        id: i64,
        gen: i64,
        next_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        // A row enqueued again meanwhile (gen moved) is due now anyway; keep its next_at.
        sql(
            "UPDATE slack_outbox SET attempts = attempts + 1, last_error = $4, leased_until = NULL,
                next_at = CASE WHEN gen = $2 THEN $3 ELSE next_at END WHERE id = $1",
        )
        .bind(id)
        .bind(gen)
        .bind(to_ms(next_at))
        .bind(error)
        .execute(self)
        .await?;
        Ok(())
    }

    /// Removes a row that can never be sent.
    pub async fn slack_drop(&mut self, id: i64) -> Result<(), StoreError> {
        sql("DELETE FROM slack_outbox WHERE id = $1")
            .bind(id)
            .execute(self)
            .await?;
        Ok(())
    }

    /// Marks a request as announced in Slack.
    pub async fn slack_announce(
        &mut self,
        request_id: &str,
        first_request: bool,
    ) -> Result<(), StoreError> {
        sql(
            "INSERT INTO slack_messages (request_id, first_request) VALUES ($1, $2)
             ON CONFLICT (request_id) DO NOTHING",
        )
        .bind(request_id)
        .bind(first_request)
        .execute(self)
        .await?;
        Ok(())
    }

    /// The Slack message of a request, if it was announced.
    pub async fn slack_message(
        &mut self,
        request_id: &str,
    ) -> Result<Option<SlackMessage>, StoreError> {
        sql("SELECT request_id, first_request, channel, ts FROM slack_messages WHERE request_id = $1")
            .bind(request_id)
            .fetch_optional(self)
            .await
    }

    /// Where the announcement was posted.
    pub async fn slack_message_posted(
        &mut self,
        request_id: &str,
        channel: &str,
        ts: &str,
    ) -> Result<(), StoreError> {
        sql("UPDATE slack_messages SET channel = $2, ts = $3 WHERE request_id = $1")
            .bind(request_id)
            .bind(channel)
            .bind(ts)
            .execute(self)
            .await?;
        Ok(())
    }
}
