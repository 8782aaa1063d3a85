//! Reconciliation after downtime: what people did on GitHub while Flotilla was not
//! listening. Missed-event recovery asks GitHub to send lost webhooks again, but
//! GitHub keeps deliveries only for a few days and a crash can also leave Flotilla's
//! own writes half done; so after each recovery pass every live run is compared with
//! GitHub itself.
//!
//! Each difference is repaired through the same function the webhook handler calls
//! (`on_issue_closed`, `pull_merged`, `pull_cannot_land`, `head_pushed`), whose store
//! transitions are conditional, so a pass that races a redelivered event, or a second
//! pass, changes nothing more. What a pass repaired is said once on the issue; a
//! `flotilla/verify` a crash left in progress is closed (and its head verified again
//! when no job will). A trigger label removed while away changes nothing, as it does
//! live: the label only starts runs; closing the issue or `/flotilla cancel` stops one.

use tracing::Instrument;

use super::FleetHandlers;
use super::publish::{CheckTarget, complete_check};
use super::review_events::PushedHead;
use super::text;
use crate::github::{CheckStatus, InstallationClient, IssueState};
use crate::review::VERIFY_CHECK;
use crate::store::{JobState, RunRecord, RunState, TaskRecord, TaskState};
use crate::types::{CommitSha, PrNumber};
use crate::webhook::event::AutoMergeState;

/// One difference between GitHub and the store that a pass repaired, as the issue
/// is told about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Repair {
    /// The issue was closed: the run is cancelled.
    IssueClosed,
    /// The task's pull request was merged by someone else.
    Merged {
        /// The task's position in the plan.
        task: i64,
        /// Its pull request.
        pr: PrNumber,
    },
    /// The pull request was closed unmerged or its branch deleted: the task failed.
    CannotLand {
        /// The task's position in the plan.
        task: i64,
        /// Why, as the plan shows it.
        reason: String,
    },
    /// A person pushed a new head: it is being verified.
    Pushed {
        /// The task's position in the plan.
        task: i64,
        /// Its pull request.
        pr: PrNumber,
        /// The new head.
        head: CommitSha,
    },
    /// A `flotilla/verify` was left in progress on the task's head.
    CheckInterrupted {
        /// The task's position in the plan.
        task: i64,
        /// The head it reported on.
        head: CommitSha,
        /// Whether the head is being verified again.
        again: bool,
    },
}

impl Repair {
    /// A short stable name, so the comment about a set of repairs is posted once.
    fn key(&self) -> String {
        match self {
            Self::IssueClosed => "closed".to_owned(),
            Self::Merged { task, .. } => format!("merged-{task}"),
            Self::CannotLand { task, .. } => format!("failed-{task}"),
            Self::Pushed { task, head, .. } => format!("pushed-{task}-{head}"),
            Self::CheckInterrupted { task, head, .. } => format!("check-{task}-{head}"),
        }
    }
}

