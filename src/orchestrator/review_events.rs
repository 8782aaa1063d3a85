//! Events that move verification and landing along: a push by a person to a task's
//! branch (auto-merge off, verify the new head), a person's review (try to land), a
//! merge (record it), a pull request closed unmerged (the task fails), a request to
//! re-verify (the check run's "Re-verify" button or "Re-run"), a CI result (try to
//! land), and the merge queue asking for `flotilla/verify` on a merge group.
//! Reconciliation after downtime calls the same functions for what it finds.
//!
//! Each handler only reads the event to find the task and the head; what it does
//! next is decided from the store and, for anything that merges, from GitHub itself.

use super::FleetHandlers;
use super::publish::{CheckTarget, complete_check};
use super::text;
use super::verify::{NEEDS_HUMAN_LABEL, REVERIFY_ACTION};
use crate::links::DashboardLinks;
use crate::review::VERIFY_CHECK;
use crate::store::{NewJob, TaskRecord, TaskState, VerdictRecord};
use crate::types::{CommitSha, DeliveryId, InstallationId, IssueNumber, PrNumber, RepoName};
use crate::webhook::event::{
    AutoMergeState, CheckRunAction, CheckRunEvent, MergeGroupEvent, PullRequestAction,
    PullRequestEvent, PullRequestReviewAction, PullRequestReviewEvent,
};

/// A new head on a task's pull request, as a `synchronize` event or GitHub's current
/// state shows it.
pub(super) struct PushedHead {
    /// The task's pull request.
    pub(super) pr: PrNumber,
    /// The head now on its branch.
    pub(super) head: CommitSha,
    /// Whether auto-merge is on, when the source says.
    pub(super) auto_merge: AutoMergeState,
}

