//! The Block Kit message of a request, rendered from its current state: who asks for
//! what and why, flags, who may approve, each review with who made it, the decision,
//! activation, expiry or cancellation, and the buttons while a review can still count.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::model::access::{AccessRequest, Review, State, Verdict};
use crate::model::duration;

/// `action_id` of the Approve button.
pub const APPROVE: &str = "latchkey_approve";
/// `action_id` of the Deny button.
pub const DENY: &str = "latchkey_deny";

/// What a message shows.
pub struct MessageView<'a> {
    /// The request.
    pub request: &'a AccessRequest,
    /// Its reviews, oldest first.
    pub reviews: &'a [Review],
    /// Who may approve, in words.
    pub reviewers: &'a str,
    /// The requester's first request for this resource.
    pub first_request: bool,
    /// The role asks reviewers for a login this recent.
    pub fresh_login: Option<Duration>,
    /// Whether a fresh login is confirmed at an identity provider (false on a development
    /// server, where the development login is the login).
    pub provider: bool,
}

/// Escapes text for Slack's mrkdwn (`&`, `<`, `>`), cut to `max` characters.
pub fn escape(s: &str, max: usize) -> String {
    let cut: String = s.chars().take(max).collect();
    let more = if s.chars().count() > max { "…" } else { "" };
    cut.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        + more
}

fn when(t: DateTime<Utc>) -> String {
    // Slack shows <!date^…> in the reader's time zone; the fallback is UTC.
    format!(
        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
        t.timestamp(),
        t.format("%Y-%m-%d %H:%M UTC")
    )
}

fn field(name: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": format!("*{name}*\n{value}")})
}

/// Whether a click on the buttons could still count.
pub fn reviewable(r: &AccessRequest) -> bool {
    matches!(r.state, State::Pending) || (r.breakglass && r.state == State::Active)
}

fn status_line(r: &AccessRequest, approvals: u32) -> String {
    let reason = r
        .end_reason
        .as_deref()
        .map(|s| format!(": {}", escape(s, 300)))
        .unwrap_or_default();
    match r.state {
        State::Pending => format!(
            ":hourglass_flowing_sand: *Pending*: {approvals} of {} approval(s); expires unless decided by {}",
            r.terms.approvals,
            when(r.pending_until)
        ),
        State::Approved => format!(
            ":white_check_mark: *Approved*; waiting for the requester to activate{}",
            r.activation_deadline
                .map(|t| format!(" by {}", when(t)))
                .unwrap_or_default()
        ),
        State::Active => format!(
            ":large_green_circle: *Active*{}{}",
            r.activated_at
                .map(|t| format!(" since {}", when(t)))
                .unwrap_or_default(),
            r.expires_at
                .map(|t| format!(", until {}", when(t)))
                .unwrap_or_default()
        ),
        State::Denied => format!(":no_entry: *Denied*{reason}"),
        State::Expired => format!(":stopwatch: *Expired*{reason}"),
        State::Cancelled => format!(":heavy_multiplication_x: *Cancelled* by the requester{reason}"),
        State::Revoked => format!(":octagonal_sign: *Revoked*{reason}"),
    }
}

/// The message's fallback text and blocks: the request, its flags, its reviews, its
/// state, and the buttons while a review can still count.
pub fn render(v: &MessageView<'_>) -> (String, Value) {
    let r = v.request;
    let title = format!(
        "{} requests {}#{} for {}",
        r.requester_name,
        r.resource,
        r.role,
        duration::format(r.duration)
    );
    let flags = flags(v);
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": format!("Access request: {}#{}", r.resource, r.role).chars().take(150).collect::<String>()}}),
        json!({"type": "section", "fields": [
            field("Requester", &escape(&r.requester_name, 200)),
            field("Resource", &format!("`{}`", escape(&r.resource, 200))),
            field("Role", &escape(&r.role, 200)),
            field("Duration", &duration::format(r.duration)),
            field("Reason", &escape(r.reason.as_deref().unwrap_or("—"), 1000)),
            field("Ticket", &escape(r.ticket.as_deref().unwrap_or("—"), 200)),
        ]}),
        json!({"type": "context", "elements": flags.iter().map(|f| json!({"type": "mrkdwn", "text": f})).collect::<Vec<_>>()}),
    ];
    if !v.reviews.is_empty() {
        blocks.push(reviews_block(v.reviews));
    }
    let (approvals, _) = r.tally(v.reviews);
    blocks.push(
        json!({"type": "section", "text": {"type": "mrkdwn", "text": status_line(r, approvals)}}),
    );
    if reviewable(r) {
        blocks.push(buttons(r));
    }
    let text = format!("{title}: {}", r.state.as_str());
    (text, Value::Array(blocks))
}

