//! Slack's interaction payloads as latchkey reads them: `block_actions` (buttons) and
//! `view_submission` (a modal submitted), posted form-encoded as `payload=<JSON>`, and
//! the slash command's form. Parsed only after the signature is verified.

use serde::Deserialize;

/// The Slack user who acted.
#[derive(Debug, Clone, Deserialize)]
pub struct SlackUserRef {
    /// User id.
    pub id: String,
}

/// The workspace.
#[derive(Debug, Clone, Deserialize)]
pub struct TeamRef {
    /// Team id.
    pub id: String,
}

/// One clicked element.
#[derive(Debug, Clone, Deserialize)]
pub struct Action {
    /// Which button.
    pub action_id: String,
    /// The request id the button carries.
    pub value: Option<String>,
    /// When it was clicked (unique per click).
    pub action_ts: Option<String>,
}

/// A `view_submission` payload (the fields latchkey reads): a modal submitted.
#[derive(Debug, Clone, Deserialize)]
pub struct ViewSubmission {
    /// Who submitted.
    pub user: SlackUserRef,
    /// The workspace.
    pub team: Option<TeamRef>,
    /// The view as submitted: `id`, `callback_id`, `private_metadata`, `state.values`.
    pub view: serde_json::Value,
}

/// An interaction payload, by its `type`.
#[derive(Debug, Clone)]
pub enum Interaction {
    /// Buttons clicked.
    Actions(BlockActions),
    /// A modal submitted.
    Submission(ViewSubmission),
    /// A type latchkey does not act on (`view_closed`, `shortcut`, …).
    Other(String),
}

/// A `block_actions` payload (the fields latchkey reads).
#[derive(Debug, Clone, Deserialize)]
pub struct BlockActions {
    /// `block_actions`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Who clicked.
    pub user: SlackUserRef,
    /// The workspace.
    pub team: Option<TeamRef>,
    /// What was clicked.
    #[serde(default)]
    pub actions: Vec<Action>,
    /// Where to answer.
    pub response_url: Option<String>,
    /// Unique per interaction.
    pub trigger_id: Option<String>,
}

/// The fields of a form-encoded body.
pub(crate) fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Reads an interaction body (`payload=<JSON>`, form-encoded).
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, String> {
    let payload = form(body)
        .remove("payload")
        .ok_or("no payload field in the interaction")?;
    let unreadable = |e: serde_json::Error| format!("unreadable interaction payload: {e}");
    let v: serde_json::Value = serde_json::from_str(&payload).map_err(unreadable)?;
    match v["type"].as_str() {
        Some("block_actions") => serde_json::from_value(v)
            .map(Interaction::Actions)
            .map_err(unreadable),
        Some("view_submission") => serde_json::from_value(v)
            .map(Interaction::Submission)
            .map_err(unreadable),
        Some(other) => Ok(Interaction::Other(other.to_string())),
        None => Err("the interaction payload has no type".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::slack::blocks::APPROVE;
    use serde_json::json;

    #[test]
    fn an_interaction_is_read_from_its_form_encoded_payload() {
        let payload = json!({"type": "block_actions", "user": {"id": "U1"}, "team": {"id": "T1"},
            "actions": [{"action_id": APPROVE, "value": "r1", "action_ts": "1.2"}], "response_url": "https://hooks.slack.com/x"});
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish();
        let Interaction::Actions(p) = parse_interaction(body.as_bytes()).unwrap() else {
            panic!("block_actions read as something else");
        };
        assert_eq!(
            (p.user.id.as_str(), p.actions[0].value.as_deref()),
            ("U1", Some("r1"))
        );
        assert!(parse_interaction(b"payload=%7Bnot-json").is_err());
        assert!(parse_interaction(b"other=1").is_err());
    }
}
