//! The HTTP surface: the router that serves GitHub's webhooks and the health check.

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

use crate::store::Store;
use crate::webhook::extractor::MAX_WEBHOOK_BODY;
use crate::webhook::route::{IntakeState, receive_webhook};

/// Builds the router: `POST /webhook` (verified intake) and `GET /healthz`.
pub fn router(intake: IntakeState, store: Store) -> Router {
    let webhook = Router::new()
        .route("/webhook", post(receive_webhook))
        .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY))
        .with_state(intake);
    let health = Router::new()
        .route("/healthz", get(healthz))
        .with_state(store);
    webhook.merge(health).layer(TraceLayer::new_for_http())
}

/// 200 when the store answers, 503 otherwise: what a load balancer or supervisor polls.
async fn healthz(State(store): State<Store>) -> (StatusCode, &'static str) {
    match tokio::time::timeout(std::time::Duration::from_secs(2), store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok"),
        Ok(Err(error)) => {
            tracing::error!(error = %format!("{error:#}"), "health check: store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "store did not answer in time",
        ),
    }
}
