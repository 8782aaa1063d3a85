//! `POST /webhook`: store the verified delivery with its job, then answer GitHub.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use tracing::Instrument;

use super::event::DeliveryEnvelope;
use super::extractor::VerifiedDelivery;
use super::recorder::DeliveryRecorder;
use super::signature::WebhookSecrets;
use crate::store::{NewDelivery, RecordResult};

/// What the intake needs: the secrets to verify with and the writer to store through.
#[derive(Clone, Debug)]
pub struct IntakeState {
    /// Accepted webhook secrets.
    pub secrets: WebhookSecrets,
    /// The group-commit writer.
    pub recorder: DeliveryRecorder,
}

impl FromRef<IntakeState> for WebhookSecrets {
    fn from_ref(state: &IntakeState) -> Self {
        state.secrets.clone()
    }
}

/// Stores the delivery and answers 202, or 200 for a redelivery already stored. A store
/// failure answers 503 so the delivery shows as failed in GitHub and can be redelivered.
pub async fn receive_webhook(
    State(state): State<IntakeState>,
    delivery: VerifiedDelivery,
) -> impl IntoResponse {
    let envelope = DeliveryEnvelope::from_body(&delivery.body);
    let span = tracing::info_span!(
        "webhook",
        delivery = %delivery.id,
        event = %delivery.event,
        action = envelope.action.as_deref().unwrap_or(""),
        repo = envelope.repository.as_ref().map(|r| r.0.as_str()).unwrap_or(""),
    );
    async move {
        let stored = state
            .recorder
            .record(NewDelivery {
                id: delivery.id,
                event: delivery.event,
                action: envelope.action,
                installation: envelope.installation,
                repository: envelope.repository,
                body: delivery.body,
            })
            .await;
        match stored {
            Ok(RecordResult::Stored) => {
                tracing::debug!("delivery stored");
                (StatusCode::ACCEPTED, "stored")
            }
            Ok(RecordResult::Duplicate) => {
                tracing::debug!("delivery already stored (a redelivery)");
                (StatusCode::OK, "duplicate delivery, already stored")
            }
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "could not store delivery");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "could not store the delivery",
                )
            }
        }
    }
    .instrument(span)
    .await
}
