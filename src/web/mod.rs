//! The HTTP surface: the router that serves GitHub's webhooks, the operator's
//! endpoints (`/healthz`, `/readyz`, `/metrics`) and, when login is configured, the
//! dashboard behind "Login with GitHub" ([`auth`]).

pub mod auth;
pub mod dashboard;
mod metrics_token;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use tower_http::trace::TraceLayer;

use crate::metrics::{self, Metrics};
use crate::orchestrator::worker::WorkerLiveness;
use crate::store::Store;
use crate::webhook::extractor::MAX_WEBHOOK_BODY;
use crate::webhook::route::{IntakeState, receive_webhook};

/// How long a probe waits for the store before calling it unavailable.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// How often a live dashboard page looks for changes in the store.
const LIVE_EVERY: Duration = Duration::from_secs(1);

/// What the operator's endpoints look at.
#[derive(Clone, Debug)]
pub struct OpsState {
    /// The store, which must answer.
    pub store: Store,
    /// The server's metrics, rendered by `/metrics`.
    pub metrics: Metrics,
    /// The job worker pools, which must all be running for `/readyz`.
    pub workers: Vec<WorkerLiveness>,
    /// The bearer token `/metrics` requires; `None` serves it to anyone.
    pub metrics_token: Option<SecretString>,
}

/// Builds the router: `POST /webhook` (verified intake) when this process takes
/// webhooks, `GET /healthz` (liveness), `GET /readyz` (readiness) and `GET /metrics`
/// (Prometheus) always, and with `auth` the login routes and the dashboard.
pub fn router(intake: Option<IntakeState>, ops: OpsState, auth: Option<auth::AuthState>) -> Router {
    let store = ops.store.clone();
    let operator = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(ops);
    let app = match intake {
        Some(intake) => Router::new()
            .route("/webhook", post(receive_webhook))
            .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY))
            .with_state(intake)
            .merge(operator),
        None => operator,
    };
    let dashboard = auth.map(|auth| {
        let pages = dashboard::routes().with_state(dashboard::DashboardState {
            store,
            auth: auth.clone(),
            live_every: LIVE_EVERY,
        });
        auth::routes().with_state(auth).merge(pages)
    });
    app.merge(dashboard.unwrap_or_default())
        .layer(TraceLayer::new_for_http())
}

/// 200 when the store answers, 503 otherwise: what a load balancer or supervisor polls.
pub(crate) async fn healthz(State(ops): State<OpsState>) -> (StatusCode, &'static str) {
    match tokio::time::timeout(STORE_TIMEOUT, ops.store.ping()).await {
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

/// 200 when this process can do its work: the store answers, its migrations are the
/// ones this build embeds, and every job worker runs. 503 with the first reason
/// otherwise, so an orchestrator holds traffic back from it.
async fn readyz(State(ops): State<OpsState>) -> (StatusCode, String) {
    match ready(&ops).await {
        Ok(()) => (StatusCode::OK, "ready".to_owned()),
        Err(reason) => {
            tracing::warn!(%reason, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, reason)
        }
    }
}

/// The readiness checks in order, stopping at the first that fails.
async fn ready(ops: &OpsState) -> Result<(), String> {
    let checked = tokio::time::timeout(STORE_TIMEOUT, async {
        ops.store.ping().await?;
        ops.store.migrations_match().await
    })
    .await;
    match checked {
        Err(_) => return Err("store did not answer in time".to_owned()),
        Ok(Err(error)) => return Err(format!("store unavailable: {error:#}")),
        Ok(Ok(Err(mismatch))) => return Err(format!("migrations: {mismatch}")),
        Ok(Ok(Ok(()))) => {}
    }
    ops.workers
        .iter()
        .try_for_each(WorkerLiveness::check)
        .map_err(|reason| format!("job workers: {reason}"))
}

/// Every metric in the Prometheus text format; 401 without the token when one is
/// configured, 503 when the store cannot be read.
pub(crate) async fn metrics_text(State(ops): State<OpsState>, headers: HeaderMap) -> Response {
    if !metrics_token::allows(ops.metrics_token.as_ref(), &headers) {
        return metrics_token::refused();
    }
    match tokio::time::timeout(STORE_TIMEOUT, ops.metrics.render(&ops.store)).await {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Ok(Err(error)) => {
            tracing::error!(error = %format!("{error:#}"), "metrics: store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "store did not answer in time",
        )
            .into_response(),
    }
}
