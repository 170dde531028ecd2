//! The identity provider as an OpenID Connect client, through the `openidconnect` crate:
//! discovery (the document must name exactly the configured issuer, and brings the
//! provider's JWKS), the device authorization grant (RFC 8628) and the authorization code
//! flow with PKCE (RFC 7636). The server's ID token verifier ([`crate::adapters::auth::jwks`]), the CLI's
//! `login` and Slack's fresh-login confirmation all reach the provider through this one
//! client, over the caller's `reqwest` client (which must not follow redirects).

use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType,
    CoreClient, CoreClientAuthMethod, CoreDeviceAuthorizationResponse, CoreGrantType,
    CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthorizationCode, ClientId, CsrfToken, DeviceAuthorizationUrl,
    DiscoveryError, ErrorResponse, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadata, RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};

use crate::model::error_chain::error_chain;

/// The discovery document's field for the device flow, which core metadata leaves out.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct DeviceEndpoint {
    device_authorization_endpoint: Option<DeviceAuthorizationUrl>,
}
impl AdditionalProviderMetadata for DeviceEndpoint {}

type Metadata = ProviderMetadata<
    DeviceEndpoint,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Why talking to the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Unreachable, or an answer that is not OpenID Connect.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// The discovery document names another issuer than the configured one.
    #[error("the identity provider's discovery document names another issuer: {0}")]
    WrongIssuer(String),
    /// The provider answered with an OAuth error (`access_denied`, `invalid_grant`…).
    #[error("the identity provider refused: {code}{}", describe(.description))]
    Refused {
        /// The OAuth `error` code.
        code: String,
        /// Its `error_description`, when given.
        description: Option<String>,
    },
    /// The provider publishes no device authorization endpoint.
    #[error("the identity provider does not offer the device flow")]
    NoDeviceFlow,
    /// The token response carries no ID token.
    #[error("the identity provider returned no ID token (is the `openid` scope allowed?)")]
    NoIdToken,
}

fn describe(description: &Option<String>) -> String {
    description
        .as_deref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default()
}

/// One authorization code login: what the authorization URL carries and the code
/// exchange must repeat.
pub struct CodeLogin<'a> {
    /// Where the provider sends the browser back.
    pub redirect_uri: &'a str,
    /// The `state` the redirect must bring back.
    pub state: &'a str,
    /// The nonce the ID token must carry (issued by the broker).
    pub nonce: &'a str,
    /// The PKCE code verifier (43 to 128 characters); the URL carries its S256 challenge.
    pub pkce_verifier: &'a str,
    /// Ask for a new authentication (`prompt=login`, `max_age=0`), not a remembered one.
    pub fresh: bool,
}

/// A started device login: what to show the human, and what to poll with.
pub struct DeviceLogin(CoreDeviceAuthorizationResponse);

impl DeviceLogin {
    /// The page to open.
    pub fn verification_uri(&self) -> &str {
        self.0.verification_uri().as_str()
    }
    /// The same page with the code filled in, when the provider gives one.
    pub fn verification_uri_complete(&self) -> Option<&str> {
        self.0
            .verification_uri_complete()
            .map(|u| u.secret().as_str())
    }
    /// The code to enter.
    pub fn user_code(&self) -> &str {
        self.0.user_code().secret()
    }
}

/// A discovered provider, for one client id and its scopes.
#[derive(Clone)]
pub struct Provider {
    metadata: Metadata,
    client_id: ClientId,
    /// Besides `openid`, which the crate always asks for.
    scopes: Vec<Scope>,
    http: reqwest::Client,
}

impl Provider {
    /// Reads `issuer`'s discovery document and its JWKS; refuses a document that names
    /// another issuer (compared exactly: a trailing slash or another host is another issuer).
    pub async fn discover(
        http: reqwest::Client,
        issuer: &str,
        client_id: &str,
        scopes: &[String],
    ) -> Result<Self, ProviderError> {
        let issuer_url = IssuerUrl::new(issuer.to_string()).map_err(|e| {
            ProviderError::Unavailable(format!("the issuer {issuer:?} is not a URL: {e}"))
        })?;
        let metadata = Metadata::discover_async(issuer_url, &http)
            .await
            .map_err(discovery_error)?;
        Ok(Self {
            metadata,
            client_id: ClientId::new(client_id.to_string()),
            scopes: scopes
                .iter()
                .filter(|s| s.as_str() != "openid")
                .map(|s| Scope::new(s.clone()))
                .collect(),
            http,
        })
    }

    /// The issuer, as discovered (equal to the configured one).
    pub fn issuer(&self) -> &str {
        self.metadata.issuer().as_str()
    }

    /// The provider's signing keys, fetched with the discovery document.
    pub fn jwks(&self) -> &CoreJsonWebKeySet {
        self.metadata.jwks()
    }

    fn client(&self) -> CoreClientFor {
        CoreClient::from_provider_metadata(self.metadata.clone(), self.client_id.clone(), None)
    }

