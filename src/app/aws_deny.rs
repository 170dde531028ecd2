//! AWS sessions end with their grant (rule 7). An STS session cannot be recalled, so when
//! a grant ends early (revoked while active) or its user is locked, the broker queues,
//! in the same transaction, a deny on the IAM role that matches those sessions; the
//! worker in [`crate::app::aws_deny_sync`] writes it to IAM, retrying until it holds, and
//! removes it once every session it covers has expired.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::adapters::providers::aws;
use crate::adapters::providers::aws::{MAX_SESSION, OPERATION_TIMEOUT};
use crate::app::core::Core;
use crate::model::access::AccessRequest;
use crate::model::audit::EventKind;
use crate::model::domain::{from_ms, Lock};
use crate::model::policy::aws::AwsRole;
use crate::model::policy::Kind;
use crate::store::{NewDeny, SessionGrant, StoreError, Tx};

/// The latest moment any session of a grant can still live at `now`: its latest recorded
/// session, or one that an AssumeRole in flight now could still mint (at most the role's
/// maximum from now, never past the grant's end, and the longest AWS call later).
pub fn session_bound(
    recorded: Option<DateTime<Utc>>,
    grant_end: Option<DateTime<Utc>>,
    role_max: Duration,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let longest = chrono::Duration::from_std(role_max.min(MAX_SESSION)).unwrap_or_default();
    let mut in_flight = now + longest;
    if let Some(end) = grant_end {
        in_flight = in_flight.min(end.max(now));
    }
    let in_flight = in_flight + chrono::Duration::from_std(OPERATION_TIMEOUT).unwrap_or_default();
    recorded.map_or(in_flight, |r| r.max(in_flight))
}

impl Core {
    /// The AWS settings of a resource's role, if it is an `aws` resource.
    fn aws_role_of(&self, resource: &str, role: &str) -> Option<AwsRole> {
        let policy = self.policy.current();
        let (r, role) = policy.catalogue.role(resource, role)?;
        if r.kind != Kind::Aws {
            return None;
        }
        role.aws.clone()
    }

    /// Queues, in the caller's transaction, the denial at AWS of every session of a grant
    /// that ends early. Nothing for grants of other kinds, nor for one without a live
    /// session: every session handed out is recorded before a revocation that sees the
    /// grant commits (the issuance holds the grant), and one minted but not handed out is
    /// denied by [`Core::deny_discarded_session`]. So a grant that never had an AWS
    /// session costs no call to IAM.
    pub(crate) async fn deny_grant_sessions(
        &self,
        tx: &mut Tx,
        r: &AccessRequest,
        cause: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let recorded = tx.aws_sessions_until(&r.id).await?;
        if recorded.is_none_or(|until| until <= now) {
            return Ok(());
        }
        self.queue_grant_deny(tx, r, recorded, cause, now).await
    }

    /// Queues the denial of a grant's sessions for one minted and then discarded: it was
    /// never recorded, so it is covered by the longest session the role allows.
    pub(crate) async fn deny_discarded_session(
        &self,
        tx: &mut Tx,
        r: &AccessRequest,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let recorded = tx.aws_sessions_until(&r.id).await?;
        self.queue_grant_deny(tx, r, recorded, "credential_discarded", now)
            .await
    }

    /// The deny entry of a grant's session tag, lasting until its sessions have expired.
    async fn queue_grant_deny(
        &self,
        tx: &mut Tx,
        r: &AccessRequest,
        recorded: Option<DateTime<Utc>>,
        cause: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(role) = self.aws_role_of(&r.resource, &r.role) else {
            return Ok(());
        };
        let until = session_bound(recorded, r.expires_at, role.max_session, now);
        // The value the session tag carries, exactly as issue_aws set it.
        let tag = aws::tag_value(&r.id);
        tx.aws_deny_enqueue(
            &NewDeny {
                role_arn: &role.role_arn,
                kind: "request",
                value: &tag,
                issued_before: None,
                lasts_until: until,
                subject: &r.id,
                resource: Some(&r.resource),
                role: Some(&r.role),
                cause,
            },
            now,
        )
        .await
    }

