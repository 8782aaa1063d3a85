//! What a Flotilla without a registered App answers besides its setup page: `/healthz`
//! and `/metrics` as usual, while `/readyz` and `POST /webhook` answer 503 saying the
//! App is not registered, so no event is taken that nothing could act on.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};

use crate::web::{self, OpsState};

/// What `/readyz` and `/webhook` answer until the App is registered.
pub const NOT_REGISTERED: &str =
    "Flotilla's GitHub App is not registered yet: open this server's / page to register it";

/// The standby routes over `ops` (its store answers `/healthz`).
pub fn router(ops: OpsState) -> Router {
    Router::new()
        .route("/healthz", get(web::healthz))
        .route("/metrics", get(web::metrics_text))
        .route("/readyz", get(not_registered))
        .route("/webhook", post(not_registered))
        .with_state(ops)
}

async fn not_registered() -> (StatusCode, &'static str) {
    (StatusCode::SERVICE_UNAVAILABLE, NOT_REGISTERED)
}