impl FleetHandlers {
    /// A pull request changed: a new head on a task's branch first loses any
    /// auto-merge (unless Flotilla verified that very head), then is verified again (a
    /// person's fix of a task that needed one loses the `flotilla:needs-human` label);
    /// a merged task is recorded (once; the payload names the merge commit); a task
    /// whose pull request a person closed unmerged fails, saying so in the plan.
    pub(super) async fn on_pull_request(&self, event: &PullRequestEvent) -> anyhow::Result<()> {
        let repo = &event.repository.full_name;
        let Some(task) = self.store.task_by_pr(repo, event.number).await? else {
            return Ok(());
        };
        match &event.action {
            PullRequestAction::Synchronize => {
                let pushed = PushedHead {
                    pr: event.number,
                    head: event.pull_request.head.sha.clone(),
                    auto_merge: event.pull_request.auto_merge,
                };
                self.head_pushed(&task, &pushed).await?;
            }
            PullRequestAction::Closed if event.pull_request.merged == Some(true) => {
                let merged = event.pull_request.merge_commit_sha.clone();
                self.pull_merged(&task, merged).await?;
            }
            PullRequestAction::Closed => {
                let reason = text::pull_closed_reason(event.number, Some(&event.sender.login));
                self.pull_cannot_land(&task, &reason).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// A person pushed `pushed.head` to a task's pull request: auto-merge is stopped
    /// unless Flotilla verified that head, and the head is verified (once per head;
    /// `false` when it already was queued). Shared by `pull_request.synchronize` and
    /// reconciliation after downtime.
    pub(super) async fn head_pushed(
        &self,
        task: &TaskRecord,
        pushed: &PushedHead,
    ) -> anyhow::Result<bool> {
        self.stop_auto_merge_unless_verified(task, pushed).await?;
        let queued = self.store.new_head(task.id, &pushed.head, "pushed").await?;
        if queued {
            tracing::info!(task = %task.id, head = %pushed.head, "new head pushed; verifying it");
            if task.state == TaskState::NeedsHuman
                && let Some(run) = self.store.run(task.run_id).await?
            {
                let client = self.fleet.client(run.spec.installation).await?;
                client
                    .remove_label(&run.spec.repo, IssueNumber(pushed.pr.0), NEEDS_HUMAN_LABEL)
                    .await?;
            }
            self.progress(task.run_id).await?;
        }
        Ok(queued)
    }

    /// A task's pull request merged (by Flotilla, GitHub's auto-merge or a person):
    /// the merge is recorded once, dependents released and the plan updated.
    /// `merged` is the merge commit when the caller knows it.
    pub(super) async fn pull_merged(
        &self,
        task: &TaskRecord,
        merged: Option<CommitSha>,
    ) -> anyhow::Result<()> {
        if task.state == TaskState::Merged {
            return Ok(());
        }
        let Some(run) = self.store.run(task.run_id).await? else {
            return Ok(());
        };
        let client = self.fleet.client(run.spec.installation).await?;
        self.record_merge(&client, &run, task, merged).await
    }

    /// A task's pull request can no longer land (closed unmerged, its branch
    /// deleted): the task fails with `reason`, which the plan comment shows, and the
    /// run moves on (dependents fail with it). Nothing happens (`false`) to a task
    /// that already ended or has no pull request in review.
    pub(super) async fn pull_cannot_land(
        &self,
        task: &TaskRecord,
        reason: &str,
    ) -> anyhow::Result<bool> {
        let Some(head) = &task.head_sha else {
            return Ok(false);
        };
        let failed = self
            .store
            .move_task(
                task.id,
                head,
                &TaskState::OPEN_PULL,
                TaskState::Failed,
                Some(reason),
            )
            .await?;
        if failed {
            tracing::info!(task = %task.id, reason, "the task's pull request cannot land");
            self.progress(task.run_id).await?;
        }
        Ok(failed)
    }

    /// Disables auto-merge on a task's pull request whose new head Flotilla has not
    /// verified (anyone's push, Flotilla's own update-branch): an auto-merge enabled for
    /// an earlier head must not merge this one. A payload that says auto-merge is off
    /// is taken at its word (Flotilla only ever enables auto-merge for the head it
    /// verified, guarded by `expectedHeadOid`); otherwise GitHub is asked first, so a
    /// pull request without auto-merge costs no mutation.
    async fn stop_auto_merge_unless_verified(
        &self,
        task: &TaskRecord,
        pushed: &PushedHead,
    ) -> anyhow::Result<()> {
        if pushed.auto_merge == AutoMergeState::Off {
            return Ok(());
        }
        let head = &pushed.head;
        let verdicts = self.store.verdicts(task.id, head).await?;
        if !verdicts.is_empty() && verdicts.iter().all(VerdictRecord::holds) {
            return Ok(());
        }
        let Some(run) = self.store.run(task.run_id).await? else {
            return Ok(());
        };
        let client = self.fleet.client(run.spec.installation).await?;
        let state = client.pull_merge_state(&run.spec.repo, pushed.pr).await?;
        if state.auto_merge_enabled {
            client.disable_auto_merge(&state.node_id).await?;
            tracing::info!(pr = %pushed.pr, %head, "auto-merge disabled: a head Flotilla did not verify");
        }
        Ok(())
    }

    /// A person reviewed a pull request: an approval may be what a verified head waits
    /// for (`landing.require_human_approval`), so try to land it.
    pub(super) async fn on_review(
        &self,
        delivery: &DeliveryId,
        event: &PullRequestReviewEvent,
    ) -> anyhow::Result<()> {
        if event.action != PullRequestReviewAction::Submitted {
            return Ok(());
        }
        self.try_land(
            &event.repository.full_name,
            &event.pull_request.head.sha,
            delivery,
        )
        .await
    }

    /// A check run event: "Re-run" or "Re-verify" on one of Flotilla's check runs
    /// verifies the head again; another App's completed check (CI) may let a verified
    /// head land.
    pub(super) async fn on_check_run(
        &self,
        delivery: &DeliveryId,
        event: &CheckRunEvent,
    ) -> anyhow::Result<()> {
        let repo = &event.repository.full_name;
        let head = &event.check_run.head_sha;
        let ours = event.check_run.app.id == self.fleet.config.app_id;
        match &event.action {
            CheckRunAction::Rerequested if ours => self.reverify(repo, head, delivery).await,
            CheckRunAction::RequestedAction { identifier }
                if ours && identifier.as_deref() == Some(REVERIFY_ACTION) =>
            {
                self.reverify(repo, head, delivery).await
            }
            CheckRunAction::Completed if !ours => self.try_land(repo, head, delivery).await,
            _ => Ok(()),
        }
    }

    /// Another check finished (a check suite or a commit status): try to land the
    /// verified tasks with that head.
    pub(super) async fn try_land(
        &self,
        repo: &RepoName,
        head: &CommitSha,
        delivery: &DeliveryId,
    ) -> anyhow::Result<()> {
        for task in self.store.tasks_by_head(repo, head).await? {
            if matches!(task.state, TaskState::Verified | TaskState::Ready) {
                tracing::info!(task = %task.id, "a check finished; trying to land");
                self.store
                    .enqueue(&NewJob::land_task(task.id, head, &delivery.to_string()))
                    .await?;
            }
        }
        Ok(())
    }

    /// Verifies the tasks with head `head` again, as a person asked.
    async fn reverify(
        &self,
        repo: &RepoName,
        head: &CommitSha,
        delivery: &DeliveryId,
    ) -> anyhow::Result<()> {
        for task in self.store.tasks_by_head(repo, head).await? {
            let reason = format!("reverify-{delivery}");
            if self.store.reverify(task.id, head, &reason).await? {
                tracing::info!(task = %task.id, %head, "re-verification requested");
                self.progress(task.run_id).await?;
            }
        }
        Ok(())
    }

    /// GitHub's merge queue built a merge group and asks for the required checks on
    /// it. `flotilla/verify` succeeds when every pull request in the group is either
    /// not Flotilla's or a task whose current head holds, so the queue never waits for
    /// a check Flotilla would not send.
    pub(super) async fn on_merge_group(
        &self,
        installation: InstallationId,
        event: &MergeGroupEvent,
    ) -> anyhow::Result<()> {
        let repo = &event.repository.full_name;
        let group = &event.merge_group;
        let mut blocking = Vec::new();
        for pr in group.pull_numbers() {
            let Some(task) = self.store.task_by_pr(repo, pr).await? else {
                continue;
            };
            let holds = match (&task.head_sha, task.state) {
                (
                    Some(head),
                    TaskState::Verified | TaskState::Ready | TaskState::Merging | TaskState::Merged,
                ) => {
                    let verdicts = self.store.verdicts(task.id, head).await?;
                    !verdicts.is_empty() && verdicts.iter().all(VerdictRecord::holds)
                }
                _ => false,
            };
            if !holds {
                blocking.push(format!("#{pr} ({})", task.state.as_str()));
            }
        }
        let client = self.fleet.client(installation).await?;
        tracing::info!(group = %group.head_ref, ?blocking, "merge group checked");
        let target = CheckTarget::New {
            name: VERIFY_CHECK.to_owned(),
            head_sha: group.head_sha.clone(),
            external_id: format!("merge-group:{}", group.head_ref),
            details_url: self
                .fleet
                .config
                .dashboard
                .as_ref()
                .map(DashboardLinks::queue),
        };
        complete_check(
            &client,
            repo,
            target,
            text::merge_group_report(&blocking),
            Vec::new(),
        )
        .await
    }
}
