//! Tasks: one unit of a run's plan, with its branch, attempts and pull request.
//!
//! The scheduler lives here because its decision and its effect must be one
//! transaction: which waiting tasks may start (dependencies proposed, slots free under
//! the run's, the repository's and the process-wide limits) and the `run_task` job
//! each started task gets. Two schedulers can then never start the same task twice
//! or overshoot a limit.

use std::fmt;
use std::str::FromStr;

use super::columns::JsonList;
use super::jobs::{JobKind, NewJob, insert_job};
use super::runs::{LIVE, RunId, RunState, move_run};
pub use super::task_state::TaskState;
use super::{Store, storable, with_pool};
use crate::clock::Millis;
use crate::types::{CommitSha, PrNumber, RepoName};

/// A task's row id; agents see it as `FLOTILLA_TASK_ID` (`task-<id>`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct TaskId(pub i64);

impl fmt::Display for TaskId {
    /// The external name: worktree directory, commit trailer, agent environment.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task-{}", self.0)
    }
}

impl FromStr for TaskId {
    type Err = anyhow::Error;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let id = value
            .strip_prefix("task-")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("{value:?} is not a task id"))?;
        Ok(Self(id))
    }
}

/// A planned task, to store with its run's plan.
#[derive(Clone, Debug)]
pub struct NewTask {
    /// 1-based position in the plan.
    pub position: i64,
    /// One-line title (also the pull request's title).
    pub title: String,
    /// What the worker is asked to do.
    pub instructions: String,
    /// Globs the task expects to touch.
    pub paths: Vec<String>,
    /// Positions of the tasks it builds on.
    pub depends_on: Vec<i64>,
    /// The branch its work is pushed to.
    pub branch: String,
    /// Attempts before it fails for good.
    pub max_attempts: u32,
}

/// A task as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TaskRecord {
    /// Row id.
    pub id: TaskId,
    /// The run it belongs to.
    pub run_id: RunId,
    /// 1-based position in the plan.
    pub position: i64,
    /// Title.
    pub title: String,
    /// Instructions.
    pub instructions: String,
    /// Declared paths.
    #[sqlx(try_from = "JsonList<String>")]
    pub paths: Vec<String>,
    /// Positions it depends on.
    #[sqlx(try_from = "JsonList<i64>")]
    pub depends_on: Vec<i64>,
    /// Its branch.
    pub branch: String,
    /// Where it is.
    pub state: TaskState,
    /// Attempts started so far.
    #[sqlx(try_from = "i64")]
    pub attempts: u32,
    /// Attempts allowed (raised by `/flotilla retry`).
    #[sqlx(try_from = "i64")]
    pub max_attempts: u32,
    /// Its draft pull request, once opened.
    #[sqlx(rename = "pr_number")]
    pub pr: Option<PrNumber>,
    /// The pull request's GraphQL id.
    pub pr_node_id: Option<String>,
    /// The commit last pushed to its branch.
    pub head_sha: Option<CommitSha>,
    /// Why the last attempt ended as it did.
    pub last_reason: Option<String>,
    /// The agent's summary of its last successful attempt.
    pub summary: Option<String>,
    /// The commit its merge made on the base branch, once merged.
    pub merged_sha: Option<CommitSha>,
    /// Work pushed but not proposed yet; a retry resumes at the pull request.
    pub pending_proposal: Option<PendingProposal>,
    /// When it last changed state (Unix milliseconds): for a merged task, when it merged.
    pub updated_at: Millis,
}

/// What an attempt pushed and is about to propose, kept between the push and the
/// recorded pull request so that a failed GitHub call in between (or a crash) resumes
/// at the pull request instead of running the agent again on its own pushed work.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingProposal {
    /// The commit pushed to the task's branch.
    pub head: CommitSha,
    /// The pull request's title.
    pub title: String,
    /// The pull request's body.
    pub body: String,
    /// The agent's summary of its work.
    pub summary: String,
}

pub(super) const TASK_COLUMNS: &str = "t.id, t.run_id, t.position, t.title, t.instructions, \
    t.paths, t.depends_on, t.branch, t.state, t.attempts, t.max_attempts, t.pr_number, \
    t.pr_node_id, t.head_sha, t.last_reason, t.summary, t.merged_sha, t.pending_proposal, \
    t.updated_at";

/// How many agents may work at once, besides each run's own `max_parallel_tasks`.
#[derive(Clone, Copy, Debug)]
pub struct SlotLimits {
    /// Across every repository (this deployment).
    pub global: u32,
    /// Per repository.
    pub per_repo: u32,
}

