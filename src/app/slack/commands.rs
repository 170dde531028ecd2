//! The `/latchkey` slash command, once Slack's signature is verified: `request`,
//! `status` and `link`. Answered 200 at once; the result follows, ephemerally, through
//! the command's `response_url`. A command acts once per `trigger_id`, whatever Slack
//! retries, and a request made from Slack carries the trigger as its idempotency key.

use chrono::Utc;

use crate::app::services::Slack;
use crate::app::slack::answer::{first_time, reply, said};
use crate::app::slack::binding;
use crate::app::slack::payload::form;
use crate::model::access::AccessRequest;
use crate::model::audit::Origin;
use crate::model::policy::decide::Ask;

/// A slash command invocation (the fields latchkey reads).
#[derive(Debug, Clone, Default)]
pub struct SlashCommand {
    /// Who typed it.
    pub user_id: String,
    /// The workspace.
    pub team_id: String,
    /// The words after the command.
    pub text: String,
    /// Where to answer.
    pub response_url: String,
    /// Unique per invocation.
    pub trigger_id: String,
}

/// Reads a slash command body (form-encoded fields).
pub fn parse_command(body: &[u8]) -> Result<SlashCommand, String> {
    let mut f = form(body);
    let mut take = |k: &str| f.remove(k).unwrap_or_default();
    let c = SlashCommand {
        user_id: take("user_id"),
        team_id: take("team_id"),
        text: take("text"),
        response_url: take("response_url"),
        trigger_id: take("trigger_id"),
    };
    if c.user_id.is_empty() || c.response_url.is_empty() {
        return Err("the slash command has no user_id or response_url".into());
    }
    Ok(c)
}

const USAGE: &str = "Usage: `/latchkey request RESOURCE[#ROLE] [DURATION] [ticket:ID] [--breakglass] REASON…`, `/latchkey status [REQUEST]`, `/latchkey link CODE`";

/// Reads `request` arguments: resource[#role], then an optional duration, `ticket:ID`,
/// `--breakglass`, and the rest as the reason.
pub fn parse_ask(args: &[&str]) -> Result<Ask, String> {
    let (first, rest) = args.split_first().ok_or(USAGE)?;
    let (resource, role) = match first.split_once('#') {
        Some((res, role)) => (res.to_string(), Some(role.to_string())),
        None => (first.to_string(), None),
    };
    let mut rest = rest.iter().peekable();
    let duration = match rest.peek().map(|s| crate::model::duration::parse(s)) {
        Some(Ok(d)) => {
            rest.next();
            Some(d)
        }
        _ => None,
    };
    let (mut ticket, mut breakglass, mut reason) = (None, false, Vec::new());
    for word in rest {
        if let Some(t) = word.strip_prefix("ticket:") {
            ticket = Some(t.to_string());
        } else if *word == "--breakglass" {
            breakglass = true;
        } else {
            reason.push(*word);
        }
    }
    Ok(Ask {
        resource,
        role,
        duration,
        reason: (!reason.is_empty()).then(|| reason.join(" ")),
        ticket,
        breakglass,
    })
}

