//! Finding requests: a typed id resolved to the one request it means (a whole id, or a
//! unique prefix among the requests the caller may see), and the view of every request
//! (`view=all`) for those the policy lets see more than their own.
//!
//! Neither answers anything about a request the caller may not see: a prefix that
//! matches only others' requests is "no such request", and such requests are never
//! counted among the candidates of an ambiguous prefix.

use crate::app::error::ServiceError;
use crate::app::services::Access;
use crate::model::access::ids::{parse, IdQuery, MIN_PREFIX};
use crate::model::access::AccessRequest;
use crate::model::access::RequestFilter;
use crate::model::domain::Principal;
use crate::model::policy::{decide, Action};
use crate::model::wire::RequestCandidate;

/// How many requests a prefix may match before the others are not looked at; a prefix
/// of six hex digits matches one in sixteen million ids.
const PREFIX_MATCHES: i64 = 200;

/// The most requests `view=all` answers, newest first.
const ALL_LIMIT: i64 = 500;

/// Who sees what in `view=all`.
enum Sight {
    /// Administrators and audit readers: every request.
    Everything,
    /// Reviewers: the requests they may review (and their own).
    Reviewable,
}

impl Access {
    /// The whole id `typed` means for `p`: a whole id as it is (its operation then finds it
    /// or not, and checks who may act), or the one request `p` may see whose id starts
    /// with the prefix. Several: 400 `ambiguous_request_id` with the candidates.
    pub async fn resolve(&self, p: &Principal, typed: &str) -> Result<String, ServiceError> {
        let hex = match parse(typed) {
            IdQuery::Exact(id) => return Ok(id),
            IdQuery::TooShort => return Err(ServiceError::RequestIdTooShort(MIN_PREFIX)),
            IdQuery::Prefix(hex) => hex,
        };
        let mut tx = self.core.store.begin_read().await?;
        let matches = tx.requests_by_prefix(&hex, PREFIX_MATCHES).await?;
        tx.commit().await?;
        let mut visible: Vec<AccessRequest> =
            matches.into_iter().filter(|r| self.may_see(p, r)).collect();
        match visible.len() {
            0 => Err(ServiceError::NotFound(format!("no request {typed}"))),
            1 => Ok(visible.remove(0).id),
            _ => Err(ServiceError::AmbiguousRequestId {
                typed: typed.to_string(),
                candidates: RequestCandidate::list(&visible),
            }),
        }
    }

    /// Every request matching `filter` that `p` may see: administrators and audit
    /// readers see all, reviewers those they may review; anyone else is refused
    /// (403 `view_all_forbidden`), having only their own (`view=mine`).
    pub async fn list_all(
        &self,
        p: &Principal,
        filter: &RequestFilter<'_>,
    ) -> Result<Vec<AccessRequest>, ServiceError> {
        let sight = self.sight(p).ok_or(ServiceError::ViewAllForbidden)?;
        let mut tx = self.core.store.begin_read().await?;
        let found = tx.find_requests(filter, ALL_LIMIT).await?;
        tx.commit().await?;
        Ok(match sight {
            Sight::Everything => found,
            Sight::Reviewable => found.into_iter().filter(|r| self.may_see(p, r)).collect(),
        })
    }

    /// What `p` sees in `view=all`, or `None` for someone who may see only their own.
    fn sight(&self, p: &Principal) -> Option<Sight> {
        let policy = self.core.policy.current();
        let name = p.policy_name();
        if self.core.is_admin(p)
            || policy
                .check(name, &p.groups, "audit", Action::AuditRead)
                .allowed
        {
            return Some(Sight::Everything);
        }
        let reviews_something = policy.catalogue.resources.values().any(|r| {
            r.roles.values().any(|role| {
                policy
                    .check(
                        name,
                        &p.groups,
                        &decide::object(&r.name, &role.name),
                        Action::Review,
                    )
                    .allowed
            })
        });
        reviews_something.then_some(Sight::Reviewable)
    }
}
