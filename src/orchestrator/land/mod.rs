//! The `land_task` job: a verified head lands once every required check succeeded on
//! it — ready for review, then auto-merge or a REST merge guarded by the head — one
//! merge at a time per repository. After a merge the run's other pull requests are
//! brought up to the new base and verified again, and a run whose tasks all merged
//! closes its issue.
//!
//! Landing is bound to what was verified: auto-merge is used only where the App can
//! read that the base requires `flotilla/verify` from this App (a ruleset, or classic
//! protection where `administration: read` was granted); otherwise the merge is a REST
//! merge of the verified sha, made only after re-reading Flotilla's own successful
//! `flotilla/verify` on it. A required human approval is checked here too: a person
//! with write access approved that very head.
//!
//! Every GitHub answer on the way is an outcome, not a crash: a head that moved (409)
//! is verified again, a pull request that cannot merge (405) is examined, a conflict
//! goes to a person.

mod after;
mod checks;
mod update;

use std::time::Duration;

use anyhow::Context;

use super::FleetHandlers;
use super::context::TaskContext;
use super::text::reasons::{self, ConflictSeen};
use super::trigger::run_config;
use crate::github::{CheckRun, GithubError, MergeOutcome, MergeStateStatus, PullState};
use crate::review::VERIFY_CHECK;
use crate::store::{ClaimedJob, RunRecord, TaskId, TaskState};
use crate::types::{AppId, CommitSha};

use checks::{approved_by, own_verify_passed};
/// How long a landing job waits for another merge in the same repository.
const MERGE_LOCK_WAIT: Duration = Duration::from_secs(120);

/// How long a merge lock is held at most; a holder whose job died loses it sooner, as
/// soon as the job's lease lapses.
const MERGE_LOCK_LEASE: Duration = Duration::from_secs(300);

/// How often the merge lock is tried while another merge runs.
const MERGE_LOCK_POLL: Duration = Duration::from_millis(250);

/// Who must have reported a required check.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    /// Any check run or commit status of that name.
    Anyone,
    /// Only a check run of the App with this id (protection's `app_id`, a ruleset's
    /// `integration_id`).
    AppId(AppId),
    /// Only a check run of the App with this slug (`name@slug` in the config).
    AppSlug(String),
}

impl Source {
    /// Whether `run` comes from this source.
    fn reported(&self, run: &CheckRun) -> bool {
        match self {
            Self::Anyone => true,
            Self::AppId(app) => run.app_id == Some(*app),
            Self::AppSlug(slug) => run.app_slug.as_deref() == Some(slug.as_str()),
        }
    }
}

/// What the base branch requires, as far as the App can read it.
struct Requirements {
    /// Checks that must succeed besides `flotilla/verify`: `(name, source)`.
    checks: Vec<(String, Source)>,
    /// A ruleset or readable protection requires `flotilla/verify` from this App (or
    /// from anyone): GitHub itself then refuses to merge a head it was not set on, so
    /// auto-merge is safe.
    verify_required: bool,
}

/// What the required checks say about a head.
enum RequiredChecks {
    /// Every required check succeeded.
    Passed,
    /// Some have not reported yet; a check event will try again.
    Pending(Vec<String>),
    /// Some failed: `(name, what it said)`.
    Failed(Vec<(String, String)>),
}
impl FleetHandlers {
    /// Lands `head` of a task if it is verified and everything required holds. A task
    /// left `merging` by a job that died is taken up again: GitHub is asked first
    /// whether the merge already happened.
    pub(super) async fn land_task(
        &self,
        task_id: TaskId,
        head: &CommitSha,
        job: &ClaimedJob,
    ) -> anyhow::Result<()> {
        let task = self.store.task(task_id).await?.context("task not stored")?;
        if task.head_sha.as_ref() != Some(head)
            || !matches!(
                task.state,
                TaskState::Verified | TaskState::Ready | TaskState::Merging
            )
        {
            tracing::info!(state = task.state.as_str(), "nothing to land for this head");
            return Ok(());
        }
        let run = self.run_of(&task).await?;
        let config = run_config(&run)?;
        let tasks = self.store.tasks_of_run(run.id).await?;
        let waiting_for: Vec<i64> = task
            .depends_on
            .iter()
            .copied()
            .filter(|p| {
                tasks
                    .iter()
                    .any(|t| t.position == *p && t.state != TaskState::Merged)
            })
            .collect();
        if !waiting_for.is_empty() {
            tracing::info!(?waiting_for, "waiting for the tasks it builds on to merge");
            return Ok(());
        }
        let client = self.fleet.client(run.spec.installation).await?;
        let requirements = self.requirements(&client, &run, &config).await?;
        match self
            .required_checks(&client, &run, &requirements, head)
            .await?
        {
            RequiredChecks::Pending(names) => {
                tracing::info!(?names, "waiting for required checks");
                return Ok(());
            }
            RequiredChecks::Failed(failures) => {
                return self
                    .checks_failed(&client, &run, &task, head, &failures)
                    .await;
            }
            RequiredChecks::Passed => {}
        }
        let pr = task.pr.context("a verified task has a pull request")?;
        let pull = client.pull_merge_state(&run.spec.repo, pr).await?;
        match pull.state {
            PullState::Merged => {
                return self.record_merge(&client, &run, &task, None).await;
            }
            PullState::Closed => {
                tracing::info!(%pr, "the pull request was closed by someone; not landing it");
                return Ok(());
            }
            PullState::Open => {}
        }
        if pull.head_sha != *head {
            self.store
                .new_head(task.id, &pull.head_sha, "head-moved")
                .await?;
            return self.progress(run.id).await;
        }
        if pull.is_draft {
            client.mark_ready_for_review(&pull.node_id).await?;
        }
        if config.landing.require_human_approval {
            match approved_by(&client, &run, pr, head).await? {
                Some(person) => {
                    tracing::info!(%person, "a person with write access approved this head")
                }
                None => return self.wait_for_person(&run, &task, head).await,
            }
        }
        let holder = format!("{}:{}:job-{}", task.id, head, job.id);
        self.lock_merges(&run, &holder, job.id).await?;
        let cx = TaskContext {
            client: &client,
            run: &run,
            task: &task,
            config: &config,
        };
        let merged = self.merge(&cx, head, &pull.node_id, &requirements).await;
        self.store.unlock_merges(&run.spec.repo, &holder).await?;
        merged?;
        self.progress(run.id).await
    }