/// Handles `/latchkey …`.
pub async fn handle_command(slack: Slack, c: SlashCommand, origin: Origin) {
    let Some(api) = slack.api.clone() else {
        return;
    };
    if !first_time(&slack, &format!("command:{}:{}", c.trigger_id, c.user_id)).await {
        return;
    }
    let words: Vec<&str> = c.text.split_whitespace().collect();
    let now = Utc::now();
    let text = match words.split_first() {
        Some((&"link", [code])) => match binding::check_team(&api, Some(&c.team_id)).await {
            Err(e) => e.to_string(),
            Ok(()) => match slack.slack_link(&c.user_id, code, &origin, now).await {
                Ok(user) => format!("Linked: in latchkey your Slack account now acts as `{user}`."),
                Err(e) => said(&e),
            },
        },
        Some((verb @ (&"request" | &"status"), args)) => {
            match binding::resolve(&slack, &api, Some(&c.team_id), &c.user_id, now).await {
                Err(e) => e.to_string(),
                Ok(bound) if *verb == "request" => match parse_ask(args) {
                    Err(usage) => usage,
                    Ok(ask) => {
                        let key = format!("slack:{}", c.trigger_id);
                        match slack
                            .access
                            .create_request(&bound.principal, ask, Some(&key), &origin, now)
                            .await
                        {
                            Ok((r, d)) => format!(
                                "Request `{}` for {}#{}: {}. {}",
                                r.id,
                                r.resource,
                                r.role,
                                r.state.as_str(),
                                d.explanation.last().map(String::as_str).unwrap_or("")
                            ),
                            Err(e) => format!("Refused: {}", said(&e)),
                        }
                    }
                },
                Ok(bound) => status(&slack, &bound.principal, args.first().copied()).await,
            }
        }
        _ => USAGE.to_string(),
    };
    reply(&slack, Some(&c.response_url), &text).await;
}

async fn status(slack: &Slack, p: &crate::model::domain::Principal, id: Option<&str>) -> String {
    if let Some(id) = id {
        return match slack.access.request_view(p, id, Utc::now()).await {
            Ok(v) => format!(
                "`{}` {}#{} by {}: {} ({} approval(s), {} denial(s); reviewers: {})",
                v.request.id,
                v.request.resource,
                v.request.role,
                v.request.requester_name,
                v.request.state.as_str(),
                v.approvals,
                v.denials,
                v.reviewers
            ),
            Err(e) => said(&e),
        };
    }
    let mine = slack.access.list_requests(p, false).await;
    let to_review = slack.access.list_requests(p, true).await;
    match (mine, to_review) {
        (Ok(mine), Ok(to_review)) => status_text(&mine, &to_review),
        (Err(e), _) | (_, Err(e)) => said(&e),
    }
}

/// The caller's last five requests, then every request waiting for their review: the
/// list `latchkey requests --to-review` shows.
fn status_text(mine: &[AccessRequest], to_review: &[AccessRequest]) -> String {
    let line = |r: &AccessRequest| {
        format!(
            "• `{}` {}#{}: {}",
            r.id,
            r.resource,
            r.role,
            r.state.as_str()
        )
    };
    let mut lines: Vec<String> = mine.iter().take(5).map(line).collect();
    if lines.is_empty() {
        lines.push("You have no requests.".into());
    }
    lines.push(format!(
        "{} request(s) wait for your review{}",
        to_review.len(),
        if to_review.is_empty() { "." } else { ":" }
    ));
    lines.extend(to_review.iter().map(|r| {
        format!(
            "• `{}` {}#{} by {}",
            r.id, r.resource, r.role, r.requester_name
        )
    }));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_arguments_read_resource_role_duration_ticket_and_reason() {
        let a = parse_ask(&[
            "aws:prod#readonly",
            "2h",
            "ticket:INC-42",
            "debugging",
            "latency",
        ])
        .unwrap();
        assert_eq!(a.resource, "aws:prod");
        assert_eq!(a.role.as_deref(), Some("readonly"));
        assert_eq!(a.duration, Some(std::time::Duration::from_secs(7200)));
        assert_eq!(a.ticket.as_deref(), Some("INC-42"));
        assert_eq!(a.reason.as_deref(), Some("debugging latency"));
        assert!(!a.breakglass);
        let b = parse_ask(&["db:events", "--breakglass", "outage"]).unwrap();
        assert_eq!((b.role, b.duration, b.breakglass), (None, None, true));
        assert!(parse_ask(&[]).is_err());
    }

    #[test]
    fn a_command_without_user_or_response_url_is_refused() {
        assert!(parse_command(b"text=status").is_err());
        let c = parse_command(
            b"user_id=U1&response_url=https%3A%2F%2Fhooks.slack.com%2Fx&text=status&trigger_id=t",
        )
        .unwrap();
        assert_eq!((c.user_id.as_str(), c.text.as_str()), ("U1", "status"));
    }
}
