//! A button pressed on the dashboard, carried out by a worker like the matching slash
//! command, with a reply on the issue so the people watching it see who did what.

use anyhow::Context;

use super::FleetHandlers;
use super::text::{self, Outcome};
use crate::store::{ActionJob, DashboardAction, RunRecord};

impl FleetHandlers {
    /// Carries out one press of Retry, Cancel or Re-verify (the web process checked
    /// that its author has write access) and answers on the run's issue, once.
    pub(super) async fn on_dashboard_action(&self, job: &ActionJob) -> anyhow::Result<()> {
        let run = self
            .store
            .run(job.run_id)
            .await?
            .context("run not stored")?;
        let client = self.fleet.client(run.spec.installation).await?;
        let outcome = match &job.action {
            DashboardAction::Retry { position } => {
                self.retry_tasks(&client, &run, Some(*position)).await?
            }
            DashboardAction::Cancel => self.cancel_now(&run).await?,
            DashboardAction::Reverify { position } => {
                self.reverify_task(&run, *position, &job.request).await?
            }
        };
        tracing::info!(action = ?job.action, ?outcome, "dashboard action carried out");
        self.post_once(
            &client,
            &run.spec.repo,
            run.spec.issue,
            &format!("dashboard request={}", job.request),
            &text::dashboard_reply(&job.actor, &job.action, &outcome),
        )
        .await
    }

    /// Verifies the current head of the task at `position` again.
    async fn reverify_task(
        &self,
        run: &RunRecord,
        position: i64,
        request: &str,
    ) -> anyhow::Result<Outcome> {
        let tasks = self.store.tasks_of_run(run.id).await?;
        let Some(task) = tasks.iter().find(|t| t.position == position) else {
            return Ok(Outcome::NoSuchTask(position));
        };
        let Some(head) = &task.head_sha else {
            return Ok(Outcome::NoHead(position));
        };
        if !self
            .store
            .reverify(task.id, head, &format!("dashboard-{request}"))
            .await?
        {
            return Ok(Outcome::CannotReverify {
                position,
                state: task.state,
            });
        }
        self.progress(run.id).await?;
        Ok(Outcome::Reverifying(position))
    }
}