/// How a task's attempt ended, as recorded.
#[derive(Clone, Debug)]
pub enum AttemptEnd {
    /// The draft pull request is open (or updated) with the attempt's work.
    Proposed {
        /// The pull request.
        pr: PrNumber,
        /// Its GraphQL id.
        node_id: String,
        /// The pushed commit.
        head: CommitSha,
        /// The agent's summary.
        summary: String,
    },
    /// The attempt failed; the task is tried again if it has attempts left.
    Failed {
        /// Why (crash, hang, no change, garbage output, …).
        reason: String,
    },
    /// A budget stopped the attempt (before or while the agent ran): the task gets an
    /// attempt back (its number stays used, so the next attempt is a new job) and waits
    /// in the queue for the run to resume.
    Stopped {
        /// Which budget, with the figures.
        reason: String,
    },
}

/// The task a `run_task` job works on.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct TaskJob {
    /// The task.
    pub task_id: TaskId,
}

/// Attempts a `run_task` job gets for failures of Flotilla's own steps (fetch, push,
/// GitHub); the agent's own failures are task attempts, not job attempts.
const TASK_JOB_MAX_ATTEMPTS: i64 = 3;

impl NewJob {
    /// The job that runs attempt `attempt` of a task.
    pub fn run_task(task: TaskId, attempt: u32) -> Self {
        Self {
            kind: JobKind::RunTask,
            key: format!("{task}:attempt:{attempt}"),
            payload: serde_json::json!(TaskJob { task_id: task }),
            max_attempts: TASK_JOB_MAX_ATTEMPTS,
        }
    }
}

/// A task of an active run, as the scheduler reads it.
impl Store {
    /// Every task of a run, in plan order.
    pub async fn tasks_of_run(&self, run: RunId) -> anyhow::Result<Vec<TaskRecord>> {
        self.tasks_where("t.run_id = $1 ORDER BY t.position", run.0)
            .await
    }

    /// Reads one task.
    pub async fn task(&self, id: TaskId) -> anyhow::Result<Option<TaskRecord>> {
        Ok(self.tasks_where("t.id = $1", id.0).await?.pop())
    }