    /// Takes the repository's merge lock, waiting for another merge to finish.
    async fn lock_merges(&self, run: &RunRecord, holder: &str, job: i64) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + MERGE_LOCK_WAIT;
        while !self
            .store
            .try_lock_merges(&run.spec.repo, holder, job, MERGE_LOCK_LEASE)
            .await?
        {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "another merge in {} has held the merge lock for over {:?}",
                run.spec.repo,
                MERGE_LOCK_WAIT
            );
            tokio::time::sleep(MERGE_LOCK_POLL).await;
        }
        Ok(())
    }

    /// Merges under the lock: a pull request behind a strict base is first brought up
    /// to date (and verified again), one that conflicts goes to a person; otherwise
    /// auto-merge guarded by the head where the base is known to require
    /// `flotilla/verify`, or a REST merge of the verified sha once Flotilla's own
    /// `flotilla/verify` on it reads as passed.
    async fn merge(
        &self,
        cx: &TaskContext<'_>,
        head: &CommitSha,
        node_id: &str,
        requirements: &Requirements,
    ) -> anyhow::Result<()> {
        let TaskContext {
            client,
            run,
            task,
            config,
        } = *cx;
        let pr = task.pr.context("a verified task has a pull request")?;
        let state = client.pull_merge_state(&run.spec.repo, pr).await?;
        if state.state == PullState::Merged {
            return self.record_merge(client, run, task, None).await;
        }
        if state.head_sha != *head {
            self.store
                .new_head(task.id, &state.head_sha, "head-moved")
                .await?;
            return Ok(());
        }
        if !self
            .store
            .move_task(
                task.id,
                head,
                &[TaskState::Verified, TaskState::Ready, TaskState::Merging],
                TaskState::Merging,
                None,
            )
            .await?
        {
            return Ok(());
        }
        match state.merge_state_status {
            MergeStateStatus::Behind => {
                return self.bring_up_to_date_to_land(cx, head).await;
            }
            MergeStateStatus::Dirty => {
                let reason = reasons::conflicts(pr, &run.spec.default_branch, ConflictSeen::Before);
                return self.conflict(client, run, task, head, &reason).await;
            }
            _ => {}
        }
        let method = config.landing.merge_method;
        if !requirements.verify_required {
            tracing::info!(
                "the base is not known to require {VERIFY_CHECK} from this App; merging the \
                 verified sha through REST, never by auto-merge"
            );
        } else {
            match client.enable_auto_merge(node_id, method, head).await {
                Ok(()) => {
                    tracing::info!("auto-merge enabled; GitHub merges once protection allows");
                    self.store
                        .move_task(
                            task.id,
                            head,
                            &[TaskState::Merging],
                            TaskState::Ready,
                            Some(
                                "auto-merge is on; GitHub merges it once branch protection allows",
                            ),
                        )
                        .await?;
                    return Ok(());
                }
                Err(GithubError::AutoMergeUnavailable { message }) => {
                    tracing::info!(%message, "auto-merge not available; merging through REST");
                }
                Err(error) => {
                    self.back_to_verified(task, head).await?;
                    return Err(error.into());
                }
            }
        }
        if !own_verify_passed(client, run, head, self.fleet.config.app_id).await? {
            self.back_to_verified(task, head).await?;
            tracing::warn!(%head, "Flotilla's own {VERIFY_CHECK} does not read as passed on this head; not merging");
            return Ok(());
        }
        match client.merge_pull(&run.spec.repo, pr, head, method).await {
            Ok(MergeOutcome::Merged { sha }) => {
                tracing::info!(merged = %sha, "merged");
                self.record_merge(client, run, task, Some(sha)).await
            }
            Ok(MergeOutcome::NotMerged { message }) => {
                self.back_to_verified(task, head).await?;
                anyhow::bail!("GitHub did not merge #{pr}: {message}")
            }
            Err(GithubError::Conflict { message }) => {
                tracing::info!(%message, "the head moved during the merge");
                let pull = client.get_pull(&run.spec.repo, pr).await?;
                if pull.merged {
                    return self.record_merge(client, run, task, None).await;
                }
                if !self
                    .store
                    .new_head(task.id, &pull.head_sha, "head-moved")
                    .await?
                {
                    self.back_to_verified(task, head).await?;
                }
                Ok(())
            }
            Err(GithubError::NotMergeable { message }) => {
                self.not_mergeable(cx, head, &message).await
            }
            Err(error) => {
                self.back_to_verified(task, head).await?;
                Err(error.into())
            }
        }
    }
}
