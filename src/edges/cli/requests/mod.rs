//! The access verbs: `resources`, `request`, `requests`, `show`, `approve`, `deny`,
//! `activate`, `extend`, `cancel`, `revoke`, `breakglass`, `token`: each parses its
//! arguments ([`args`]), makes one call and prints ([`text`]); asking for access and
//! waiting for the decision is [`asking`]; the request a verb means without an id is
//! [`implied`]. An id may be a unique prefix: the broker resolves it.

mod args;
mod asking;
mod implied;
mod text;

use serde_json::{json, Value};

use crate::edges::cli::client::ApiClient;
use crate::edges::cli::error::CliError;
use crate::edges::cli::output::Output;
use crate::model::access::AccessRequest;
use crate::model::wire::RequestView;
use crate::model::wire::ResourceView;

pub use self::args::{AccessCommand, RequestArgs};
use self::asking::create;
use self::implied::{id_or_implied, Meant};
use self::text::{line, list_text, print, resources_text, show_text};
use crate::edges::cli::client::urlencode;
use crate::model::access::State;

/// Runs an access verb.
pub async fn run(api: &ApiClient, output: Output, command: AccessCommand) -> Result<(), CliError> {
    match command {
        AccessCommand::Resources => resources(api, output).await,
        AccessCommand::Request(a) => {
            let body = json!({"resource": a.resource, "role": a.role, "duration": a.duration, "reason": a.reason, "ticket": a.ticket});
            create(api, output, body, a.wait).await
        }
        AccessCommand::Breakglass {
            resource,
            role,
            reason,
            duration,
        } => {
            let body = json!({"resource": resource, "role": role, "duration": duration, "reason": reason, "breakglass": true});
            create(api, output, body, false).await
        }
        AccessCommand::Requests {
            to_review,
            all,
            user,
            resource,
            state,
            active,
            ..
        } => {
            let query = if all {
                let mut q = vec!["view=all".to_string()];
                for (k, v) in [("user", user), ("resource", resource), ("state", state)] {
                    if let Some(v) = v {
                        q.push(format!("{k}={}", urlencode(&v)));
                    }
                }
                if active {
                    q.push("active=true".into());
                }
                q.join("&")
            } else if to_review {
                "view=to_review".into()
            } else {
                "view=mine".into()
            };
            requests(api, output, &query).await
        }
        AccessCommand::Show { id } => {
            let id = id_or_implied(api, id, "show", Meant::Newest).await?;
            let v: RequestView = api.get(&format!("/v1/requests/{}", urlencode(&id))).await?;
            print(output, &v, show_text(&v))
        }
        AccessCommand::Approve { id, comment } => {
            let id = id_or_implied(api, id, "approve", Meant::ToReview).await?;
            review(api, output, &id, "approve", comment).await
        }
        AccessCommand::Deny { id, reason } => {
            let id = id_or_implied(api, id, "deny", Meant::ToReview).await?;
            review(api, output, &id, "deny", Some(reason)).await
        }
        AccessCommand::Activate { id } => {
            let meant = Meant::Mine(&[State::Approved], "approved request");
            let id = id_or_implied(api, id, "activate", meant).await?;
            one(api, output, &id, "activate", json!({})).await
        }
        AccessCommand::Extend { id, duration } => {
            let meant = Meant::Mine(&[State::Active], "active grant");
            let id = id_or_implied(api, id, "extend", meant).await?;
            one(api, output, &id, "extend", json!({"duration": duration})).await
        }
        AccessCommand::Cancel { id } => {
            let meant = Meant::Mine(
                &[State::Pending, State::Approved],
                "pending or approved request",
            );
            let id = id_or_implied(api, id, "cancel", meant).await?;
            one(api, output, &id, "cancel", json!({})).await
        }
        AccessCommand::Revoke { id } => {
            let meant = Meant::Mine(&[State::Active], "active grant");
            let id = id_or_implied(api, id, "revoke", meant).await?;
            revoke(api, output, &id).await
        }
        AccessCommand::Token { resource, ttl } => token(api, output, &resource, ttl).await,
    }
}

/// `resources`: what one may request.
async fn resources(api: &ApiClient, output: Output) -> Result<(), CliError> {
    let list: Vec<ResourceView> = api.get("/v1/resources").await?;
    print(output, &list, resources_text(&list))
}

/// `requests`: one's own, those waiting for one's review (`--to-review`), or every
/// request one may see (`--all`, filtered), each with its short id.
async fn requests(api: &ApiClient, output: Output, query: &str) -> Result<(), CliError> {
    let list: Vec<AccessRequest> = api.get(&format!("/v1/requests?{query}")).await?;
    print(output, &list, list_text(&list))
}

/// `approve` or `deny` (`verdict`), with its comment.
async fn review(
    api: &ApiClient,
    output: Output,
    id: &str,
    verdict: &str,
    comment: Option<String>,
) -> Result<(), CliError> {
    let v: RequestView = api
        .post(
            &format!("/v1/requests/{}/{verdict}", urlencode(id)),
            &json!({"comment": comment}),
        )
        .await?;
    print(output, &v, show_text(&v))
}

/// `revoke`: ends the grant, and this machine stops serving its cached AWS sessions.
async fn revoke(api: &ApiClient, output: Output, id: &str) -> Result<(), CliError> {
    let r: AccessRequest = api
        .post(
            &format!("/v1/requests/{}/revoke", urlencode(id)),
            &json!({}),
        )
        .await?;
    // Its sessions are denied at AWS; this machine stops serving them at once.
    crate::edges::cli::aws_cache::forget(api.server(), Some(&r.id))?;
    print(output, &r, line(&r))
}

/// `token`: a broker token for a resource one holds an active grant on.
async fn token(
    api: &ApiClient,
    output: Output,
    resource: &str,
    ttl: Option<String>,
) -> Result<(), CliError> {
    let t: crate::app::IssuedToken = api
        .post(
            "/v1/credentials/token",
            &json!({"resource": resource, "ttl": ttl}),
        )
        .await?;
    // Text output is the token alone, for `$(latchkey token …)`.
    print(output, &t, t.token.clone())
}

/// A verb that changes one request and answers it (`activate`, `extend`, `cancel`).
async fn one(
    api: &ApiClient,
    output: Output,
    id: &str,
    verb: &str,
    body: Value,
) -> Result<(), CliError> {
    let path = format!("/v1/requests/{}/{verb}", urlencode(id));
    let r: AccessRequest = api.post(&path, &body).await?;
    print(output, &r, line(&r))
}
