//! What kind of refusal each service error is: its [`Class`] and stable code. The HTTP
//! status of a class is chosen in `http::error`, nowhere else.

use crate::adapters::auth::session::SessionTokenError;
use crate::app::error::ServiceError;
use crate::model::refusal::Class;

impl ServiceError {
    /// The class and stable code of this error.
    pub fn refusal(&self) -> (Class, &'static str) {
        use ServiceError as E;
        match self {
            E::IdToken(inner) => match inner {
                crate::adapters::auth::oidc::IdTokenError::ProviderUnavailable(_) => {
                    (Class::UpstreamFailed, inner.code())
                }
                _ => (Class::Unauthenticated, inner.code()),
            },
            E::IdTokenReplayed => (Class::Unauthenticated, "id_token_replayed"),
            E::LoginAttemptInvalid => (Class::Unauthenticated, "login_attempt_invalid"),
            E::NoProvider => (Class::NotFound, "no_identity_provider"),
            E::DevLoginDisabled => (Class::Forbidden, "dev_login_disabled"),
            E::UserLocked => (Class::Forbidden, "user_locked"),
            E::Unauthenticated(SessionTokenError::Expired) => {
                (Class::Unauthenticated, "session_expired")
            }
            E::Unauthenticated(_) => (Class::Unauthenticated, "invalid_session_token"),
            E::SessionRevoked => (Class::Unauthenticated, "session_revoked"),
            E::DevSessionRefused => (Class::Unauthenticated, "dev_session_refused"),
            E::TooManyPendingLogins => (Class::TooMany, "too_many_pending_logins"),
            E::Forbidden(_) => (Class::Forbidden, "forbidden"),
            E::BadRequest(_) => (Class::Invalid, "bad_request"),
            E::NotFound(_) => (Class::NotFound, "not_found"),
            E::AmbiguousRequestId { .. } => (Class::Invalid, "ambiguous_request_id"),
            E::RequestIdTooShort(_) => (Class::Invalid, "request_id_too_short"),
            E::ViewAllForbidden => (Class::Forbidden, "view_all_forbidden"),
            E::Store(s) if s.audit_broken() => (Class::Unavailable, "audit_chain_broken"),
            E::Store(crate::store::StoreError::AuditLog(_)) => {
                (Class::Unavailable, "audit_unavailable")
            }
            E::Random(_) => (Class::Internal, "random_unavailable"),
            E::Store(_) | E::Key(_) | E::Sign(_) | E::Export(_) => (Class::Internal, "internal"),
            E::Refused(d) => {
                let code = d.code.unwrap_or("not_allowed");
                let class = match code {
                    "unknown_resource" | "unknown_role" => Class::NotFound,
                    "reason_required" | "reason_mismatch" | "ticket_required"
                    | "ticket_mismatch" | "duration_too_long" => Class::Invalid,
                    _ => Class::Forbidden,
                };
                (class, code)
            }
            E::ReviewRefused(r) => (Class::Forbidden, r.code),
            E::Lifecycle(r) => (r.class(), r.code()),
            E::Conflict => (Class::Conflict, "conflict"),
            E::NoActiveGrant { .. } => (Class::Forbidden, "no_active_grant"),
            E::GrantEndingSoon { .. } => (Class::Conflict, "grant_ending_soon"),
            E::Db(d) => {
                use crate::adapters::providers::postgres::PgError as P;
                let class = match d {
                    P::Unreachable { .. } => Class::Unavailable,
                    _ => Class::UpstreamFailed,
                };
                (class, d.code())
            }
            E::DbLoginBusy(_) => (Class::Unavailable, "db_login_busy"),
            E::Ssh(s) => {
                use crate::app::ssh_refusal::SshRefusal as S;
                let class = match s {
                    S::Sign(_) => Class::Internal,
                    _ => Class::Invalid,
                };
                (class, s.code())
            }
            E::Aws(a) => {
                use crate::adapters::providers::aws::AwsError as A;
                let class = match a {
                    A::Throttled | A::Unavailable(_) => Class::Unavailable,
                    _ => Class::UpstreamFailed,
                };
                (class, a.code())
            }
        }
    }
}
