//! Wire types the API answers with and the CLI reads, shared so the two never drift:
//! the CLI reads what the server writes through these types, never through the HTTP
//! edge's or the application's own.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::access::{AccessRequest, Review};
use crate::model::domain::Principal;
use crate::model::policy::decide::Decision;

/// Credentials STS returned. `Debug` does not print the secrets.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AwsCredentials {
    /// AccessKeyId (an identifier AWS logs, not a secret).
    pub access_key_id: String,
    /// SecretAccessKey.
    pub secret_access_key: String,
    /// SessionToken.
    pub session_token: String,
    /// Expiration.
    pub expiration: DateTime<Utc>,
    /// The assumed-role ARN.
    pub assumed_role_arn: Option<String>,
    /// The grant the session belongs to (its session tag `latchkey:request`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// When that grant ends: nothing may serve the session past it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_expires_at: Option<DateTime<Utc>>,
    /// The region the broker reached STS in: the tools' region when the caller sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// A role as `latchkey resources` shows it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoleView {
    /// Role name.
    pub role: String,
    /// Default duration (s).
    pub default_duration_secs: u64,
    /// Maximum duration (s).
    pub max_duration_secs: u64,
    /// Granted at once for the caller.
    pub auto_approved: bool,
    /// Approvals needed otherwise.
    pub approvals: u32,
    /// Who approves.
    pub reviewers: String,
    /// A reason is required.
    pub reason_required: bool,
    /// What a reason must be, in words (`at least 10 characters`), if the role says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_form: Option<String>,
    /// A ticket is required.
    #[serde(default)]
    pub ticket_required: bool,
    /// What a ticket must be, in words (`like INC-123`), if the role says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_form: Option<String>,
    /// Break-glass possible for the caller.
    pub breakglass: bool,
    /// For ssh resources: the principal the caller's certificates log in as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_login: Option<String>,
}

/// A resource as `latchkey resources` shows it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResourceView {
    /// Name.
    pub name: String,
    /// Provider kind.
    pub kind: String,
    /// Description.
    pub description: String,
    /// Roles the caller may request.
    pub roles: Vec<RoleView>,
    /// For ssh resources: where `latchkey ssh` connects, if the catalogue says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<crate::model::policy::ssh::SshHost>,
}

/// A created request and the decision.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Created {
    /// The request.
    pub request: AccessRequest,
    /// Why it is in its state.
    #[schema(value_type = Decision)]
    pub decision: serde_json::Value,
}

/// What a CLI needs to log in.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuthConfig {
    /// The provider's issuer, if one is configured.
    pub issuer: Option<String>,
    /// The CLI's client id.
    pub client_id: Option<String>,
    /// Scopes to request.
    pub scopes: Vec<String>,
    /// Whether the development login is accepted.
    pub dev_login: bool,
}

/// A session as the login endpoints return it (and the CLI saves it).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Session)]
pub struct SessionResponse {
    /// Bearer token.
    pub token: String,
    /// Session id.
    pub session_id: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// User id.
    pub user_id: String,
    /// Email.
    pub email: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// Development session.
    pub dev: bool,
}

/// What `whoami` shows.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WhoAmI {
    /// The principal.
    #[serde(flatten)]
    pub principal: Principal,
    /// Whether the configuration makes them an administrator.
    pub admin: bool,
}

/// A request with its reviews and who can still decide it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RequestView {
    /// The request.
    #[serde(flatten)]
    pub request: AccessRequest,
    /// Reviews so far.
    pub reviews: Vec<Review>,
    /// Approvals counted.
    pub approvals: u32,
    /// Denials counted.
    pub denials: u32,
    /// Who may review it, in words.
    pub reviewers: String,
}

/// A browser login's single-use handle and the nonce to send to the provider.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct BrowserLogin {
    /// Handle to present with the ID token.
    pub login_id: String,
    /// Nonce for the authorization request.
    pub nonce: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// A database login for a grant, as `POST /v1/credentials/db` answers. `Debug` does not