    /// The authorization URL of a code login (`response_type=code`, S256 challenge).
    pub fn authorization_url(&self, login: &CodeLogin<'_>) -> Result<url::Url, ProviderError> {
        let verifier = pkce_verifier(login.pkce_verifier)?;
        let redirect = redirect_url(login.redirect_uri)?;
        let (state, nonce) = (login.state.to_string(), login.nonce.to_string());
        let client = self.client().set_redirect_uri(redirect);
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .add_scopes(self.scopes.iter().cloned())
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier));
        if login.fresh {
            request = request
                .add_prompt(CoreAuthPrompt::Login)
                .set_max_age(Duration::ZERO);
        }
        Ok(request.url().0)
    }

    /// Exchanges the code a login's redirect brought for the provider's ID token (compact JWS).
    pub async fn exchange_code(
        &self,
        code: &str,
        login: &CodeLogin<'_>,
    ) -> Result<String, ProviderError> {
        let client = self
            .client()
            .set_redirect_uri(redirect_url(login.redirect_uri)?);
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| ProviderError::Unavailable(e.to_string()))?
            .set_pkce_verifier(pkce_verifier(login.pkce_verifier)?)
            .request_async(&self.http)
            .await
            .map_err(token_error)?;
        response
            .id_token()
            .map(ToString::to_string)
            .ok_or(ProviderError::NoIdToken)
    }

    fn device_client(&self) -> Result<DeviceClient, ProviderError> {
        let endpoint = self
            .metadata
            .additional_metadata()
            .device_authorization_endpoint
            .clone()
            .ok_or(ProviderError::NoDeviceFlow)?;
        Ok(self.client().set_device_authorization_url(endpoint))
    }

    /// Starts a device login.
    pub async fn start_device(&self) -> Result<DeviceLogin, ProviderError> {
        let response = self
            .device_client()?
            .exchange_device_code()
            .add_scopes(self.scopes.iter().cloned())
            .request_async(&self.http)
            .await
            .map_err(token_error)?;
        Ok(DeviceLogin(response))
    }

    /// Polls until the human confirms the device login (every `interval` the provider named,
    /// 5 s without one, 5 s more on `slow_down`) or its code expires; returns the ID token.
    pub async fn finish_device(&self, login: &DeviceLogin) -> Result<String, ProviderError> {
        let client = self.device_client()?;
        let response = client
            .exchange_device_access_token(&login.0)
            .map_err(|e| ProviderError::Unavailable(e.to_string()))?
            .request_async(&self.http, tokio::time::sleep, None)
            .await
            .map_err(token_error)?;
        response
            .id_token()
            .map(ToString::to_string)
            .ok_or(ProviderError::NoIdToken)
    }
}

type CoreClientFor = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

type DeviceClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn redirect_url(uri: &str) -> Result<RedirectUrl, ProviderError> {
    RedirectUrl::new(uri.to_string())
        .map_err(|e| ProviderError::Unavailable(format!("the redirect URI is not a URL: {e}")))
}

/// The crate asserts the RFC's length: check it here so a bad value is an error, not a panic.
fn pkce_verifier(verifier: &str) -> Result<PkceCodeVerifier, ProviderError> {
    if !(43..=128).contains(&verifier.len()) {
        return Err(ProviderError::Unavailable(
            "the PKCE code verifier must be 43 to 128 characters".into(),
        ));
    }
    Ok(PkceCodeVerifier::new(verifier.to_string()))
}

fn discovery_error<E: std::error::Error>(e: DiscoveryError<E>) -> ProviderError {
    match e {
        DiscoveryError::Validation(why) => ProviderError::WrongIssuer(why),
        DiscoveryError::Request(e) => ProviderError::Unavailable(chain(&e)),
        DiscoveryError::Response(status, _, why) => {
            ProviderError::Unavailable(format!("HTTP {status}: {why}"))
        }
        DiscoveryError::Parse(e) => {
            ProviderError::Unavailable(format!("the discovery document is invalid: {e}"))
        }
        other => ProviderError::Unavailable(other.to_string()),
    }
}

fn token_error<RE, T>(e: RequestTokenError<RE, T>) -> ProviderError
where
    RE: std::error::Error + 'static,
    T: ErrorResponse + 'static,
{
    match e {
        RequestTokenError::ServerResponse(r) => {
            // The standard error responses serialize to `{"error": …, "error_description": …}`.
            let value = serde_json::to_value(&r).unwrap_or_default();
            let text = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_string);
            ProviderError::Refused {
                code: text("error").unwrap_or_else(|| "unknown".into()),
                description: text("error_description"),
            }
        }
        RequestTokenError::Request(e) => ProviderError::Unavailable(chain(&e)),
        RequestTokenError::Parse(e, _) => {
            ProviderError::Unavailable(format!("the provider's answer is invalid: {e}"))
        }
        RequestTokenError::Other(why) => ProviderError::Unavailable(why),
    }
}

/// An error with its sources, without the URLs reqwest puts in its messages.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = error_chain(e);
    while let Some(at) = out.find(" for url (") {
        let end = out[at..].find(')').map_or(out.len(), |e| at + e + 1);
        out.replace_range(at..end, "");
    }
    out
}
