//! The identity provider's refusal of a login, in its own words (its OAuth `error` and
//! `error_description`), with a stable code and, where the cause is known, what to check.

/// The identity provider refused a login (at the device endpoint, the token endpoint, or
/// in the redirect back to the CLI).
#[derive(Debug)]
pub struct IdpRefusal {
    /// The provider's OAuth `error` (`invalid_client`, `access_denied`, …).
    pub error: String,
    /// Its `error_description`, when it gave one.
    pub description: Option<String>,
    /// The provider's own words as `--output json` gives them.
    pub details: serde_json::Value,
}

impl IdpRefusal {
    /// The refusal of `error` with `description`.
    pub fn new(error: &str, description: Option<&str>) -> Self {
        Self {
            error: error.to_string(),
            description: description.map(str::to_string),
            details: serde_json::json!({"error": error, "error_description": description}),
        }
    }

    /// The stable code: `login_denied`, `login_expired`, `idp_client_rejected` (the
    /// broker's client id is unknown to the provider or not allowed this flow), else
    /// `idp_refused`.
    pub fn code(&self) -> &'static str {
        match self.error.as_str() {
            "access_denied" => "login_denied",
            "expired_token" => "login_expired",
            "invalid_client" | "unauthorized_client" => "idp_client_rejected",
            _ => "idp_refused",
        }
    }

    /// The refusal for people: the provider's words, then what to do about it.
    fn message(&self) -> String {
        let said = match &self.description {
            Some(d) => format!("{}: {d}", self.error),
            None => self.error.clone(),
        };
        let advice = match self.code() {
            "login_denied" => "",
            "login_expired" => "; run `latchkey login` again",
            "idp_client_rejected" => {
                "; the broker's oidc.client_id (LATCHKEY_OIDC_CLIENT_ID) is not a client this provider \
                 accepts for this login: ask the broker's operator to check it"
            }
            _ => "",
        };
        format!("the identity provider refused the login ({said}){advice}")
    }
}

impl std::fmt::Display for IdpRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for IdpRefusal {}