/// print the password.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DbCredentials {
    /// Host to connect to.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Database.
    pub database: String,
    /// The grant's login (`lk_<user>_<request>`).
    pub user: String,
    /// Its password (the same for every credential of the grant's login).
    pub password: String,
    /// libpq's `sslmode`.
    pub sslmode: String,
    /// The group roles the login is a member of: its only privileges.
    pub groups: Vec<String>,
    /// The login ends with the grant, then.
    pub expires_at: DateTime<Utc>,
    /// The grant.
    pub grant_id: String,
    /// The role granted.
    pub role: String,
    /// Whether this call made the login (false: the grant's login, made earlier).
    pub created: bool,
}

impl std::fmt::Debug for DbCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbCredentials")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A request a typed id could mean, when it means more than one: in the body of a
/// 409 `ambiguous_request_id` (`error.candidates`), so the caller can name one.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RequestCandidate {
    /// The whole id.
    pub id: String,
    /// Its short form, unique among the candidates.
    pub short_id: String,
    /// Resource.
    pub resource: String,
    /// Role.
    pub role: String,
    /// State, e.g. `approved`.
    pub state: String,
    /// Who asked.
    pub requester: String,
}

impl RequestCandidate {
    /// The candidates among `requests`, each with its short form.
    pub fn list(requests: &[AccessRequest]) -> Vec<RequestCandidate> {
        let ids: Vec<&str> = requests.iter().map(|r| r.id.as_str()).collect();
        let shorts = crate::model::access::ids::short_ids(&ids);
        requests
            .iter()
            .zip(shorts)
            .map(|(r, short_id)| RequestCandidate {
                id: r.id.clone(),
                short_id,
                resource: r.resource.clone(),
                role: r.role.clone(),
                state: r.state.as_str().to_string(),
                requester: r.requester_name.clone(),
            })
            .collect()
    }

    /// One candidate on one line: short id, resource#role, state, requester.
    pub fn line(&self) -> String {
        format!(
            "{}  {}#{}  {}  {}",
            self.short_id, self.resource, self.role, self.state, self.requester
        )
    }
}

/// An OpenSSH user certificate for a grant, as `POST /v1/credentials/ssh` answers. It holds
/// no secret: the private key never leaves the caller.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SshCertificate {
    /// The certificate, as the one line of a `-cert.pub` file.
    pub certificate: String,
    /// Its serial (what the revocation list names).
    pub serial: u64,
    /// Its key id (what sshd logs).
    pub key_id: String,
    /// Who it may log in as.
    pub principals: Vec<String>,
    /// The principal `latchkey ssh` logs in as.
    pub login: String,
    /// Valid from (back-dated a little for clock skew).
    pub valid_after: DateTime<Utc>,
    /// Valid until: never past the grant.
    pub valid_before: DateTime<Utc>,
    /// The certified key's `SHA256:` fingerprint.
    pub key_fingerprint: String,
    /// The signing CA's `SHA256:` fingerprint.
    pub ca_fingerprint: String,
    /// Extensions granted.
    pub extensions: Vec<String>,
    /// Critical options, by name.
    pub critical_options: std::collections::BTreeMap<String, String>,
    /// Where to connect, if the catalogue says.
    pub host: Option<String>,
    /// Port.
    pub port: Option<u16>,
    /// The host's pinned public key, if the catalogue has one.
    pub host_key: Option<String>,
    /// The grant.
    pub grant_id: String,
    /// The role granted.
    pub role: String,
}

/// A CA key as hosts see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaPublic {
    /// `SHA256:…`.
    pub fingerprint: String,
    /// The `TrustedUserCAKeys` line.
    pub public_key: String,
    /// Whether it signs new certificates (else it is rotated out and trusted until `retire_at`).
    pub active: bool,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When hosts may stop trusting it.
    pub retire_at: Option<DateTime<Utc>>,
    /// Its wire form.
    #[serde(skip)]
    pub blob: Vec<u8>,
}
