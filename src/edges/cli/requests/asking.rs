//! Asking for access (`request`, `breakglass`) and, with `--wait`, following the request
//! until it is decided: the exit code says how it ended.

use std::time::Duration;

use serde_json::Value;

use crate::edges::cli::client::ApiClient;
use crate::edges::cli::error::CliError;
use crate::edges::cli::output::{exit, Output};
use crate::edges::cli::requests::text::{line, print};
use crate::model::access::State;
use crate::model::wire::Created;
use crate::model::wire::RequestView;

/// Creates a request, prints it with what comes next, and with `wait` follows it until
/// it is decided.
pub(super) async fn create(
    api: &ApiClient,
    output: Output,
    body: Value,
    wait: bool,
) -> Result<(), CliError> {
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
