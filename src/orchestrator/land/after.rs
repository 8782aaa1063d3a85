//! After a merge: the task recorded as merged, the run's other pull requests brought up
//! to the new base, and a run whose tasks all merged closed with its issue.

use anyhow::Context;

use crate::github::InstallationClient;
use crate::orchestrator::FleetHandlers;
use crate::orchestrator::text;
use crate::orchestrator::trigger::run_config;
use crate::store::{NewJob, RunRecord, TaskRecord, TaskState};
use crate::types::CommitSha;

impl FleetHandlers {
    /// A merge happened (by Flotilla, or by GitHub's auto-merge): record it, and close
    /// the issue when the whole run merged. Where a person approves each head
    /// (`landing.require_human_approval`), the run's other pull requests are brought up
    /// to the new base now, so the head they approve is the one that lands; otherwise
    /// each is brought up to date when it lands, if protection asks for it (`merge`):
    /// one `update-branch` and one verification per task instead of one per task per
    /// merge before it, each a GitHub write its rate limit counts.
    pub(in crate::orchestrator) async fn record_merge(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        task: &TaskRecord,
        merged: Option<CommitSha>,
    ) -> anyhow::Result<()> {
        let merged = match merged {
            Some(sha) => sha,
            None => {
                let pr = task.pr.context("a merged task has a pull request")?;
                client
                    .get_pull(&run.spec.repo, pr)
                    .await?
                    .merge_commit_sha
                    .context("a merged pull request names its merge commit")?
            }
        };
        if !self.store.mark_merged(task.id, &merged).await? {
            return Ok(());
        }
        self.metrics.task_merged();
        tracing::info!(task = %task.id, %merged, "merge recorded");
        if run_config(run)?.landing.require_human_approval {
            for sibling in self.store.tasks_of_run(run.id).await? {
                // A sibling being verified right now is left as it is: updating it would
                // throw its lenses' work away, and its new head could carry no verdict
                // over (none is stored yet). Its landing brings it up to date.
                if sibling.id == task.id
                    || !sibling.state.is_in_review()
                    || sibling.state == TaskState::Verifying
                {
                    continue;
                }
                let Some(head) = sibling.head_sha.clone() else {
                    continue;
                };
                self.update_branch(client, run, &sibling, &head).await?;
            }
        } else {
            self.land_dependents(run, task).await?;
        }
        let tasks = self.store.tasks_of_run(run.id).await?;
        if tasks.iter().all(|t| t.state == TaskState::Merged) {
            self.close_run(client, run, &tasks).await?;
        }
        self.progress(run.id).await
    }

    /// Tries again to land the verified tasks that waited for `merged` to merge first
    /// (`depends_on`): nothing else would wake them when no update of their branch is
    /// coming.
    pub(super) async fn land_dependents(
        &self,
        run: &RunRecord,
        merged: &TaskRecord,
    ) -> anyhow::Result<()> {
        for dependent in self.store.tasks_of_run(run.id).await? {
            if !dependent.depends_on.contains(&merged.position)
                || !matches!(dependent.state, TaskState::Verified | TaskState::Ready)
            {
                continue;
            }
            let Some(head) = dependent.head_sha.as_ref() else {
                continue;
            };
            let reason = format!("dependency-{}-merged", merged.id);
            self.store
                .enqueue(&NewJob::land_task(dependent.id, head, &reason))
                .await?;
        }
        Ok(())
    }

    /// Every task merged: the summary on the issue, then (if configured) close it.
    pub(super) async fn close_run(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        tasks: &[TaskRecord],
    ) -> anyhow::Result<()> {
        self.post_once(
            client,
            &run.spec.repo,
            run.spec.issue,
            &format!("merged run={}", run.id),
            &text::all_merged(
                run,
                tasks,
                &self.run_spend(run.id).await?,
                &self.fleet.redactor(),
            ),
        )
        .await?;
        let config = run_config(run)?;
        if config.landing.close_issue {
            client.close_issue(&run.spec.repo, run.spec.issue).await?;
            tracing::info!(issue = %run.spec.issue, "every task merged; issue closed");
        }
        Ok(())
    }
}
