//! The logged-in user, as an extractor: a handler that takes [`Viewer`] is never
//! reached by an anonymous request (a GET is sent to `/login`, anything else gets 401).

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::SecretString;

use crate::escape;
use crate::types::RepoName;

use super::AuthState;
use super::access::Access;
use super::csrf::CsrfToken;

/// A user who logged in with GitHub.
#[derive(Clone, Debug)]
pub struct Viewer {
    /// Their GitHub login.
    pub login: String,
    token: SecretString,
    csrf: String,
}

impl Viewer {
    /// What this user may do on `repo`, as GitHub tells it through their own token.
    pub async fn access(&self, auth: &AuthState, repo: &RepoName) -> anyhow::Result<Access> {
        let inner = &auth.inner;
        inner
            .access
            .lookup(
                &inner.http,
                &inner.config.api_base,
                &self.login,
                &self.token,
                repo,
            )
            .await
    }

    /// The token this session's forms must carry in their `csrf` field.
    pub fn csrf_token(&self) -> CsrfToken {
        CsrfToken(self.csrf.clone())
    }

    /// The session's CSRF token, for [`super::verify_csrf`].
    pub(super) fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Why a request has no viewer.
#[derive(Debug)]
pub enum NotLoggedIn {
    /// A page: go log in, then come back to `next`.
    Redirect(String),
    /// Any other method: 401.
    Unauthorized,
}

impl IntoResponse for NotLoggedIn {
    fn into_response(self) -> Response {
        match self {
            Self::Redirect(next) => {
                Redirect::to(&format!("/login?next={}", escape::percent(&next))).into_response()
            }
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Cookie")],
                "log in first: /login",
            )
                .into_response(),
        }
    }
}

impl<S> FromRequestParts<S> for Viewer
where
    S: Send + Sync,
    AuthState: FromRef<S>,
{
    type Rejection = NotLoggedIn;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, NotLoggedIn> {
        let auth = AuthState::from_ref(state);
        let session = auth.inner.sessions.open(&parts.headers);
        match session {
            Some(session) => Ok(Viewer {
                login: session.login,
                token: session.token,
                csrf: session.csrf,
            }),
            None if parts.method == Method::GET || parts.method == Method::HEAD => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map_or("/", |pq| pq.as_str())
                    .to_owned();
                Err(NotLoggedIn::Redirect(next))
            }
            None => Err(NotLoggedIn::Unauthorized),
        }
    }
}
