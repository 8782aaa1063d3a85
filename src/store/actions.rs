//! Actions a person takes on the dashboard (Retry, Cancel, Re-verify): the web process
//! only checks who pressed the button and queues a job; a worker with the App's
//! credentials carries it out, the same way as the matching slash command.

use serde::{Deserialize, Serialize};

use super::jobs::{JobKind, NewJob};
use super::runs::RunId;
use crate::types::Login;

/// Attempts an action job gets (GitHub failing for a while).
const ACTION_MAX_ATTEMPTS: i64 = 5;

/// What a person asked for on a run's page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum DashboardAction {
    /// Queue a failed task again (`/flotilla retry N`).
    Retry {
        /// The task's position in the plan.
        position: i64,
    },
    /// Stop the run (`/flotilla cancel`).
    Cancel,
    /// Verify a task's current head again (the check run's "Re-verify").
    Reverify {
        /// The task's position in the plan.
        position: i64,
    },
}

impl DashboardAction {
    /// The button's words, for the reply on the issue.
    pub fn label(&self) -> String {
        match self {
            Self::Retry { position } => format!("Retry on task {position}"),
            Self::Cancel => "Cancel".to_owned(),
            Self::Reverify { position } => format!("Re-verify on task {position}"),
        }
    }
}

/// The payload of a `dashboard_action` job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ActionJob {
    /// The run whose page the button is on.
    pub run_id: RunId,
    /// What was asked.
    pub action: DashboardAction,
    /// Who pressed it (checked for write access by the web process).
    pub actor: Login,
    /// A fresh id per press: the job's key and the reply's.
    pub request: String,
}

impl NewJob {
    /// The job that carries out one press of a dashboard button.
    pub fn dashboard_action(job: &ActionJob) -> Self {
        Self {
            kind: JobKind::DashboardAction,
            key: format!("dashboard:{}", job.request),
            payload: serde_json::json!(job),
            max_attempts: ACTION_MAX_ATTEMPTS,
        }
    }
}
