//! AWS sessions inside grants, through AssumeRole: as long as asked, the role allows and
//! the grant has left; tagged with the grant and the requester, so a revocation can deny
//! them at AWS (`aws_deny`). A failure issues nothing and is audited.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::adapters::providers::aws;
use crate::adapters::providers::aws::{AssumeRole, AwsCredentials};
use crate::adapters::providers::fingerprint;
use crate::app::error::ServiceError;
use crate::app::issuance::Minted;
use crate::app::services::Credentials;
use crate::model::access::AccessRequest;
use crate::model::audit::{AuditEvent, EventKind, Origin};
use crate::model::domain::Principal;
use crate::model::policy::aws::AwsRole;
use crate::model::policy::{Kind, Resource};
use crate::store::Issuance;

/// What may help a grant that ends before the shortest session: an extension the grant's
/// terms still allow and that reaches the minimum, else a new request. Never a command the
/// broker would refuse.
fn ending_soon_next(grant: &AccessRequest, left: Duration) -> String {
    let format = crate::model::duration::format;
    match grant.extension_left() {
        Some(by) if left + by >= aws::MIN_SESSION => format!(
            "extend it first: latchkey extend {} --for {}",
            grant.id,
            format(by)
        ),
        _ => format!(
            "it cannot be extended enough; request it again: latchkey request {} --role {}",
            grant.resource, grant.role
        ),
    }
}

impl Credentials {
    /// AWS credentials for `resource` inside the caller's active grant, through AssumeRole.
    /// A failure issues nothing and is audited as `credential.failed`.
    pub async fn issue_aws(
        &self,
        p: &Principal,
        resource: &str,
        asked: Option<Duration>,
        origin: &Origin,
        now: DateTime<Utc>,
    ) -> Result<AwsCredentials, ServiceError> {
        let began = Instant::now();
        let (r, grant) = self.live_grant(p, resource, Kind::Aws, origin, now).await?;
        let role = aws_settings(resource, &r, &grant)?;
        let left = (grant.expires_at.unwrap_or(now) - now)
            .to_std()
            .unwrap_or_default();
        let duration = aws::session_duration(asked, role.max_session, left).ok_or_else(|| {
            ServiceError::GrantEndingSoon {
                grant: grant.id.clone(),
                minimum: crate::model::duration::format(aws::MIN_SESSION),
                next: ending_soon_next(&grant, left),
            }
        })?;
        let call = assume_role_call(p, &grant, &role, duration);
        let event = |kind: EventKind| {
            AuditEvent::new(kind, &p.user_id, origin, now)
                .map(|e| e.about(&grant.id, &r.name, &grant.role))
        };
        let creds = match self.aws.assume_role(&call).await {
            Ok(c) => c,
            Err(e) => {
                let failed = event(EventKind::CredentialFailed)?.outcome("failure", Some(e.to_string())).details(serde_json::json!({ "kind": "aws", "code": e.code(), "role_arn": call.role_arn }));
                let mut tx = self.core.store.begin().await?;
                tx.append_audit(&failed).await?;
                tx.commit().await?;
                return Err(e.into());
            }
        };
        let minted = aws_minted(
            event(EventKind::CredentialIssued)?,
            &creds,
            &call,
            &grant,
            now,
        )?;
        self.hand_out_to(p, &r, &grant, minted, origin, (now, began))
            .await?;
        Ok(AwsCredentials {
            grant_id: Some(grant.id),
            grant_expires_at: grant.expires_at,
            region: role.region.clone().or(creds.region.clone()),
            ..creds
        })
    }
}

/// The AWS settings of the grant's role in the catalogue (`r`, the resource named `resource`).
fn aws_settings(
    resource: &str,
    r: &Resource,
    grant: &AccessRequest,
) -> Result<AwsRole, ServiceError> {
    r.roles
        .get(&grant.role)
        .and_then(|role| role.aws.clone())
        .ok_or_else(|| {
            ServiceError::NotFound(format!(
                "{resource}#{} has no AWS settings in the catalogue",
                grant.role
            ))
        })
}

/// The AssumeRole call for the grant: the requester as session name and source identity,
/// tags naming the grant, the requester and the ticket.
fn assume_role_call(
    p: &Principal,
    grant: &AccessRequest,
    role: &AwsRole,
    duration: Duration,
) -> AssumeRole {
    let name = p.policy_name();
    let mut tags = vec![
        ("latchkey:request".to_string(), aws::tag_value(&grant.id)),
        ("latchkey:requester".to_string(), aws::tag_value(name)),
    ];
    if let Some(t) = &grant.ticket {
        tags.push(("latchkey:ticket".to_string(), aws::tag_value(t)));
    }
    AssumeRole {
        role_arn: role.role_arn.clone(),
        session_name: aws::session_name(name),
        source_identity: aws::session_name(name),
        duration,
        policy: role.session_policy.clone(),
        policy_arns: role.policy_arns.clone(),
        external_id: role.external_id.clone(),
        tags,
    }
}

/// The issuance of an AWS session STS minted, with its `credential.issued` event (`issued`
/// gets the details) and the identifiers a discard would name. It never outlives the
/// grant, even if STS rounded up.
fn aws_minted(
    issued: AuditEvent,
    creds: &AwsCredentials,
    call: &AssumeRole,
    grant: &AccessRequest,
    now: DateTime<Utc>,
) -> Result<Minted, ServiceError> {
    let expires_at = creds.expiration.min(grant.expires_at.unwrap_or(now));
    let print = fingerprint(&creds.session_token);
    let issued = issued.details(serde_json::json!({
        "kind": "aws", "fingerprint": print, "access_key_id": creds.access_key_id, "role_arn": call.role_arn,
        "assumed_role_arn": creds.assumed_role_arn, "session_name": call.session_name,
        "duration_secs": call.duration.as_secs(), "expires_at": expires_at,
    }));
    Ok(Minted {
        issuance: Issuance {
            id: crate::model::random::uuid_v4()?.to_string(),
            request_id: grant.id.clone(),
            kind: "aws",
            fingerprint: print.clone(),
            issued_at: now,
            expires_at,
        },
        issued,
        // The session cannot be recalled: its tag names the grant, whose revocation
        // denies the grant's sessions at AWS.
        identifiers: serde_json::json!({ "kind": "aws", "fingerprint": print, "access_key_id": creds.access_key_id, "role_arn": call.role_arn }),
        made_login: None,
    })
}