    /// The tasks `condition` picks, with `$1` bound to the row id it names.
    async fn tasks_where(&self, condition: &str, id: i64) -> anyhow::Result<Vec<TaskRecord>> {
        let tasks = with_pool!(self, read, |pool| {
            sqlx::query_as::<_, TaskRecord>(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks t WHERE {condition}"
            ))
            .bind(id)
            .fetch_all(pool)
            .await?
        });
        Ok(tasks)
    }

    /// The task whose pull request is `pr` in `repo`.
    pub async fn task_by_pr(
        &self,
        repo: &RepoName,
        pr: PrNumber,
    ) -> anyhow::Result<Option<TaskRecord>> {
        let task = with_pool!(self, read, |pool| {
            sqlx::query_as::<_, TaskRecord>(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks t JOIN runs r ON r.id = t.run_id \
                 WHERE r.repo = $1 AND t.pr_number = $2 ORDER BY t.id DESC LIMIT 1"
            ))
            .bind(repo.0.as_str())
            .bind(i64::try_from(pr.0)?)
            .fetch_optional(pool)
            .await?
        });
        Ok(task)
    }

    /// Ids of the tasks an agent may be working on; the start-up reaper keeps their
    /// worktrees.
    pub async fn working_task_ids(&self) -> anyhow::Result<Vec<TaskId>> {
        let ids = with_pool!(self, read, |pool| {
            sqlx::query_scalar::<_, i64>("SELECT id FROM tasks WHERE state = 'working'")
                .fetch_all(pool)
                .await?
        });
        Ok(ids.into_iter().map(TaskId).collect())
    }

    /// Records how an attempt of a working task ended. A proposal queues the
    /// verification of its head in the same transaction. A failed attempt with
    /// attempts left puts the task back in the queue; without, the task fails. Returns the
    /// task's new state, or `None` when it was no longer working (cancelled meanwhile).
    pub async fn finish_attempt(
        &self,
        id: TaskId,
        end: &AttemptEnd,
    ) -> anyhow::Result<Option<TaskState>> {
        let now = self.now();
        let working = |to: &[TaskState]| TaskState::moving_from(&[TaskState::Working], to);
        let state = with_pool!(self, write, |pool| {
            match end {
                AttemptEnd::Proposed {
                    pr,
                    node_id,
                    head,
                    summary,
                } => {
                    let mut tx = pool.begin().await?;
                    let state = sqlx::query_scalar::<_, String>(&format!(
                        "UPDATE tasks SET state = 'proposed', pr_number = $1, pr_node_id = $2, \
                     head_sha = $3, summary = $4, last_reason = NULL, pending_proposal = NULL, \
                     updated_at = $5 \
                     WHERE id = $6 AND state IN ({}) RETURNING state",
                        working(&[TaskState::Proposed])?
                    ))
                    .bind(i64::try_from(pr.0)?)
                    .bind(node_id.as_str())
                    .bind(head.0.as_str())
                    .bind(storable(summary))
                    .bind(now)
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if state.is_some() {
                        let job = NewJob::verify_task(id, head, "proposed");
                        insert_job!(&mut *tx, job, now).await?;
                    }
                    tx.commit().await?;
                    state
                }
                AttemptEnd::Failed { reason } => {
                    sqlx::query_scalar::<_, String>(&format!(
                        "UPDATE tasks SET state = CASE WHEN attempts < max_attempts \
                     THEN 'queued' ELSE 'failed' END, last_reason = $1, updated_at = $2 \
                     WHERE id = $3 AND state IN ({}) RETURNING state",
                        working(&[TaskState::Queued, TaskState::Failed])?
                    ))
                    .bind(storable(reason))
                    .bind(now)
                    .bind(id.0)
                    .fetch_optional(pool)
                    .await?
                }
                AttemptEnd::Stopped { reason } => {
                    sqlx::query_scalar::<_, String>(&format!(
                        "UPDATE tasks SET state = 'queued', max_attempts = max_attempts + 1, \
                     last_reason = $1, updated_at = $2 WHERE id = $3 AND state IN ({}) \
                     RETURNING state",
                        working(&[TaskState::Queued])?
                    ))
                    .bind(storable(reason))
                    .bind(now)
                    .bind(id.0)
                    .fetch_optional(pool)
                    .await?
                }
            }
        });
        state.map(|s| s.parse()).transpose()
    }

    /// Records that the task's branch now holds `pushed.head`, with what to propose for
    /// it: until the pull request is recorded, a retry resumes there.
    pub async fn record_push(&self, id: TaskId, pushed: &PendingProposal) -> anyhow::Result<()> {
        let now = self.now();
        let pending = serde_json::to_string(pushed)?;
        with_pool!(self, write, |pool| {
            sqlx::query(
                "UPDATE tasks SET head_sha = $1, pending_proposal = $2, updated_at = $3 \
                 WHERE id = $4",
            )
            .bind(pushed.head.0.as_str())
            .bind(pending.as_str())
            .bind(now)
            .bind(id.0)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Cancels every task of a run that has not reached an end state (a merge already
    /// under way finishes), and ends the run as cancelled. Returns the tasks that were cancelled.
    pub async fn cancel_run(&self, run: RunId) -> anyhow::Result<Vec<TaskId>> {
        let now = self.now();
        let cancellable = TaskState::moving_to(TaskState::Cancelled);
        let ids = with_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let ids: Vec<i64> = sqlx::query_scalar(&format!(
                "UPDATE tasks SET state = 'cancelled', last_reason = 'cancelled', \
                 updated_at = $1 WHERE run_id = $2 AND state IN ({cancellable}) RETURNING id"
            ))
            .bind(now)
            .bind(run.0)
            .fetch_all(&mut *tx)
            .await?;
            move_run!(&mut *tx, run, LIVE, RunState::Cancelled, now).await?;
            tx.commit().await?;
            ids
        });
        Ok(ids.into_iter().map(TaskId).collect())
    }

    /// Gives a run's failed tasks and those that need a person (all, or the one at
    /// `position`) a new set of `attempts` and queues them again; a settled run becomes
    /// active again. Returns the tasks queued.
    pub async fn retry_failed(
        &self,
        run: RunId,
        position: Option<i64>,
        attempts: u32,
    ) -> anyhow::Result<Vec<TaskId>> {
        let now = self.now();
        let retryable = TaskState::moving_from(
            &[TaskState::Failed, TaskState::NeedsHuman],
            &[TaskState::Queued],
        )?;
        let ids = with_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let ids: Vec<i64> = sqlx::query_scalar(&format!(
                "UPDATE tasks SET state = 'queued', max_attempts = attempts + $1, \
                 updated_at = $2 WHERE run_id = $3 AND state IN ({retryable}) \
                 AND ($4 IS NULL OR position = $4) RETURNING id"
            ))
            .bind(i64::from(attempts))
            .bind(now)
            .bind(run.0)
            .bind(position)
            .fetch_all(&mut *tx)
            .await?;
            if !ids.is_empty() {
                move_run!(&mut *tx, run, "'settled'", RunState::Active, now).await?;
            }
            tx.commit().await?;
            ids
        });
        Ok(ids.into_iter().map(TaskId).collect())
    }
}
