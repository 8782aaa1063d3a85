//! GitHub-shaped API errors: a status code and `{message, documentation_url}`.
//!
//! Every route returns `Result<_, ApiError>`; bad input from a client becomes a 4xx here,
//! never a panic.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

/// An error answered the way GitHub answers it.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// GitHub's `message`.
    pub message: String,
    /// Extra headers (e.g. `WWW-Authenticate`, `retry-after`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// 404 "Not Found", as GitHub answers for anything missing or hidden.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found")
    }

    /// 401 "Bad credentials".
    pub fn bad_credentials() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Bad credentials")
    }

    /// 422 with GitHub's "Validation Failed"-style message.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// 400 for a body that does not parse.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 500 for a failure inside the simulator itself (git, disk).
    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("simulator error: {err}"),
        )
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::internal(format!("{err:#}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "message": self.message,
            "documentation_url": "https://docs.github.com/rest",
            "status": self.status.as_u16().to_string(),
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        for (name, value) in self.headers {
            if let Ok(value) = value.parse() {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

/// The result type of every route.
pub type ApiResult<T> = Result<T, ApiError>;

/// Parses a JSON body into `T`, answering 400/422 as GitHub does for bad bodies.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    if body.is_empty() {
        return serde_json::from_slice(b"{}")
            .map_err(|e| ApiError::unprocessable(format!("Invalid request.\n\n{e}")));
    }
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::bad_request("Problems parsing JSON")
        } else {
            ApiError::unprocessable(format!("Invalid request.\n\n{e}"))
        }
    })
}

/// A route's JSON body, parsed by [`parse_body`]: a body GitHub would refuse is answered
/// 400 or 422 before the route runs.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        parse_body(&body)
            .map(Self)
            .map_err(IntoResponse::into_response)
    }
}
