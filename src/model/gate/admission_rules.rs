//! Who may pass the gate: a bearer credential (a session token, or a broker token for the
//! resource's audience) whose human holds an active grant on the resource and is not
//! locked. Admissions are remembered for a while ([`crate::app::gate::cache`]).

use chrono::{DateTime, Utc};
use http::HeaderValue;

use crate::model::access::{AccessRequest, State};
use crate::model::policy::upstream::Upstream;
use crate::model::policy::{Kind, Resource, UpstreamAuth};
use crate::model::refusal::Class;

/// A principal admitted to a resource inside a grant.
#[derive(Debug, Clone)]
pub struct Admission {
    /// User id.
    pub user_id: String,
    /// Identifiers a lock may name: user id, subject, email.
    pub user_keys: Vec<String>,
    /// Email.
    pub email: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// The session the credential belongs to, when it is a session token.
    pub session_id: Option<String>,
    /// The grant.
    pub grant_id: String,
    /// The role.
    pub role: String,
    /// The resource.
    pub resource: String,
    /// When the grant ends.
    pub grant_ends: DateTime<Utc>,
    /// Where requests go.
    pub upstream: Upstream,
    /// When the identity assertion (in [`Prepared`]) expires.
    pub assertion_expires: DateTime<Utc>,
    /// When the credential it was made for ends: the broker token's `exp` (without the
    /// verifier's leeway) or the session's expiry. A remembered admission ends then.
    pub credential_ends: DateTime<Utc>,
    /// The header values every proxied request carries, made once per admission.
    pub headers: Prepared,
}

/// Header values of an admission, checked once so that each request copies them.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// `X-Latchkey-Assertion`.
    pub assertion: HeaderValue,
    /// `Authorization` for the upstream, when the resource wants one (livestream);
    /// marked sensitive.
    pub authorization: Option<HeaderValue>,
    /// `X-Latchkey-Grant` on the answer.
    pub grant: HeaderValue,
}

impl Prepared {
    /// The values for an assertion, an upstream bearer token and a grant id.
    pub fn new(assertion: &str, bearer: Option<&str>, grant: &str) -> Result<Self, String> {
        let value = |what: &str, v: &str| {
            HeaderValue::from_str(v).map_err(|_| format!("the {what} is not header text"))
        };
        let authorization = match bearer {
            Some(b) => {
                let mut v = value("upstream token", &format!("Bearer {b}"))?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        Ok(Self {
            assertion: value("assertion", assertion)?,
            authorization,
            grant: value("grant id", grant)?,
        })
    }
}

/// Why the gate refused, with the class and stable code the API answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateRefusal {
    /// Unauthenticated, forbidden, not found, invalid or unavailable.
    pub class: Class,
    /// Stable code.
    pub code: &'static str,
    /// For people.
    pub message: String,
}

impl GateRefusal {
    /// A refusal.
    pub fn new(class: Class, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            class,
            code,
            message: message.into(),
        }
    }

    /// Forbidden: a grant that is not (or no longer) active.
    pub fn no_grant(resource: &str, latest: Option<&AccessRequest>, now: DateTime<Utc>) -> Self {
        let hint = format!("request one: latchkey request {resource} --reason \"…\"");
        let ran_out = latest.is_some_and(|g| {
            g.state == State::Expired
                || (g.state == State::Active && g.expires_at.is_none_or(|e| e <= now))
        });
        match latest.map(|g| g.state) {
            _ if ran_out => Self::new(
                Class::Forbidden,
                "grant_expired",
                format!("your grant on {resource} has expired; {hint}"),
            ),
            Some(State::Revoked) => Self::new(
                Class::Forbidden,
                "grant_revoked",
                format!("your grant on {resource} was revoked; {hint}"),
            ),
            _ => Self::new(
                Class::Forbidden,
                "no_active_grant",
                format!("you have no active grant for {resource}; {hint}"),
            ),
        }
    }
}

/// The gated resource named `name`, or why it cannot be passed.
pub fn gated(resource: Option<&Resource>, name: &str) -> Result<(Resource, Upstream), GateRefusal> {
    let r = resource.ok_or_else(|| {
        GateRefusal::new(
            Class::NotFound,
            "unknown_resource",
            format!("there is no resource {name:?}"),
        )
    })?;
    match (&r.kind, &r.upstream) {
        (Kind::Http, Some(u)) => Ok((r.clone(), u.clone())),
        _ => Err(GateRefusal::new(
            Class::Invalid,
            "not_gated",
            format!("{name} is not an http resource; the gate serves http resources only"),
        )),
    }
}

/// Whether the gate must mint a livestream token for this resource.
pub fn wants_livestream(r: &Resource) -> bool {
    r.upstream_auth == UpstreamAuth::Livestream
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepared_headers_mark_the_upstream_token_sensitive_and_refuse_non_header_text() {
        let p = Prepared::new("a.b.c", Some("tok"), "grant-1").unwrap();
        let auth = p.authorization.unwrap();
        assert!(auth.is_sensitive());
        assert_eq!(auth, "Bearer tok");
        assert!(Prepared::new("a\nb", None, "g").is_err());
    }
}
