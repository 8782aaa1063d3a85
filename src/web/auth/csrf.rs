//! CSRF protection, session-bound: each session holds a random token; every form
//! carries it in a hidden `csrf` field and every POST handler checks it with
//! [`verify_csrf`] before acting. A cross-site page cannot read the token, and the
//! session cookie is `SameSite=Lax` besides.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::viewer::Viewer;

/// The token to put in a form's hidden `csrf` field ([`Viewer::csrf_token`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrfToken(pub String);

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
