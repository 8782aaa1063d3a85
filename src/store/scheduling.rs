//! Scheduling, as the store carries it out: every task of the active runs (not
//! stopped by a budget) read, the orchestrator's policy asked what moves, and those
//! moves made — with each started task's `run_task` job — in one transaction, one
//! process at a time on PostgreSQL. What may start is the orchestrator's decision
//! (`orchestrator::scheduling`); the store only reads and executes.

use super::advisory::AdvisoryLock;
use super::columns::JsonList;
use super::jobs::{NewJob, insert_job};
use super::runs::RunId;
use super::tasks::{TaskId, TaskState};
use super::{BackendKind, Store, with_pool};
use crate::types::RepoName;

/// A task of an active run, as scheduling sees it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SchedulingTask {
    /// The task.
    pub id: TaskId,
    /// Its run.
    #[sqlx(rename = "run_id")]
    pub run: RunId,
    /// The run's repository.
    pub repo: RepoName,
    /// Its position in the plan.
    pub position: i64,
    /// The run's `max_parallel_tasks`.
    #[sqlx(try_from = "i64")]
    pub max_parallel: u32,
    /// Where it is.
    pub state: TaskState,
    /// Positions of the tasks it builds on.
    #[sqlx(try_from = "JsonList<i64>")]
    pub depends_on: Vec<i64>,
    /// Attempts started so far.
    #[sqlx(try_from = "i64")]
    pub attempts: u32,
}

/// One move scheduling decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScheduleMove {
    /// A planned task whose dependencies pushed their work waits for a slot.
    Queue(TaskId),
    /// A planned task cannot start: what it builds on ended without work.
    Fail {
        /// The task.
        task: TaskId,
        /// Why, for the task's record.
        reason: String,
    },
    /// A queued or refuted task gets a slot: its next attempt starts.
    Start {
        /// The task.
        task: TaskId,
        /// The attempt's number.
        attempt: u32,
    },
}

impl Store {
    /// Reads the tasks of every active run not stopped by its budget (in run, then plan
    /// order), asks `decide` what moves, and makes those moves in the same transaction;
    /// each started task gets its `run_task` job. Returns the runs whose tasks changed,
    /// oldest first. A move the task's state no longer allows (another process moved it
    /// first) is skipped.
    pub async fn schedule(
        &self,
        decide: impl FnOnce(&[SchedulingTask]) -> Vec<ScheduleMove>,
    ) -> anyhow::Result<Vec<RunId>> {
        let now = self.now();
        let backend = self.kind();
        let queue_from = TaskState::moving_from(&[TaskState::Planned], &[TaskState::Queued])?;
        let fail_from = TaskState::moving_from(&[TaskState::Planned], &[TaskState::Failed])?;
        let start_from = TaskState::moving_from(
            &[TaskState::Queued, TaskState::Refuted],
            &[TaskState::Working],
        )?;
        let changed = with_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            if backend == BackendKind::Postgres {
                // Several processes may schedule at once; one decides at a time.
                let (class, lock) = AdvisoryLock::Schedule.keys();
                sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
                    .bind(class)
                    .bind(lock)
                    .execute(&mut *tx)
                    .await?;
            }
            let tasks: Vec<SchedulingTask> = sqlx::query_as(
                "SELECT t.id, t.run_id, r.repo, r.max_parallel, t.state, t.depends_on, \
                 t.attempts, t.position FROM tasks t JOIN runs r ON r.id = t.run_id \
                 WHERE r.state = 'active' AND r.budget_stopped IS NULL \
                 ORDER BY t.run_id, t.position",
            )
            .fetch_all(&mut *tx)
            .await?;
            let mut changed = std::collections::BTreeSet::new();
            for step in decide(&tasks) {
                let (task, set, from, reason) = match &step {
                    ScheduleMove::Queue(task) => (*task, "state = 'queued'", &queue_from, None),
                    ScheduleMove::Fail { task, reason } => {
                        (*task, "state = 'failed'", &fail_from, Some(reason.as_str()))
                    }
                    ScheduleMove::Start { task, .. } => (
                        *task,
                        "state = 'working', attempts = attempts + 1, landing = NULL",
                        &start_from,
                        None,
                    ),
                };
                let moved = sqlx::query(&format!(
                    "UPDATE tasks SET {set}, last_reason = COALESCE($1, last_reason), \
                     updated_at = $2 WHERE id = $3 AND state IN ({from})"
                ))
                .bind(reason)
                .bind(now)
                .bind(task.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if moved != 1 {
                    continue;
                }
                if let ScheduleMove::Start { task, attempt } = step {
                    let job = NewJob::run_task(task, attempt);
                    insert_job!(&mut *tx, job, now).await?;
                }
                if let Some(run) = tasks.iter().find(|t| t.id == task).map(|t| t.run) {
                    changed.insert(run.0);
                }
            }
            tx.commit().await?;
            changed
        });
        Ok(changed.into_iter().map(RunId).collect())
    }
}
