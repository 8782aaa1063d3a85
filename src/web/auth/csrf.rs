//! CSRF protection, session-bound: each session holds a random token; every form
//! carries it in a hidden `csrf` field and every POST handler checks it with
//! [`verify_csrf`] before acting. A cross-site page cannot read the token, and the
//! session cookie is `SameSite=Lax` besides.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::AuthState;
use super::viewer::{NotLoggedIn, Viewer};

/// The token to put in a form's hidden `csrf` field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrfToken(pub String);

impl<S> FromRequestParts<S> for CsrfToken
where
    S: Send + Sync,
    AuthState: FromRef<S>,
{
    type Rejection = NotLoggedIn;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, NotLoggedIn> {
        Viewer::from_request_parts(parts, state)
            .await
            .map(|viewer| viewer.csrf_token())
    }
}

/// A POST whose `csrf` field is missing or is not its session's token: 403.
#[derive(Debug, thiserror::Error)]
#[error("the form's CSRF token does not match this session; reload the page and retry")]
pub struct CsrfRejected;

impl IntoResponse for CsrfRejected {
    fn into_response(self) -> Response {
        (StatusCode::FORBIDDEN, self.to_string()).into_response()
    }
}

/// Checks a submitted `csrf` field against the viewer's session (constant time).
pub fn verify_csrf(viewer: &Viewer, submitted: Option<&str>) -> Result<(), CsrfRejected> {
    match submitted {
        Some(submitted) if submitted.as_bytes().ct_eq(viewer.csrf().as_bytes()).into() => Ok(()),
        _ => Err(CsrfRejected),
    }
}
