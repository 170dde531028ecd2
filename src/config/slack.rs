//! Slack's configuration: the app's credentials, the Web API's address and the channel of
//! each resource. Requests that need a human are posted to the resource's channel with
//! Approve and Deny buttons (`app::slack`), through the Web API client
//! (`adapters::slack`); webhooks are verified at the edge (`edges::http::slack_signing`).

use std::collections::BTreeMap;

use crate::config::error::{invalid, ConfigError};
use crate::config::layer::SlackLayer;
use crate::model::secret::Secret;

/// The Web API's public address.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// Validated `[slack]` settings.
#[derive(Debug, Clone)]
pub struct SlackConfig {
    /// Bot token for the Web API.
    pub bot_token: Secret,
    /// Signing secret of the app.
    pub signing_secret: Secret,
    /// Web API base URL, without a trailing slash.
    pub api_url: String,
    /// Channel for resources without their own.
    pub default_channel: Option<String>,
    /// Channel per resource.
    pub channels: BTreeMap<String, String>,
    /// The workspace whose clicks count; `None`: the bot token's own (`auth.test`).
    pub team_id: Option<String>,
}

impl SlackConfig {
    /// `None` when nothing is set (the feature is off); an error naming the setting when
    /// the section is incomplete.
    pub fn validate(layer: SlackLayer) -> Result<Option<SlackConfig>, ConfigError> {
        let nothing_else =
            layer.api_url.is_none() && layer.default_channel.is_none() && layer.channels.is_none();
        let (bot_token, signing_secret) = match (layer.bot_token, layer.signing_secret) {
            (None, None) if nothing_else => return Ok(None),
            (Some(t), Some(s)) if !t.expose().is_empty() && !s.expose().is_empty() => (t, s),
            _ => {
                return Err(invalid(
                    "slack.bot_token / slack.signing_secret (LATCHKEY_SLACK_BOT_TOKEN, LATCHKEY_SLACK_SIGNING_SECRET)",
                    "set both the bot token (xoxb-…) and the app's signing secret, or remove the [slack] section",
                ))
            }
        };
        let api_url = layer
            .api_url
            .unwrap_or_else(|| DEFAULT_API_URL.to_string())
            .trim_end_matches('/')
            .to_string();
        let parsed = url::Url::parse(&api_url).map_err(|e| {
            invalid(
                "slack.api_url (LATCHKEY_SLACK_API_URL)",
                format!("not a URL ({e}); the default is {DEFAULT_API_URL}"),
            )
        })?;
        let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if parsed.scheme() != "https" && !loopback {
            return Err(invalid(
                "slack.api_url (LATCHKEY_SLACK_API_URL)",
                "must be https:// (plain http only on loopback, for tests): the bot token travels with every call",
            ));
        }
        let channels = layer.channels.unwrap_or_default();
        if layer.default_channel.is_none() && channels.is_empty() {
            return Err(invalid(
                "slack.default_channel (LATCHKEY_SLACK_DEFAULT_CHANNEL)",
                "name a channel id for requests (or per resource in [slack.channels])",
            ));
        }
        Ok(Some(SlackConfig {
            bot_token,
            signing_secret,
            api_url,
            default_channel: layer.default_channel,
            channels,
            team_id: layer.team_id.filter(|t| !t.trim().is_empty()),
        }))
    }

    /// The channel a request for `resource` is posted to.
    pub fn channel_for(&self, resource: &str) -> Option<&str> {
        self.channels
            .get(resource)
            .or(self.default_channel.as_ref())
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_slack_settings_mean_slack_is_off_and_half_a_section_names_what_to_set() {
        assert!(SlackConfig::validate(SlackLayer::default())
            .unwrap()
            .is_none());
        let half = SlackLayer {
            bot_token: Some(Secret::new("xoxb-1")),
            default_channel: Some("C1".into()),
            ..SlackLayer::default()
        };
        let e = SlackConfig::validate(half).unwrap_err().to_string();
        assert!(
            e.contains("slack.signing_secret") && !e.contains("xoxb-1"),
            "{e}"
        );
        let full = |api_url: &str| SlackLayer {
            bot_token: Some(Secret::new("xoxb-1")),
            signing_secret: Some(Secret::new("s")),
            api_url: Some(api_url.into()),
            default_channel: Some("C1".into()),
            channels: Some([("aws:prod".to_string(), "CPROD".to_string())].into()),
            team_id: None,
        };
        let e = SlackConfig::validate(full("http://slack.example.com/api")).unwrap_err();
        assert!(e.to_string().contains("slack.api_url"));
        let c = SlackConfig::validate(full("http://127.0.0.1:9/api/"))
            .unwrap()
            .unwrap();
        assert_eq!(c.api_url, "http://127.0.0.1:9/api");
        assert_eq!(
            (c.channel_for("aws:prod"), c.channel_for("db:events")),
            (Some("CPROD"), Some("C1"))
        );
        assert_eq!(
            format!("{c:?}").matches("xoxb").count(),
            0,
            "Debug never shows the token"
        );
    }
}
