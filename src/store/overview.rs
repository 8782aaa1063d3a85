//! Read-only views across runs and the queue, for the dashboard: runs with their task
//! counts and cost, jobs by state with the run they work for, and who holds each
//! repository's merge lock.

use sqlx::{FromRow, Row};

use super::jobs::{JobKind, JobState};
use super::runs::{RUN_COLUMNS, RunId, RunRecord, RunState};
use super::tasks::TaskId;
use super::{Store, with_pool};
use crate::clock::Millis;
use crate::cost::Usd;
use crate::types::RepoName;

/// A run with the figures the runs page shows beside it.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// The run.
    pub run: RunRecord,
    /// Its tasks.
    pub tasks: i64,
    /// Its merged tasks.
    pub merged: i64,
    /// What its agents cost.
    pub cost: Usd,
}

/// Which runs to list.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    /// Only this repository's.
    pub repo: Option<RepoName>,
    /// Only runs in this state.
    pub state: Option<RunState>,
}

/// A job as the queue page lists it.
#[derive(Clone, Debug)]
pub struct JobListing {
    /// Row id.
    pub id: i64,
    /// What it does.
    pub kind: JobKind,
    /// Where it is.
    pub state: JobState,
    /// Attempts so far and allowed.
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// The worker holding its lease, while running.
    pub lease_owner: Option<String>,
    /// The error of its last failed attempt.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: Millis,
    /// When it ended (done or dead).
    pub finished_at: Option<Millis>,
    /// The run it works for, when its payload names a run or a task.
    pub run: Option<RunId>,
    /// The repository it works on, when known (a delivery's or its run's).
    pub repo: Option<RepoName>,
}

/// A repository's merge lock and who holds it.
#[derive(Clone, Debug)]
pub struct MergeLock {
    /// The repository.
    pub repo: RepoName,
    /// The holder (a task's landing).
    pub holder: String,
    /// When the lock lapses unless renewed.
    pub expires_at: Millis,
}

/// What [`Store::run_version`] compares: equal values mean nothing shown changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunVersion([i64; 5]);

/// The run or delivery a job's payload names.
#[derive(serde::Deserialize)]
struct JobTarget {
    run_id: Option<i64>,
    task_id: Option<TaskId>,
    delivery_id: Option<String>,
}