/// The context line's flags: break-glass, a first request, who approves, a fresh login.
fn flags(v: &MessageView<'_>) -> Vec<String> {
    let r = v.request;
    let mut flags = Vec::new();
    if r.breakglass {
        flags.push(
            ":rotating_light: *break-glass*: active at once, review after the fact".to_string(),
        );
    }
    if v.first_request {
        flags.push(":new: first request for this resource".to_string());
    }
    flags.push(format!("Approvers: {}", escape(v.reviewers, 500)));
    if let Some(window) = v.fresh_login {
        let window = duration::format(window);
        flags.push(if v.provider {
            format!(
                "Reviewers need a login within {window}: a click answers with a single-use link to sign in at the identity provider (or use `latchkey approve {}`)",
                r.id
            )
        } else {
            format!("Reviewers need a development login (`latchkey login --dev`) within {window}; then a click counts")
        });
    }
    flags
}

/// Each review with its verdict, who made it, when, and the comment.
fn reviews_block(reviews: &[Review]) -> Value {
    let lines: Vec<String> = reviews
        .iter()
        .map(|rv| {
            let (icon, verb) = match rv.verdict {
                Verdict::Approve => (":white_check_mark:", "approved"),
                Verdict::Deny => (":x:", "denied"),
            };
            let comment = rv
                .comment
                .as_deref()
                .map(|c| format!(": _{}_", escape(c, 300)))
                .unwrap_or_default();
            format!(
                "{icon} {verb} by *{}* at {}{comment}",
                escape(&rv.reviewer_name, 200),
                when(rv.at)
            )
        })
        .collect();
    json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*Reviews*\n{}", lines.join("\n"))}})
}

/// Approve and Deny (which asks for confirmation), carrying the request id.
fn buttons(r: &AccessRequest) -> Value {
    json!({"type": "actions", "block_id": "latchkey_review", "elements": [
        {"type": "button", "action_id": APPROVE, "style": "primary", "value": r.id,
         "text": {"type": "plain_text", "text": "Approve"}},
        {"type": "button", "action_id": DENY, "style": "danger", "value": r.id,
         "text": {"type": "plain_text", "text": "Deny"},
         "confirm": {"title": {"type": "plain_text", "text": "Deny this request?"},
                     "text": {"type": "mrkdwn", "text": "The requester is told at once."},
                     "confirm": {"type": "plain_text", "text": "Deny"},
                     "deny": {"type": "plain_text", "text": "Cancel"}}},
    ]})
}

/// The direct message telling a requester their request was decided.
pub fn decided_text(r: &AccessRequest) -> String {
    match r.state {
        State::Approved => format!(
            "Your request for {}#{} was approved. Activate it with `latchkey activate {}`{}.",
            r.resource,
            r.role,
            r.id,
            r.activation_deadline
                .map(|t| format!(" by {}", when(t)))
                .unwrap_or_default()
        ),
        State::Denied => format!(
            "Your request for {}#{} was denied{}.",
            r.resource,
            r.role,
            r.end_reason
                .as_deref()
                .map(|s| format!(": {}", escape(s, 300)))
                .unwrap_or_default()
        ),
        other => format!(
            "Your request for {}#{} is now {}.",
            r.resource,
            r.role,
            other.as_str()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::access::{NewRequest, Start, Terms};

    fn request(reason: &str) -> AccessRequest {
        let hour = Duration::from_secs(3600);
        AccessRequest::create(
            NewRequest {
                id: "r1".into(),
                requester_id: "dev|bob".into(),
                requester_name: "bob@example.com".into(),
                resource: "aws:prod".into(),
                role: "readonly".into(),
                reason: Some(reason.into()),
                ticket: None,
                duration: hour,
                pending_timeout: hour,
                terms: Terms {
                    approvals: 1,
                    denials: 1,
                    activation_window: hour,
                    max_duration: hour,
                    max_extensions: 0,
                    extension: hour,
                },
            },
            Start::Pending,
            Utc::now(),
        )
    }

    fn view(r: &AccessRequest, reviews: &[Review]) -> Value {
        render(&MessageView {
            request: r,
            reviews,
            reviewers: "group:sre",
            first_request: true,
            fresh_login: None,
            provider: true,
        })
        .1
    }

    #[test]
    fn requester_text_cannot_mention_channels_or_smuggle_links() {
        let r = request("<!channel> see <https://evil.example|the runbook> & more");
        let shown = view(&r, &[]).to_string();
        assert!(!shown.contains("<!channel>") && !shown.contains("<https://evil"));
        assert!(shown.contains("&lt;!channel&gt;") && shown.contains("&amp; more"));
    }

    #[test]
    fn buttons_show_while_pending_and_go_once_decided_naming_the_reviewer() {
        let mut r = request("debugging INC-42 latency");
        assert!(view(&r, &[]).to_string().contains(APPROVE));
        let review = Review {
            reviewer_id: "dev|carol".into(),
            reviewer_name: "carol@example.com".into(),
            verdict: Verdict::Approve,
            comment: None,
            at: Utc::now(),
        };
        r.review(&[], &review, Utc::now()).unwrap();
        let shown = view(&r, std::slice::from_ref(&review)).to_string();
        assert!(shown.contains("approved by *carol@example.com*") && shown.contains("Approved"));
        assert!(!shown.contains(APPROVE) && !shown.contains(DENY));
    }
}
