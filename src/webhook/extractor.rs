//! The axum extractor that turns a request into a verified delivery.
//!
//! Verification happens here, so no handler ever sees an unverified body: the signature
//! is checked against the raw bytes before anything is parsed or stored.

use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::signature::{SignatureError, WebhookSecrets};
use crate::types::DeliveryId;

/// GitHub's cap on a webhook payload. Anything up to it must be accepted: a 413 is a
/// failed delivery that GitHub never retries by itself.
pub const MAX_WEBHOOK_BODY: usize = 25 * 1024 * 1024;

/// A webhook request whose signature matched one of the configured secrets.
#[derive(Clone, Debug)]
pub struct VerifiedDelivery {
    /// `X-GitHub-Delivery`.
    pub id: DeliveryId,
    /// `X-GitHub-Event`.
    pub event: String,
    /// The raw body, exactly as signed.
    pub body: Bytes,
}

/// Why a webhook request was refused before anything was stored.
#[derive(Debug, thiserror::Error)]
pub enum IntakeRejection {
    /// The signature is missing, malformed or wrong (401).
    #[error("{0}")]
    Signature(#[from] SignatureError),
    /// A required GitHub header is missing or not text (400).
    #[error("missing or invalid {0} header")]
    MissingHeader(&'static str),
    /// The body could not be read, or exceeds GitHub's cap.
    #[error("could not read the request body: {message}")]
    Body {
        /// The status axum chose (413 when too large).
        status: StatusCode,
        /// What went wrong.
        message: String,
    },
}

impl IntoResponse for IntakeRejection {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::Signature(_) => StatusCode::UNAUTHORIZED,
            Self::MissingHeader(_) => StatusCode::BAD_REQUEST,
            Self::Body { status, .. } => *status,
        };
        tracing::warn!(%status, reason = %self, "webhook refused");
        (status, self.to_string()).into_response()
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, IntakeRejection> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .ok_or(IntakeRejection::MissingHeader(name))
}

impl<S> FromRequest<S> for VerifiedDelivery
where
    S: Send + Sync,
    WebhookSecrets: FromRef<S>,
{
    type Rejection = IntakeRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| IntakeRejection::Body {
                status: rejection.status(),
                message: rejection.body_text(),
            })?;
        let signature = headers
            .get("x-hub-signature-256")
            .map(|value| value.as_bytes());
        WebhookSecrets::from_ref(state).verify(signature, &body)?;
        let event = header(&headers, "x-github-event")?.to_owned();
        let id = DeliveryId(header(&headers, "x-github-delivery")?.to_owned());
        Ok(Self { id, event, body })
    }
}