impl Store {
    /// Runs newest first, at most `limit`, with their task counts and cost.
    pub async fn run_summaries(
        &self,
        filter: &RunFilter,
        limit: i64,
    ) -> anyhow::Result<Vec<RunSummary>> {
        let repo = filter.repo.as_ref().map(|r| r.0.as_str());
        let state = filter.state.map(RunState::as_str);
        let rows = with_pool!(self, read, |pool| {
            sqlx::query(&format!(
                "SELECT {RUN_COLUMNS}, \
                 (SELECT CAST(COUNT(*) AS BIGINT) FROM tasks t WHERE t.run_id = runs.id) \
                   AS task_count, \
                 (SELECT CAST(COUNT(*) AS BIGINT) FROM tasks t WHERE t.run_id = runs.id \
                   AND t.state = 'merged') AS merged_count, \
                 (SELECT CAST(COALESCE(SUM(u.cost_micros), 0) AS BIGINT) FROM agent_usage u \
                   WHERE u.run_id = runs.id) AS cost_micros \
                 FROM runs WHERE ($1 IS NULL OR repo = $1) AND ($2 IS NULL OR state = $2) \
                 ORDER BY id DESC LIMIT $3"
            ))
            .bind(repo)
            .bind(state)
            .bind(limit)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|row| {
                let run = RunRecord::from_row(&row)?;
                let cost: i64 = row.try_get("cost_micros")?;
                anyhow::Ok(RunSummary {
                    run,
                    tasks: row.try_get("task_count")?,
                    merged: row.try_get("merged_count")?,
                    cost: Usd::from_micros(u64::try_from(cost).unwrap_or(0)),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?
        });
        Ok(rows)
    }

    /// The repositories that have runs, for the runs page's filter.
    pub async fn repos_with_runs(&self) -> anyhow::Result<Vec<RepoName>> {
        let repos: Vec<String> = with_pool!(self, read, |pool| {
            sqlx::query_scalar("SELECT DISTINCT repo FROM runs ORDER BY repo")
                .fetch_all(pool)
                .await?
        });
        Ok(repos.into_iter().map(RepoName).collect())
    }

    /// Jobs in `state`, newest first, at most `limit`, each with the run and
    /// repository it works for when those can be told.
    pub async fn jobs_in_state(
        &self,
        state: JobState,
        limit: i64,
    ) -> anyhow::Result<Vec<JobListing>> {
        let rows = with_pool!(self, read, |pool| {
            sqlx::query(
                "SELECT j.id, j.kind, j.state, j.attempts, j.max_attempts, j.lease_owner, \
                 j.last_error, j.created_at, j.finished_at, j.payload FROM jobs j \
                 WHERE j.state = $1 ORDER BY j.id DESC LIMIT $2",
            )
            .bind(state.as_str())
            .bind(limit)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|row| {
                let payload: String = row.try_get("payload")?;
                anyhow::Ok((
                    JobListing {
                        id: row.try_get("id")?,
                        kind: row.try_get::<String, _>("kind")?.parse()?,
                        state: row.try_get::<String, _>("state")?.parse()?,
                        attempts: row.try_get("attempts")?,
                        max_attempts: row.try_get("max_attempts")?,
                        lease_owner: row.try_get("lease_owner")?,
                        last_error: row.try_get("last_error")?,
                        created_at: row.try_get("created_at")?,
                        finished_at: row.try_get("finished_at")?,
                        run: None,
                        repo: None,
                    },
                    serde_json::from_str::<JobTarget>(&payload).ok(),
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?
        });
        let mut listings = Vec::with_capacity(rows.len());
        for (mut listing, target) in rows {
            if let Some(target) = target {
                (listing.run, listing.repo) = self.job_target(target).await?;
            }
            listings.push(listing);
        }
        Ok(listings)
    }

    /// The run and repository a job's payload leads to.
    async fn job_target(
        &self,
        target: JobTarget,
    ) -> anyhow::Result<(Option<RunId>, Option<RepoName>)> {
        let run = match (target.run_id, target.task_id) {
            (Some(run), _) => Some(RunId(run)),
            (None, Some(task)) => self.task(task).await?.map(|t| t.run_id),
            (None, None) => None,
        };
        if let Some(run) = run {
            return Ok((Some(run), self.run(run).await?.map(|r| r.spec.repo)));
        }
        let Some(delivery) = target.delivery_id else {
            return Ok((None, None));
        };
        let repo: Option<Option<String>> = with_pool!(self, read, |pool| {
            sqlx::query_scalar("SELECT repository FROM deliveries WHERE id = $1")
                .bind(delivery.as_str())
                .fetch_optional(pool)
                .await?
        });
        Ok((None, repo.flatten().map(RepoName)))
    }

    /// A value that changes whenever anything the run page shows changes: the run,
    /// a task, a step starting or ending, a verdict. Live pages poll it.
    pub async fn run_version(&self, run: RunId) -> anyhow::Result<RunVersion> {
        let row: (i64, i64, i64, i64, i64) = with_pool!(self, read, |pool| {
            sqlx::query_as(
                "SELECT \
                 CAST(COALESCE((SELECT updated_at FROM runs WHERE id = $1), 0) AS BIGINT), \
                 CAST(COALESCE((SELECT MAX(updated_at) FROM tasks WHERE run_id = $1), 0) \
                   AS BIGINT), \
                 CAST((SELECT COUNT(*) FROM steps WHERE run_id = $1) AS BIGINT), \
                 CAST((SELECT COUNT(*) FROM steps WHERE run_id = $1 \
                   AND finished_at IS NOT NULL) AS BIGINT), \
                 CAST(COALESCE((SELECT MAX(v.updated_at) FROM verdicts v \
                   JOIN tasks t ON t.id = v.task_id WHERE t.run_id = $1), 0) AS BIGINT)",
            )
            .bind(run.0)
            .fetch_one(pool)
            .await?
        });
        Ok(RunVersion([row.0, row.1, row.2, row.3, row.4]))
    }

    /// Every merge lock held now.
    pub async fn merge_locks(&self) -> anyhow::Result<Vec<MergeLock>> {
        let now = self.now();
        let query = format!(
            "SELECT repo, holder, expires_at FROM merge_locks WHERE {} ORDER BY repo",
            super::landing::lock_held_at("$1")
        );
        let rows: Vec<(String, String, i64)> = with_pool!(self, read, |pool| {
            sqlx::query_as(&query).bind(now).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(repo, holder, expires_at)| MergeLock {
                repo: RepoName(repo),
                holder,
                expires_at,
            })
            .collect())
    }
}
