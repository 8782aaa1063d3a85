//! The dashboard's buttons: Retry (a failed task), Cancel (the run) and Re-verify (a
//! task's head). Each checks the form's CSRF token and that the viewer has write
//! access to the run's repository (403 otherwise), then queues a job that a worker
//! carries out like the matching slash command, and sends the viewer back to the run.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{DashboardState, PageError, visible_run};
use crate::links::paths;
use crate::store::{ActionJob, DashboardAction, NewJob, RunId};
use crate::types::Login;
use crate::web::auth::{Access, Viewer, verify_csrf};

/// A button's form: only the CSRF token.
#[derive(Debug, Deserialize)]
pub(super) struct ButtonForm {
    csrf: Option<String>,
}

/// The buttons on a task's row, as the last segment of their path.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum TaskButton {
    /// `…/retry`: queue a failed task again.
    Retry,
    /// `…/reverify`: verify the task's current head again.
    Reverify,
}

/// `POST /runs/{run}/tasks/{position}/{retry|reverify}`.
pub(super) async fn task_button(
    State(state): State<DashboardState>,
    viewer: Viewer,
    Path((run, position, button)): Path<(i64, i64, TaskButton)>,
    Form(form): Form<ButtonForm>,
) -> Response {
    let action = match button {
        TaskButton::Retry => DashboardAction::Retry { position },
        TaskButton::Reverify => DashboardAction::Reverify { position },
    };
    press(&state, &viewer, RunId(run), form, action).await
}

/// `POST /runs/{run}/cancel`.
pub(super) async fn cancel(
    State(state): State<DashboardState>,
    viewer: Viewer,
    Path(run): Path<i64>,
    Form(form): Form<ButtonForm>,
) -> Response {
    press(&state, &viewer, RunId(run), form, DashboardAction::Cancel).await
}

/// Checks the press and queues its job.
async fn press(
    state: &DashboardState,
    viewer: &Viewer,
    run: RunId,
    form: ButtonForm,
    action: DashboardAction,
) -> Response {
    if let Err(rejected) = verify_csrf(viewer, form.csrf.as_deref()) {
        return rejected.into_response();
    }
    let outcome = async {
        let (run, access) = visible_run(state, viewer, run).await?;
        if access != Access::Write {
            return Err(PageError::Forbidden(
                "you need write access to the repository to do this",
            ));
        }
        let job = ActionJob {
            run_id: run.id,
            action,
            actor: Login(viewer.login.clone()),
            request: uuid::Uuid::new_v4().simple().to_string(),
        };
        state.store.enqueue(&NewJob::dashboard_action(&job)).await?;
        tracing::info!(run = %run.id, actor = %viewer.login, action = ?job.action, "dashboard action queued");
        Ok(run.id)
    }
    .await;
    match outcome {
        Ok(run) => Redirect::to(&format!("{}?queued=1", paths::run(run))).into_response(),
        Err(error) => error.into_response(),
    }
}
