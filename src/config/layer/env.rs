//! A layer from `LATCHKEY_*` environment variables.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::config::error::{invalid, ConfigError};
use crate::config::layer::sections::{
    AdminLayer, AuditLayer, AwsLayer, DevelopmentLayer, GateLayer, HooksLayer, LivestreamLayer,
    OidcLayer, SlackLayer, SshLayer, TlsLayer,
};
use crate::config::layer::Layer;

impl Layer {
    /// Reads `LATCHKEY_*` variables (given, so tests need not touch the process environment).
    // Long on purpose: one line per variable, in the layout of `Layer`. It is one flat
    // table of names; split up, it would only scatter them.
    pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let vars: BTreeMap<String, String> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("LATCHKEY_"))
            .collect();
        let get = |name: &str| vars.get(name).cloned().filter(|v| !v.is_empty());
        let list = |name: &str| get(name).map(|v| split_list(&v));
        let flag = |name: &'static str| -> Result<Option<bool>, ConfigError> {
            get(name).map(|v| parse_bool(name, &v)).transpose()
        };
        Ok(Layer {
            listen: get("LATCHKEY_LISTEN"),
            public_url: get("LATCHKEY_PUBLIC_URL"),
            data_dir: get("LATCHKEY_DATA_DIR").map(PathBuf::from),
            database_url: get("LATCHKEY_DATABASE_URL"),
            dev: flag("LATCHKEY_DEV")?,
            behind_tls_proxy: flag("LATCHKEY_BEHIND_TLS_PROXY")?,
            policy_dir: get("LATCHKEY_POLICY_DIR").map(PathBuf::from),
            session_lifetime: get("LATCHKEY_SESSION_LIFETIME"),
            keys_dir: get("LATCHKEY_KEYS_DIR").map(PathBuf::from),
            key_encryption_key_file: get("LATCHKEY_KEY_ENCRYPTION_KEY_FILE").map(PathBuf::from),
            key_encryption_key: get("LATCHKEY_KEY_ENCRYPTION_KEY")
                .map(crate::model::secret::Secret::new),
            tls: TlsLayer {
                cert: get("LATCHKEY_TLS_CERT").map(PathBuf::from),
                key: get("LATCHKEY_TLS_KEY").map(PathBuf::from),
            },
            oidc: OidcLayer {
                issuer: get("LATCHKEY_OIDC_ISSUER"),
                client_id: get("LATCHKEY_OIDC_CLIENT_ID"),
                groups_claim: get("LATCHKEY_OIDC_GROUPS_CLAIM"),
                scopes: list("LATCHKEY_OIDC_SCOPES"),
                algorithms: list("LATCHKEY_OIDC_ALGORITHMS"),
                clock_skew: get("LATCHKEY_OIDC_CLOCK_SKEW"),
                jwks_min_refresh: get("LATCHKEY_OIDC_JWKS_MIN_REFRESH"),
            },
            admin: AdminLayer {
                groups: list("LATCHKEY_ADMIN_GROUPS"),
                users: list("LATCHKEY_ADMIN_USERS"),
            },
            hooks: HooksLayer {
                breakglass_url: get("LATCHKEY_HOOKS_BREAKGLASS_URL"),
            },
            aws: AwsLayer {
                region: get("LATCHKEY_AWS_REGION"),
                endpoint_url: get("LATCHKEY_AWS_ENDPOINT_URL"),
                iam_endpoint_url: get("LATCHKEY_AWS_IAM_ENDPOINT_URL"),
                deny_policy_max_chars: get("LATCHKEY_AWS_DENY_POLICY_MAX_CHARS"),
            },
            audit: AuditLayer {
                checkpoint_interval: get("LATCHKEY_AUDIT_CHECKPOINT_INTERVAL"),
                checkpoint_every_events: get("LATCHKEY_AUDIT_CHECKPOINT_EVERY_EVENTS"),
                checkpoint_sink: get("LATCHKEY_AUDIT_CHECKPOINT_SINK"),
                event_sink: get("LATCHKEY_AUDIT_EVENT_SINK"),
            },
            slack: SlackLayer {
                bot_token: get("LATCHKEY_SLACK_BOT_TOKEN").map(crate::model::secret::Secret::new),
                signing_secret: get("LATCHKEY_SLACK_SIGNING_SECRET")
                    .map(crate::model::secret::Secret::new),
                api_url: get("LATCHKEY_SLACK_API_URL"),
                default_channel: get("LATCHKEY_SLACK_DEFAULT_CHANNEL"),
                channels: None,
                team_id: get("LATCHKEY_SLACK_TEAM_ID"),
            },
            livestream: LivestreamLayer {
                secret: get("LATCHKEY_LIVESTREAM_SECRET").map(crate::model::secret::Secret::new),
                api_token: get("LATCHKEY_LIVESTREAM_API_TOKEN"),
                organization_id: get("LATCHKEY_LIVESTREAM_ORGANIZATION_ID"),
                user_ids: None,
                token_ttl: get("LATCHKEY_LIVESTREAM_TOKEN_TTL"),
            },
            gate: GateLayer {
                dev_source: get("LATCHKEY_GATE_DEV_SOURCE"),
                cutoff_after: get("LATCHKEY_GATE_CUTOFF_AFTER"),
            },
            ssh: SshLayer {
                ca_algorithm: get("LATCHKEY_SSH_CA_ALGORITHM"),
            },
            development: DevelopmentLayer {
                postgres: get("LATCHKEY_DEVELOPMENT_POSTGRES"),
            },
            limits: crate::config::limits::LimitsLayer::from_env(get)?,
        })
    }
}

/// A comma-separated list, items trimmed, empty ones dropped.
fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// `true`/`false` and their usual spellings.
fn parse_bool(name: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(invalid(
            name,
            format!("{v:?} is not a boolean; write true or false"),
        )),
    }
}