impl FleetHandlers {
    /// Compares every live run with GitHub and repairs what changed while Flotilla
    /// was away; returns how many repairs were made. A run whose comparison fails is
    /// logged and left for the next pass.
    pub(super) async fn reconcile(&self) -> anyhow::Result<usize> {
        let mut runs = self.store.runs_in_state(RunState::Planning).await?;
        runs.extend(self.store.runs_in_state(RunState::Active).await?);
        let mut repaired = 0;
        for run in runs {
            let span = tracing::info_span!("reconcile", run = %run.id, repo = %run.spec.repo, issue = %run.spec.issue);
            match self.reconcile_run(&run).instrument(span).await {
                Ok(repairs) => repaired += repairs,
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "reconciling the run failed; trying again at the next pass");
                }
            }
        }
        Ok(repaired)
    }

    /// One run: the issue first (closed means cancelled), then each task whose pull
    /// request is in review.
    async fn reconcile_run(&self, run: &RunRecord) -> anyhow::Result<usize> {
        let client = self.fleet.client(run.spec.installation).await?;
        let issue = client.get_issue(&run.spec.repo, run.spec.issue).await?;
        let mut repairs = Vec::new();
        if issue.state == IssueState::Closed {
            self.on_issue_closed(&run.spec.repo, run.spec.issue).await?;
            repairs.push(Repair::IssueClosed);
        } else {
            for task in self.store.tasks_of_run(run.id).await? {
                repairs.extend(self.reconcile_task(&client, run, &task).await?);
            }
        }
        if repairs.is_empty() {
            return Ok(0);
        }
        tracing::info!(?repairs, "reconciled the run with GitHub");
        let keys: Vec<String> = repairs.iter().map(Repair::key).collect();
        self.post_once(
            &client,
            &run.spec.repo,
            run.spec.issue,
            &format!("reconciled run={} {}", run.id, keys.join(" ")),
            &text::caught_up(&repairs),
        )
        .await?;
        Ok(repairs.len())
    }

    /// One task with a pull request in review: merged, closed, branch gone, pushed, or
    /// a check left in progress.
    async fn reconcile_task(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        task: &TaskRecord,
    ) -> anyhow::Result<Option<Repair>> {
        let (Some(pr), Some(head)) = (task.pr, &task.head_sha) else {
            return Ok(None);
        };
        if !task.state.is_in_review() && task.state != TaskState::NeedsHuman {
            return Ok(None);
        }
        let position = task.position;
        let pull = client.get_pull(&run.spec.repo, pr).await?;
        if pull.merged {
            self.pull_merged(task, pull.merge_commit_sha).await?;
            return Ok(Some(Repair::Merged { task: position, pr }));
        }
        let reason = if !client.branch_exists(&run.spec.repo, &task.branch).await? {
            Some(text::branch_deleted_reason(&task.branch, pr))
        } else if !pull.open {
            Some(text::pull_closed_reason(pr, None))
        } else {
            None
        };
        if let Some(reason) = reason {
            let failed = self.pull_cannot_land(task, &reason).await?;
            return Ok(failed.then_some(Repair::CannotLand {
                task: position,
                reason,
            }));
        }
        if pull.head_sha != *head {
            let pushed = PushedHead {
                pr,
                head: pull.head_sha.clone(),
                auto_merge: AutoMergeState::Unknown,
            };
            let queued = self.head_pushed(task, &pushed).await?;
            return Ok(queued.then_some(Repair::Pushed {
                task: position,
                pr,
                head: pull.head_sha,
            }));
        }
        self.close_interrupted_checks(client, run, task, head).await
    }

    /// Closes the `flotilla/verify` check runs left in progress on `head` while no
    /// worker runs a verification of it (one that runs may still publish into its
    /// own). When no verification of the head is queued either and the task was
    /// being verified, the head is verified again.
    async fn close_interrupted_checks(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
        task: &TaskRecord,
        head: &CommitSha,
    ) -> anyhow::Result<Option<Repair>> {
        let left: Vec<_> = client
            .list_check_runs(&run.spec.repo, &head.0)
            .await?
            .into_iter()
            .filter(|c| {
                c.app_id == Some(self.fleet.config.app_id)
                    && c.name == VERIFY_CHECK
                    && c.status != CheckStatus::Completed
            })
            .collect();
        if left.is_empty() {
            return Ok(None);
        }
        let in_hand = self.store.verification_in_hand(task.id, head).await?;
        if in_hand == Some(JobState::Running) {
            return Ok(None);
        }
        let verify_now =
            in_hand.is_none() && matches!(task.state, TaskState::Proposed | TaskState::Verifying);
        let again = verify_now || in_hand.is_some();
        for check in &left {
            complete_check(
                client,
                &run.spec.repo,
                CheckTarget::Started(check.id),
                text::check_interrupted(again),
                Vec::new(),
            )
            .await?;
            tracing::info!(check = check.id.0, %head, again, "closed a flotilla/verify left in progress");
        }
        if verify_now
            && self
                .store
                .reverify(task.id, head, &format!("interrupted-{}", left[0].id.0))
                .await?
        {
            self.progress(run.id).await?;
        }
        Ok(Some(Repair::CheckInterrupted {
            task: task.position,
            head: head.clone(),
            again,
        }))
    }
}