    /// Queues, in the lock's transaction, the denial at AWS of every session the locked
    /// user(s) may still hold, by SourceIdentity and issue time; returns how many entries.
    pub(crate) async fn deny_locked_sessions(
        &self,
        tx: &mut Tx,
        lock: &Lock,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let grants = tx.aws_session_grants(&lock.identifier, now).await?;
        if grants.is_empty() {
            return Ok(0);
        }
        // SourceIdentity is the human's name when the session was made: their email as
        // known now, and as it was when they asked for each grant.
        let known: BTreeSet<String> = tx
            .users_named(&lock.identifier)
            .await?
            .into_iter()
            .map(|(id, email)| aws::session_name(email.as_deref().unwrap_or(&id)))
            .collect();
        let roles = self.locked_roles(grants, &known, now);
        let mut queued = 0;
        for (role_arn, (until, identities)) in roles {
            for identity in identities {
                tx.aws_deny_enqueue(
                    &NewDeny {
                        role_arn: &role_arn,
                        kind: "identity",
                        value: &identity,
                        issued_before: Some(lock.locked_at),
                        lasts_until: until,
                        subject: &lock.identifier,
                        resource: None,
                        role: None,
                        cause: EventKind::UserLocked.as_str(),
                    },
                    now,
                )
                .await?;
                queued += 1;
            }
        }
        Ok(queued)
    }

    /// The roles on which a locked user may still hold sessions, through `grants`: for
    /// each, until when a deny must last, and the SourceIdentities to deny (`known`, and
    /// each grant's requester name as it asked).
    fn locked_roles(
        &self,
        grants: Vec<SessionGrant>,
        known: &BTreeSet<String>,
        now: DateTime<Utc>,
    ) -> BTreeMap<String, (DateTime<Utc>, BTreeSet<String>)> {
        let mut roles: BTreeMap<String, (DateTime<Utc>, BTreeSet<String>)> = BTreeMap::new();
        for g in grants {
            let Some(role) = self.aws_role_of(&g.resource, &g.role) else {
                continue;
            };
            let recorded = g.sessions_until.map(from_ms);
            // A grant without a live session has nothing to deny; one in flight when the
            // lock commits is discarded, and denied by the discard.
            if recorded.is_none_or(|until| until <= now) {
                continue;
            }
            let until = if g.state == "active" {
                session_bound(recorded, g.expires_at.map(from_ms), role.max_session, now)
            } else {
                recorded.unwrap_or(now)
            };
            let slot = roles
                .entry(role.role_arn)
                .or_insert_with(|| (until, known.clone()));
            slot.0 = slot.0.max(until);
            slot.1.insert(aws::session_name(&g.requester_name));
        }
        roles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deny_lasts_as_long_as_any_session_the_grant_could_still_have() {
        let now: DateTime<Utc> = "2026-12-02T04:00:00Z".parse().unwrap();
        let h = |n: i64| now + chrono::Duration::hours(n);
        let margin = chrono::Duration::from_std(OPERATION_TIMEOUT).unwrap();
        let hour = Duration::from_secs(3600);
        // Nothing recorded: what a call in flight could mint, within the role's maximum.
        assert_eq!(session_bound(None, Some(h(8)), hour, now), h(1) + margin);
        // Never past the grant's end.
        assert_eq!(
            session_bound(None, Some(now + chrono::Duration::minutes(20)), hour, now),
            now + chrono::Duration::minutes(20) + margin
        );
        // A recorded session that lives longer (the role's maximum was lowered since) wins.
        assert_eq!(session_bound(Some(h(3)), Some(h(8)), hour, now), h(3));
        // STS never gives more than 12 hours, whatever the catalogue says.
        assert_eq!(
            session_bound(None, None, Duration::from_secs(86_400), now),
            h(12) + margin
        );
    }
}
