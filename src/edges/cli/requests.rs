//! The access verbs: `resources`, `request`, `requests`, `show`, `approve`, `deny`,
//! `activate`, `extend`, `cancel`, `revoke`, `breakglass`.

use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::app::RequestView;
use crate::edges::cli::client::ApiClient;
use crate::edges::cli::error::CliError;
use crate::edges::cli::output::{exit, Output};
use crate::edges::http::access::{Created, ResourceView};
use crate::model::access::{AccessRequest, State};
use crate::model::duration;

/// What to ask for.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Resource, e.g. aws:prod.
    pub resource: String,
    /// Role (required when the resource has several).
    #[arg(long)]
    pub role: Option<String>,
    /// How long, counted from activation (e.g. 2h).
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: Option<String>,
    /// Why.
    #[arg(long)]
    pub reason: Option<String>,
    /// Ticket, e.g. INC-123.
    #[arg(long)]
    pub ticket: Option<String>,
    /// Wait, showing progress, until the request is decided (exit 0 granted, 5 denied, 6 expired, 7 cancelled or revoked).
    #[arg(long)]
    pub wait: bool,
}

/// The access verbs.
#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// What you may request, each role's limits and who must approve.
    Resources,
    /// Ask for access.
    Request(RequestArgs),
    /// Emergency access, active at once, reviewed after the fact.
    Breakglass {
        /// Resource.
        resource: String,
        /// Role.
        #[arg(long)]
        role: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
        /// How long (capped short by the role).
        #[arg(long = "for", value_name = "DURATION")]
        duration: Option<String>,
    },
    /// Your requests, or those waiting for your review.
    Requests {
        /// Your own requests (the default).
        #[arg(long, conflicts_with = "to_review")]
        mine: bool,
        /// Requests you may review and have not.
        #[arg(long)]
        to_review: bool,
    },
    /// One request with its reviews.
    Show {
        /// Request id.
        id: String,
    },
    /// Approve a request.
    Approve {
        /// Request id.
        id: String,
        /// Comment.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Deny a request.
    Deny {
        /// Request id.
        id: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
    },
    /// Start an approved grant; its duration counts from now.
    Activate {
        /// Request id.
        id: String,
    },
    /// Extend a live grant.
    Extend {
        /// Request id.
        id: String,
        /// How much longer.
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
    },
    /// Withdraw a request that is not yet active.
    Cancel {
        /// Request id.
        id: String,
    },
    /// End a grant now (the requester or an administrator).
    Revoke {
        /// Request id.
        id: String,
    },
    /// Print a broker token for a resource you hold an active grant on.
    Token {
        /// Resource (of kind `token`).
        resource: String,
        /// Lifetime (capped by the grant and at 1h).
        #[arg(long, value_name = "DURATION")]
        ttl: Option<String>,
    },
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "-".into())
}

fn line(r: &AccessRequest) -> String {
    let mut flags = vec![];
    if r.breakglass {
        flags.push("BREAK-GLASS");
    }
    if r.auto_approved {
        flags.push("auto-approved");
    }
    format!(
        "{}  {:<9} {}#{}  {}  {}{}",
        r.id,
        r.state.as_str(),
        r.resource,
        r.role,
        r.requester_name,
        match r.state {
            State::Active => format!("until {}", when(r.expires_at)),
            State::Approved => format!("activate before {}", when(r.activation_deadline)),
            State::Pending => format!("pending until {}", when(Some(r.pending_until))),
            _ => r.end_reason.clone().unwrap_or_default(),
        },
        if flags.is_empty() {
            String::new()
        } else {
            format!("  [{}]", flags.join(", "))
        }
    )
}

fn show_text(v: &RequestView) -> String {
    let r = &v.request;
    let mut out = vec![
        line(r),
        format!("  reason:   {}", r.reason.as_deref().unwrap_or("-")),
        format!("  ticket:   {}", r.ticket.as_deref().unwrap_or("-")),
        format!("  duration: {}", duration::format(r.duration)),
        format!(
            "  approvals {}/{} (denials {}/{}); reviewers: {}",
            v.approvals, r.terms.approvals, v.denials, r.terms.denials, v.reviewers
        ),
    ];
    for rv in &v.reviews {
        out.push(format!(
            "  {:?} by {} at {}{}",
            rv.verdict,
            rv.reviewer_name,
            when(Some(rv.at)),
            rv.comment
                .as_deref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default()
        ));
    }
    out.join("\n")
}

fn print(output: Output, value: &impl serde::Serialize, text: String) -> Result<(), CliError> {
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).map_err(anyhow::Error::from)?
        ),
        Output::Text => println!("{text}"),
    }
    Ok(())
}

