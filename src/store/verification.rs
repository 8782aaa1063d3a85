//! Verification and landing in the store: the task transitions past `proposed`. The
//! verdicts live in `verdicts`, the merge lock in `landing`.
//!
//! Every transition names the head commit it is about and only applies while the task
//! still has that head: a push that happened meanwhile makes an old verdict or an old
//! landing decision a no-op instead of a wrong merge.

use super::jobs::{JobKind, JobState, NewJob, insert_job};
use super::tasks::{TASK_COLUMNS, TaskId, TaskRecord, TaskState};
use super::{Store, storable, with_pool};
use crate::types::{CommitSha, RepoName};

/// Makes the run of task `$2` active again if it had settled: one of its tasks is
/// moving once more.
const REOPEN_RUN: &str = "UPDATE runs SET state = 'active', updated_at = $1 \
    WHERE state = 'settled' AND id = (SELECT run_id FROM tasks WHERE id = $2)";

/// Attempts a verification or landing job gets for failures of Flotilla's own steps
/// (fetch, GitHub); a reviewer's failure is a verdict, not a job failure.
const REVIEW_JOB_MAX_ATTEMPTS: i64 = 5;

/// The payload of `verify_task` and `land_task` jobs: a task and the head they are
/// about.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct HeadJob {
    /// The task.
    pub task_id: TaskId,
    /// The head commit the job was queued for.
    pub head_sha: CommitSha,
}

impl NewJob {
    /// Verifies `head` of a task; `reason` tells apart several verifications of one
    /// head (a proposal, a re-verify request by delivery id, a new base).
    pub fn verify_task(task: TaskId, head: &CommitSha, reason: &str) -> Self {
        Self::head_job(JobKind::VerifyTask, "verify", task, head, reason)
    }

    /// Tries to land `head` of a task; `reason` tells apart several tries (the
    /// verification that upheld it, a CI result by delivery id, a dependency merged).
    pub fn land_task(task: TaskId, head: &CommitSha, reason: &str) -> Self {
        Self::head_job(JobKind::LandTask, "land", task, head, reason)
    }

    /// A job of `kind` about `head` of a task, keyed `<task>:<step>:<head>:<reason>`.
    fn head_job(kind: JobKind, step: &str, task: TaskId, head: &CommitSha, reason: &str) -> Self {
        Self {
            kind,
            key: format!("{task}:{step}:{head}:{reason}"),
            payload: serde_json::json!(HeadJob {
                task_id: task,
                head_sha: head.clone(),
            }),
            max_attempts: REVIEW_JOB_MAX_ATTEMPTS,
        }
    }
}

/// How a verification ended, as recorded.
#[derive(Clone, Debug)]
pub enum VerifyEnd {
    /// Every gate and lens holds.
    Verified,
    /// Something refuted the head; `feedback` goes into the worker's next prompt.
    Refuted {
        /// The findings and failing output.
        feedback: String,
    },
    /// No retry can fix it (a protected path): a person must look.
    NeedsHuman {
        /// Why.
        reason: String,
    },
}

