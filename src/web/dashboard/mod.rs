//! The dashboard: server-rendered pages (askama templates in `templates/dashboard/`)
//! behind "Login with GitHub". A run, its attempts and its verifications are shown only
//! to people who can read the run's repository; Retry, Cancel and Re-verify only to
//! people who can write to it (the same people slash commands obey). Pages of a live
//! run follow it through Server-Sent Events.

mod actions;
mod attempt;
mod format;
mod live;

mod queue;
pub mod run;
mod runs;
pub mod timeline;

use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use super::auth::{Access, AuthState, Viewer};
use crate::links::paths;
use crate::store::{RunId, RunRecord, Store};
use crate::types::RepoName;

/// What the dashboard's handlers share.
#[derive(Clone, Debug)]
pub struct DashboardState {
    /// Where runs, steps and jobs are read (and actions queued).
    pub store: Store,
    /// Login and access checks.
    pub auth: AuthState,
    /// How often a live page's event stream looks for changes.
    pub live_every: Duration,
}

impl FromRef<DashboardState> for AuthState {
    fn from_ref(state: &DashboardState) -> Self {
        state.auth.clone()
    }
}

/// The dashboard's routes; every one requires a logged-in viewer. `/` is the runs page.
pub fn routes() -> Router<DashboardState> {
    Router::new()
        .route("/", get(runs::page))
        .route(paths::RUNS, get(runs::page))
        .route("/runs/{run}", get(run::page))
        .route("/runs/{run}/events", get(live::events))
        .route("/runs/{run}/cancel", post(actions::cancel))
        .route(
            "/runs/{run}/tasks/{position}/{button}",
            post(actions::task_button),
        )
        .route(
            "/runs/{run}/tasks/{position}/attempts/{attempt}",
            get(attempt::attempt_page),
        )
        .route(
            "/runs/{run}/tasks/{position}/verifications/{head}",
            get(attempt::verification_page),
        )
        .route(paths::QUEUE, get(queue::page))
}

/// Why a page is not shown.
#[derive(Debug)]
pub enum PageError {
    /// No such thing, or the viewer may not see it (the two look the same).
    NotFound,
    /// The viewer may see it but not act on it.
    Forbidden(&'static str),
    /// The store or GitHub failed.
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for PageError {
    fn from(error: anyhow::Error) -> Self {
        Self::Internal(error)
    }
}

impl From<askama::Error> for PageError {
    fn from(error: askama::Error) -> Self {
        Self::Internal(error.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                Html(
                    "<!doctype html><title>Not found</title><p>Nothing here, or nothing you \
                      may see. <a href=\"/runs\">All runs</a></p>",
                ),
            )
                .into_response(),
            Self::Forbidden(why) => (StatusCode::FORBIDDEN, why).into_response(),
            Self::Internal(error) => {
                tracing::error!(error = %format!("{error:#}"), "dashboard page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the page could not be built; see the log",
                )
                    .into_response()
            }
        }
    }
}

/// The run `id` and what the viewer may do on its repository; a run the viewer may
/// not read is "not found".
async fn visible_run(
    state: &DashboardState,
    viewer: &Viewer,
    id: RunId,
) -> Result<(RunRecord, Access), PageError> {
    let run = state.store.run(id).await?.ok_or(PageError::NotFound)?;
    match viewer.access(&state.auth, &run.spec.repo).await? {
        Access::None => Err(PageError::NotFound),
        access => Ok((run, access)),
    }
}

/// Whether the viewer may read `repo` (GitHub's answer, cached by the login layer).
pub(super) async fn may_read(
    state: &DashboardState,
    viewer: &Viewer,
    repo: &RepoName,
) -> anyhow::Result<bool> {
    Ok(viewer.access(&state.auth, repo).await? != Access::None)
}
