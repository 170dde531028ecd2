//! The Block Kit modal that asks a reviewer who clicked Deny for the reason (the CLI and
//! the API refuse a denial without one), and how its `view_submission` is read back.

use serde_json::{json, Value};

use crate::adapters::slack::blocks::escape;
use crate::model::access::AccessRequest;

/// `callback_id` of the deny modal.
pub const DENY_CALLBACK: &str = "latchkey_deny_reason";
/// `block_id` of the reason input (where Slack shows a `response_action: errors`).
pub const REASON_BLOCK: &str = "reason";
/// `action_id` of the reason's text input.
pub const REASON_ACTION: &str = "reason_text";
/// Longest reason the modal takes.
pub const REASON_MAX: usize = 1000;

/// The modal: what is denied, and a required, multi-line reason. `metadata` travels
/// back in the submission (Slack caps `private_metadata` at 3000 characters).
pub fn deny_modal(r: &AccessRequest, metadata: &str) -> Value {
    let what = format!(
        "Deny *{}*'s request for `{}#{}` ({})?",
        escape(&r.requester_name, 200),
        escape(&r.resource, 200),
        escape(&r.role, 200),
        escape(r.reason.as_deref().unwrap_or("no reason given"), 500)
    );
    json!({
        "type": "modal",
        "callback_id": DENY_CALLBACK,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Deny access request"},
        "submit": {"type": "plain_text", "text": "Deny"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": what}},
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "optional": false,
                "label": {"type": "plain_text", "text": "Reason"},
                "hint": {"type": "plain_text", "text": "The requester sees it; the audit log keeps it."},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_ACTION,
                    "multiline": true,
                    "max_length": REASON_MAX,
                    "placeholder": {"type": "plain_text", "text": "Why this access is denied"},
                },
            },
        ],
    })
}

/// The reason typed into a submitted deny modal (`view.state.values`), trimmed; `None`
/// when it is missing or blank.
pub fn submitted_reason(view: &Value) -> Option<String> {
    view["state"]["values"][REASON_BLOCK][REASON_ACTION]["value"]
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_read_from_the_submitted_state_and_a_blank_one_is_none() {
        let view = |v: Value| json!({"state": {"values": {REASON_BLOCK: {REASON_ACTION: {"type": "plain_text_input", "value": v}}}}});
        assert_eq!(
            submitted_reason(&view(json!("  not on call  "))).as_deref(),
            Some("not on call")
        );
        assert_eq!(submitted_reason(&view(json!("   "))), None);
        assert_eq!(submitted_reason(&view(Value::Null)), None);
        assert_eq!(submitted_reason(&json!({})), None);
    }
}
