//! Extractors: the authenticated [`Principal`], and where a request came from.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderValue};

use crate::edges::http::error::ApiError;
use crate::edges::http::state::AppState;
use crate::model::domain::ClientInfo;
use crate::model::domain::Principal;

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthenticated("no session token; run `latchkey login`"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(crate::edges::http::bearer::token)
            .ok_or_else(|| {
                ApiError::unauthenticated(
                    "the Authorization header must be `Bearer <session token>`",
                )
            })?;
        let principal = state
            .app
            .sessions
            .authenticate(token, chrono::Utc::now())
            .await?;
        tracing::Span::current().record("user", principal.user_id.as_str());
        Ok(principal)
    }
}

/// The peer address and user agent of a request.
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Client(client_info(&parts.headers, &parts.extensions)))
    }
}

/// The peer address and user agent of a request's headers and extensions.
fn client_info(headers: &HeaderMap, extensions: &Extensions) -> ClientInfo {
    Caller::of(headers, extensions).client()
}

/// What an [`Origin`](crate::model::audit::Origin) is made of, kept (as cheap copies) from a
/// request that is handed on, for when one is needed.
pub struct Caller {
    peer: Option<SocketAddr>,
    user_agent: Option<HeaderValue>,
    request_id: Option<HeaderValue>,
}

impl Caller {
    /// The parts of `headers` and `extensions` an origin reads.
    pub fn of(headers: &HeaderMap, extensions: &Extensions) -> Self {
        let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        Self::with_peer(peer, headers)
    }

    /// The parts of `headers` an origin reads, and the caller's address.
    pub fn with_peer(peer: Option<SocketAddr>, headers: &HeaderMap) -> Self {
        Self {
            peer,
            user_agent: headers.get(USER_AGENT).cloned(),
            request_id: headers.get(crate::edges::http::state::REQUEST_ID).cloned(),
        }
    }

    fn client(&self) -> ClientInfo {
        ClientInfo {
            addr: self.peer.map(|p| p.ip().to_string()),
            user_agent: self
                .user_agent
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(256).collect()),
        }
    }

    /// The origin.
    pub fn origin(&self) -> crate::model::audit::Origin {
        crate::model::audit::Origin {
            request_id: self
                .request_id
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            client: self.client(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for crate::model::audit::Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller::of(&parts.headers, &parts.extensions).origin())
    }
}
