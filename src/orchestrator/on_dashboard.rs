//! A button pressed on the dashboard, carried out by a worker like the matching slash
//! command, with a reply on the issue so the people watching it see who did what.

use anyhow::Context;

use super::Orchestrator;
use super::comments;
use super::fleet::Fleet;
use crate::store::{ActionJob, DashboardAction, RunRecord};

impl Orchestrator {
    /// Carries out one press of Retry, Cancel or Re-verify (the web process checked
    /// that its author has write access) and answers on the run's issue, once.
    pub(super) async fn on_dashboard_action(
        &self,
        fleet: &Fleet,
        job: &ActionJob,
    ) -> anyhow::Result<()> {
        let run = self
            .store
            .run(job.run_id)
            .await?
            .context("run not stored")?;
        let client = fleet.client(run.installation).await?;
        let outcome = match &job.action {
            DashboardAction::Retry { position } => {
                self.retry_tasks(fleet, &client, &run, Some(*position))
                    .await?
            }
            DashboardAction::Cancel => self.cancel_now(fleet, &run).await?,
            DashboardAction::Reverify { position } => {
                self.reverify_task(fleet, &run, *position, &job.request)
                    .await?
            }
        };
        tracing::info!(action = ?job.action, %outcome, "dashboard action carried out");
        self.post_once(
            &client,
            &run.repo,
            run.issue,
            &format!("dashboard request={}", job.request),
            &comments::dashboard_reply(&job.actor, &job.action, &outcome),
        )
        .await
    }

    /// Verifies the current head of the task at `position` again.
    async fn reverify_task(
        &self,
        fleet: &Fleet,
        run: &RunRecord,
        position: i64,
        request: &str,
    ) -> anyhow::Result<String> {
        let tasks = self.store.tasks_of_run(run.id).await?;
        let Some(task) = tasks.iter().find(|t| t.position == position) else {
            return Ok(format!("the run has no task {position}."));
        };
        let Some(head) = &task.head_sha else {
            return Ok(format!("task {position} has no pull request to verify."));
        };
        if !self
            .store
            .reverify(task.id, head, &format!("dashboard-{request}"))
            .await?
        {
            return Ok(format!(
                "task {position} is {}; only a proposed or verified head can be verified again.",
                task.state.as_str()
            ));
        }
        self.progress(fleet, run.id).await?;
        Ok(format!("task {position} will be verified again."))
    }
}
