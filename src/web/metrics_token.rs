//! `/metrics` closed to all but scrapers holding a token: with `FLOTILLA_METRICS_TOKEN`
//! set, a request must carry `Authorization: Bearer <token>` (compared in constant
//! time) or gets 401. Metrics name repositories and show the fleet's load and spend,
//! which an operator may not want public; without the setting they are served to
//! anyone who reaches the port, as Prometheus scrapers expect.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// Whether `headers` may read `/metrics` when `token` is required (`None`: anyone may).
pub(crate) fn allows(token: Option<&SecretString>, headers: &HeaderMap) -> bool {
    let Some(token) = token else {
        return true;
    };
    let expected = token.expose_secret().as_bytes();
    headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.strip_prefix("Bearer "))
        .any(|given| given.trim().as_bytes().ct_eq(expected).into())
}

/// The answer to a scrape without the token.
pub(crate) fn refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Bearer realm=\"flotilla metrics\"",
        )],
        "/metrics needs Authorization: Bearer <FLOTILLA_METRICS_TOKEN>",
    )
        .into_response()
}