impl Store {
    /// The tasks (of any run in `repo`) whose recorded head is `sha`.
    pub async fn tasks_by_head(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
    ) -> anyhow::Result<Vec<TaskRecord>> {
        let tasks = with_pool!(self, read, |pool| {
            sqlx::query_as::<_, TaskRecord>(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks t JOIN runs r ON r.id = t.run_id \
                 WHERE r.repo = $1 AND t.head_sha = $2 ORDER BY t.id"
            ))
            .bind(repo.0.as_str())
            .bind(sha.0.as_str())
            .fetch_all(pool)
            .await?
        });
        Ok(tasks)
    }

    /// The verification job of `head` a worker holds or will take (running wins over
    /// queued), or `None`: reconciliation leaves a `flotilla/verify` shown in progress
    /// alone while a job works on it, and verifies again when none will.
    pub async fn verification_in_hand(
        &self,
        id: TaskId,
        head: &CommitSha,
    ) -> anyhow::Result<Option<JobState>> {
        let pattern = format!("{id}:verify:{head}:%");
        let states: Vec<String> = with_pool!(self, read, |pool| {
            sqlx::query_scalar(
                "SELECT state FROM jobs WHERE kind = $1 AND idempotency_key LIKE $2 \
                 AND state IN ('queued', 'running')",
            )
            .bind(JobKind::VerifyTask.as_str())
            .bind(pattern.as_str())
            .fetch_all(pool)
            .await?
        });
        let states = states
            .iter()
            .map(|s| s.parse())
            .collect::<anyhow::Result<Vec<JobState>>>()?;
        Ok(states
            .iter()
            .copied()
            .find(|s| *s == JobState::Running)
            .or(states.first().copied()))
    }

    /// Marks the verification of `head` as started; `false` when the task moved on
    /// (another head, cancelled, merged) and the job has nothing to do.
    pub async fn begin_verify(&self, id: TaskId, head: &CommitSha) -> anyhow::Result<bool> {
        self.move_task(
            id,
            head,
            &[TaskState::Proposed, TaskState::Verifying],
            TaskState::Verifying,
            None,
        )
        .await
    }

    /// Records how verifying `head` ended. Verified queues the landing job in the same
    /// transaction; refuted goes back to a worker while attempts are left and needs a
    /// person after the last one. Returns the new state, or `None` when the task no
    /// longer has that head or is no longer verifying.
    pub async fn finish_verify(
        &self,
        id: TaskId,
        head: &CommitSha,
        end: &VerifyEnd,
    ) -> anyhow::Result<Option<TaskState>> {
        let now = self.now();
        let (state_sql, to, reason) = match end {
            VerifyEnd::Verified => ("'verified'", &[TaskState::Verified][..], None),
            VerifyEnd::Refuted { feedback } => (
                "CASE WHEN attempts < max_attempts THEN 'refuted' ELSE 'needs_human' END",
                &[TaskState::Refuted, TaskState::NeedsHuman][..],
                Some(feedback.as_str()),
            ),
            VerifyEnd::NeedsHuman { reason } => (
                "'needs_human'",
                &[TaskState::NeedsHuman][..],
                Some(reason.as_str()),
            ),
        };
        let from = TaskState::moving_from(&[TaskState::Verifying], to)?;
        let state = with_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let state: Option<String> = sqlx::query_scalar(&format!(
                "UPDATE tasks SET state = {state_sql}, last_reason = COALESCE($1, last_reason), \
                 updated_at = $2 WHERE id = $3 AND head_sha = $4 AND state IN ({from}) \
                 RETURNING state"
            ))
            .bind(reason.map(storable))
            .bind(now)
            .bind(id.0)
            .bind(head.0.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if state.as_deref() == Some("verified") {
                let job = NewJob::land_task(id, head, "verified");
                insert_job!(&mut *tx, job, now).await?;
            }
            tx.commit().await?;
            state
        });
        state.map(|s| s.parse()).transpose()
    }

    /// Records a new head for a task whose pull request is in review (a push by a
    /// person, a base brought up to date, a head that moved during a merge) and queues
    /// its verification; a settled run is active again. `false` when the task already
    /// had that head or is not in review.
    pub async fn new_head(
        &self,
        id: TaskId,
        head: &CommitSha,
        reason: &str,
    ) -> anyhow::Result<bool> {
        let in_review = TaskState::moving_from(&TaskState::OPEN_PULL, &[TaskState::Proposed])?;
        self.queue_verification(
            id,
            head,
            reason,
            &format!(
                "UPDATE tasks SET head_sha = $1, state = 'proposed', updated_at = $2 \
                 WHERE id = $3 AND (head_sha IS NULL OR head_sha <> $1) \
                 AND state IN ({in_review})"
            ),
        )
        .await
    }

    /// Verifies a task's current head again (a person asked for it); a settled run is
    /// active again. `false` when the task has no pull request in a state that can be
    /// verified.
    pub async fn reverify(
        &self,
        id: TaskId,
        head: &CommitSha,
        reason: &str,
    ) -> anyhow::Result<bool> {
        let verifiable = TaskState::moving_from(
            &[
                TaskState::Proposed,
                TaskState::Verifying,
                TaskState::Refuted,
                TaskState::Verified,
                TaskState::Ready,
                TaskState::NeedsHuman,
            ],
            &[TaskState::Proposed],
        )?;
        self.queue_verification(
            id,
            head,
            reason,
            &format!(
                "UPDATE tasks SET state = 'proposed', updated_at = $2 WHERE id = $3 \
                 AND head_sha = $1 AND state IN ({verifiable})"
            ),
        )
        .await
    }

    /// Runs `update` (binding `$1` head, `$2` now, `$3` task) and, when it changed the
    /// task, queues the verification of `head` and reopens a settled run — all in one
    /// transaction.
    async fn queue_verification(
        &self,
        id: TaskId,
        head: &CommitSha,
        reason: &str,
        update: &str,
    ) -> anyhow::Result<bool> {
        let now = self.now();
        let changed = with_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(update)
                .bind(head.0.as_str())
                .bind(now)
                .bind(id.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed == 1 {
                let job = NewJob::verify_task(id, head, reason);
                insert_job!(&mut *tx, job, now).await?;
                sqlx::query(REOPEN_RUN)
                    .bind(now)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            changed
        });
        Ok(changed == 1)
    }

    /// Moves a task with head `head` from one of `from` to `to`, recording `reason`
    /// when given. `false` when it was not in one of those states with that head.
    pub async fn move_task(
        &self,
        id: TaskId,
        head: &CommitSha,
        from: &[TaskState],
        to: TaskState,
        reason: Option<&str>,
    ) -> anyhow::Result<bool> {
        let now = self.now();
        let from_list = TaskState::moving_from(from, &[to])?;
        let changed = with_pool!(self, write, |pool| {
            sqlx::query(&format!(
                "UPDATE tasks SET state = $1, last_reason = COALESCE($2, last_reason), \
                 updated_at = $3 WHERE id = $4 AND head_sha = $5 AND state IN ({from_list})"
            ))
            .bind(to.as_str())
            .bind(reason.map(storable))
            .bind(now)
            .bind(id.0)
            .bind(head.0.as_str())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Records that a task's pull request merged, making `merged` on the base.
    pub async fn mark_merged(&self, id: TaskId, merged: &CommitSha) -> anyhow::Result<bool> {
        let now = self.now();
        let mergeable = TaskState::moving_to(TaskState::Merged);
        let changed = with_pool!(self, write, |pool| {
            sqlx::query(&format!(
                "UPDATE tasks SET state = 'merged', merged_sha = $1, last_reason = NULL, \
                 landing = NULL, updated_at = $2 WHERE id = $3 AND state IN ({mergeable})"
            ))
            .bind(merged.0.as_str())
            .bind(now)
            .bind(id.0)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed == 1)
    }
}
