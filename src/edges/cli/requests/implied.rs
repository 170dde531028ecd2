//! The request a verb means when no id is given, when only one can be meant: `activate`
//! your one approved request, `revoke` or `extend` your one active grant, `cancel` your
//! one pending or approved request, `approve` or `deny` the one request waiting for your
//! review, `show` your newest request. Otherwise it says so, listing the candidates
//! (short id, resource#role, state) to name one of, and exits 1.

use crate::edges::cli::client::ApiClient;
use crate::edges::cli::error::CliError;
use crate::edges::cli::output::exit;
use crate::model::access::{AccessRequest, State};
use crate::model::wire::RequestCandidate;

/// Which requests a verb without an id may mean.
#[derive(Debug, Clone, Copy)]
pub(super) enum Meant {
    /// Your newest request (`show`).
    Newest,
    /// Your requests in these states (`activate`, `extend`, `cancel`, `revoke`).
    Mine(&'static [State], &'static str),
    /// Those waiting for your review (`approve`, `deny`).
    ToReview,
}

/// `id` if given, else the one request `meant` can mean.
pub(super) async fn id_or_implied(
    api: &ApiClient,
    id: Option<String>,
    verb: &str,
    meant: Meant,
) -> Result<String, CliError> {
    if let Some(id) = id {
        return Ok(id);
    }
    let view = match meant {
        Meant::ToReview => "to_review",
        _ => "mine",
    };
    let list: Vec<AccessRequest> = api.get(&format!("/v1/requests?view={view}")).await?;
    let (candidates, what): (Vec<AccessRequest>, &str) = match meant {
        Meant::Newest => (list.into_iter().take(1).collect(), "request"),
        Meant::Mine(states, what) => (
            list.into_iter()
                .filter(|r| states.contains(&r.state))
                .collect(),
            what,
        ),
        Meant::ToReview => (list, "request waiting for your review"),
    };
    match candidates.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(CliError::Exit(
            exit::FAILURE,
            format!("you have no {what} to {verb}; name one: latchkey {verb} ID (`latchkey requests` lists yours)"),
        )),
        several => Err(CliError::Exit(
            exit::FAILURE,
            format!(
                "you have {} of them ({what}s); name one: latchkey {verb} ID\n{}",
                several.len(),
                RequestCandidate::list(several)
                    .iter()
                    .map(|c| format!("  {}", c.line()))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        )),
    }
}
