//! The access verbs: `resources`, `request`, `requests`, `show`, `approve`, `deny`,
//! `activate`, `extend`, `cancel`, `revoke`, `breakglass`, `token`: each parses its
//! arguments ([`args`]), makes one call and prints ([`text`]); asking for access and
//! waiting for the decision is [`asking`].

mod args;
mod asking;
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
use self::text::{line, print, resources_text, show_text};

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
        AccessCommand::Requests { to_review, .. } => requests(api, output, to_review).await,
        AccessCommand::Show { id } => {
            let v: RequestView = api.get(&format!("/v1/requests/{id}")).await?;
            print(output, &v, show_text(&v))
        }
        AccessCommand::Approve { id, comment } => {
            review(api, output, &id, "approve", comment).await
        }
        AccessCommand::Deny { id, reason } => review(api, output, &id, "deny", Some(reason)).await,
        AccessCommand::Activate { id } => {
            one(
                api,
                output,
                &format!("/v1/requests/{id}/activate"),
                json!({}),
            )
            .await
        }
        AccessCommand::Extend { id, duration } => {
            one(
                api,
                output,
                &format!("/v1/requests/{id}/extend"),
                json!({"duration": duration}),
            )
            .await
        }
        AccessCommand::Cancel { id } => {
            one(api, output, &format!("/v1/requests/{id}/cancel"), json!({})).await
        }
        AccessCommand::Revoke { id } => revoke(api, output, &id).await,
        AccessCommand::Token { resource, ttl } => token(api, output, &resource, ttl).await,
    }
}

/// `resources`: what one may request.
async fn resources(api: &ApiClient, output: Output) -> Result<(), CliError> {
    let list: Vec<ResourceView> = api.get("/v1/resources").await?;
    print(output, &list, resources_text(&list))
}

/// `requests`: one's own, or (`--to-review`) those waiting for one's review.
async fn requests(api: &ApiClient, output: Output, to_review: bool) -> Result<(), CliError> {
    let view = if to_review { "to_review" } else { "mine" };
    let list: Vec<AccessRequest> = api.get(&format!("/v1/requests?view={view}")).await?;
    let text = if list.is_empty() {
        "no requests".to_string()
    } else {
        list.iter().map(line).collect::<Vec<_>>().join("\n")
    };
    print(output, &list, text)
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
            &format!("/v1/requests/{id}/{verdict}"),
            &json!({"comment": comment}),
        )
        .await?;
    print(output, &v, show_text(&v))
}

/// `revoke`: ends the grant, and this machine stops serving its cached AWS sessions.
async fn revoke(api: &ApiClient, output: Output, id: &str) -> Result<(), CliError> {
    let r: AccessRequest = api
        .post(&format!("/v1/requests/{id}/revoke"), &json!({}))
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
async fn one(api: &ApiClient, output: Output, path: &str, body: Value) -> Result<(), CliError> {
    let r: AccessRequest = api.post(path, &body).await?;
    print(output, &r, line(&r))
}