async fn create(api: &ApiClient, output: Output, body: Value, wait: bool) -> Result<(), CliError> {
    let created: Created = api.post("/v1/requests", &body).await?;
    let r = &created.request;
    let mut text = line(r);
    if r.state == State::Pending {
        text.push_str(&format!(
            "\n  waiting for {} approval(s) from {}",
            r.terms.approvals,
            created.decision["reviewers"].as_str().unwrap_or("?")
        ));
    }
    if r.state == State::Approved || (r.state == State::Pending && !wait) {
        text.push_str(&format!(
            "\n  next: latchkey {} {}",
            if r.state == State::Pending {
                "show"
            } else {
                "activate"
            },
            r.id
        ));
    }
    print(output, &created, text)?;
    if wait && r.state == State::Pending {
        return wait_for(api, &r.id).await;
    }
    Ok(())
}

/// Polls until the request leaves `pending`, showing each change.
async fn wait_for(api: &ApiClient, id: &str) -> Result<(), CliError> {
    let mut last = (State::Pending, 0, 0);
    loop {
        let v: RequestView = api.get(&format!("/v1/requests/{id}")).await?;
        let now = (v.request.state, v.approvals, v.denials);
        if now != last {
            eprintln!(
                "{}: {} (approvals {}/{}, denials {}/{})",
                chrono::Utc::now().format("%H:%M:%S"),
                now.0.as_str(),
                now.1,
                v.request.terms.approvals,
                now.2,
                v.request.terms.denials
            );
            last = now;
        }
        match v.request.state {
            State::Pending => tokio::time::sleep(Duration::from_secs(2)).await,
            State::Approved | State::Active => return Ok(()),
            State::Denied => {
                return Err(CliError::Exit(
                    exit::DENIED,
                    format!("denied: {}", v.request.end_reason.unwrap_or_default()),
                ))
            }
            State::Expired => {
                return Err(CliError::Exit(
                    exit::EXPIRED,
                    "expired before it was decided".into(),
                ))
            }
            State::Cancelled | State::Revoked => {
                return Err(CliError::Exit(
                    exit::ENDED,
                    v.request.state.as_str().to_string(),
                ))
            }
        }
    }
}

/// Runs an access verb.
pub async fn run(api: &ApiClient, output: Output, command: AccessCommand) -> Result<(), CliError> {
    match command {
        AccessCommand::Resources => {
            let list: Vec<ResourceView> = api.get("/v1/resources").await?;
            let mut text = vec![];
            for r in &list {
                text.push(format!("{}  ({}) {}", r.name, r.kind, r.description));
                for role in &r.roles {
                    text.push(format!(
                        "  {:<10} default {}, at most {}; {}{}",
                        role.role,
                        duration::format(Duration::from_secs(role.default_duration_secs)),
                        duration::format(Duration::from_secs(role.max_duration_secs)),
                        if role.auto_approved {
                            "granted at once".to_string()
                        } else {
                            format!("{} approval(s) from {}", role.approvals, role.reviewers)
                        },
                        if role.breakglass {
                            "; break-glass available"
                        } else {
                            ""
                        }
                    ));
                }
            }
            print(output, &list, text.join("\n"))
        }
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
        AccessCommand::Requests { to_review, .. } => {
            let view = if to_review { "to_review" } else { "mine" };
            let list: Vec<AccessRequest> = api.get(&format!("/v1/requests?view={view}")).await?;
            let text = if list.is_empty() {
                "no requests".to_string()
            } else {
                list.iter().map(line).collect::<Vec<_>>().join("\n")
            };
            print(output, &list, text)
        }
        AccessCommand::Show { id } => {
            let v: RequestView = api.get(&format!("/v1/requests/{id}")).await?;
            print(output, &v, show_text(&v))
        }
        AccessCommand::Approve { id, comment } => {
            let v: RequestView = api
                .post(
                    &format!("/v1/requests/{id}/approve"),
                    &json!({"comment": comment}),
                )
                .await?;
            print(output, &v, show_text(&v))
        }
        AccessCommand::Deny { id, reason } => {
            let v: RequestView = api
                .post(
                    &format!("/v1/requests/{id}/deny"),
                    &json!({"comment": reason}),
                )
                .await?;
            print(output, &v, show_text(&v))
        }
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
        AccessCommand::Revoke { id } => {
            let r: AccessRequest = api
                .post(&format!("/v1/requests/{id}/revoke"), &json!({}))
                .await?;
            // Its sessions are denied at AWS; this machine stops serving them at once.
            crate::edges::cli::aws_cache::forget(api.server(), Some(&r.id))?;
            print(output, &r, line(&r))
        }
        AccessCommand::Token { resource, ttl } => {
            let t: crate::app::IssuedToken = api
                .post(
                    "/v1/credentials/token",
                    &json!({"resource": resource, "ttl": ttl}),
                )
                .await?;
            // Text output is the token alone, for `$(latchkey token …)`.
            print(output, &t, t.token.clone())
        }
    }
}

async fn one(api: &ApiClient, output: Output, path: &str, body: Value) -> Result<(), CliError> {
    let r: AccessRequest = api.post(path, &body).await?;
    print(output, &r, line(&r))
}
