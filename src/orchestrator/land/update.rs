//! A head that cannot land as it is: brought up to date with its base (and verified
//! again), sent back to `verified`, or handed to a person on a conflict.

use anyhow::Context;

use crate::orchestrator::text::reasons::{self, ConflictSeen};

use crate::github::{GithubError, InstallationClient, MergeStateStatus};
use crate::orchestrator::FleetHandlers;
use crate::orchestrator::context::TaskContext;
use crate::store::{RunRecord, TaskRecord, TaskState};
use crate::types::CommitSha;

impl FleetHandlers {
    /// GitHub refused the merge (405): find out why and act on it.
    pub(super) async fn not_mergeable(
        &self,
        cx: &TaskContext<'_>,
        head: &CommitSha,
        message: &str,
    ) -> anyhow::Result<()> {
        let TaskContext {
            client, run, task, ..
        } = *cx;
        let pr = task.pr.context("a verified task has a pull request")?;
        let state = client.pull_merge_state(&run.spec.repo, pr).await?;
        tracing::info!(%message, status = ?state.merge_state_status, "GitHub refused the merge");
        match state.merge_state_status {
            MergeStateStatus::Dirty => {
                let reason = reasons::conflicts(
                    pr,
                    &run.spec.default_branch,
                    ConflictSeen::MergeRefused(message),
                );
                self.conflict(client, run, task, head, &reason).await
            }
            MergeStateStatus::Behind => self.bring_up_to_date_to_land(cx, head).await,
            _ => {
                self.back_to_verified(task, head).await?;
                tracing::warn!(%message, "not mergeable yet; the next check event tries again");
                Ok(())
            }
        }
    }

    /// A task that would land but is behind a base that wants branches up to date: it
    /// is brought up to date if it can take the run's landing train, else it waits as
    /// verified until the task holding the train merged or left review (`progress`
    /// wakes it), instead of being brought up to date again after every merge.
    pub(super) async fn bring_up_to_date_to_land(
        &self,
        cx: &TaskContext<'_>,
        head: &CommitSha,
    ) -> anyhow::Result<()> {
        let TaskContext {
            client, run, task, ..
        } = *cx;
        if !self.store.take_landing_train(run.id, task.id).await? {
            tracing::info!(
                "behind its base while another task of the run is brought up to date to \
                 land; waiting for it"
            );
            return self.back_to_verified(task, head).await;
        }
        tracing::info!("behind its base; bringing it up to date first");
        self.update_branch(client, run, task, head).await
    }

    /// Undoes `merging` after a merge that did not happen.
    pub(super) async fn back_to_verified(
        &self,
        task: &TaskRecord,
        head: &CommitSha,
    ) -> anyhow::Result<()> {
        self.store
            .move_task(
                task.id,
                head,
                &[TaskState::Merging],
                TaskState::Verified,
                None,
            )
            .await?;
        Ok(())
    }

    /// Brings a pull request up to the base with GitHub's update-branch; a conflict
    /// goes to a person as `needs_human`. GitHub moves the head later (the call answers
    /// 202): its `pull_request.synchronize` webhook records the new head and verifies
    /// it, so nothing polls the pull request here.
    pub(super) async fn update_branch(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        task: &TaskRecord,
        head: &CommitSha,
    ) -> anyhow::Result<()> {
        let pr = task.pr.context("a task in review has a pull request")?;
        match client.update_pull_branch(&run.spec.repo, pr, head).await {
            Ok(()) => {}
            Err(GithubError::Validation { message }) => {
                let state = client.pull_merge_state(&run.spec.repo, pr).await?;
                if state.merge_state_status == MergeStateStatus::Dirty
                    || message.to_lowercase().contains("conflict")
                {
                    let reason = reasons::conflicts(
                        pr,
                        &run.spec.default_branch,
                        ConflictSeen::AfterAnotherMerged(&message),
                    );
                    return self.conflict(client, run, task, head, &reason).await;
                }
                if state.head_sha != *head {
                    self.store
                        .new_head(task.id, &state.head_sha, "head-moved")
                        .await?;
                    return Ok(());
                }
                return Err(GithubError::Validation { message }.into());
            }
            Err(error) => return Err(error.into()),
        }
        tracing::info!(%pr, "update-branch accepted; its pull_request.synchronize records the new head");
        Ok(())
    }

    /// A pull request that conflicts with its base: a person resolves it.
    pub(super) async fn conflict(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        task: &TaskRecord,
        head: &CommitSha,
        reason: &str,
    ) -> anyhow::Result<()> {
        let moved = self
            .store
            .move_task(
                task.id,
                head,
                &TaskState::IN_REVIEW,
                TaskState::NeedsHuman,
                Some(reason),
            )
            .await?;
        tracing::info!(moved, reason, "conflict with the base");
        if moved {
            let task = self.store.task(task.id).await?.context("task not stored")?;
            self.hand_to_human(client, run, &task, head).await?;
        }
        Ok(())
    }
}
