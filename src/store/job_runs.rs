//! The record of every time a worker ran a job: who ran it, when the run started, its
//! last heartbeat and when its handler returned. Leases promise that a job runs in one
//! place at a time; this record is how that promise is checked after the fact, across
//! processes and crashes (a run whose process died has no end, and was last seen alive
//! at its last heartbeat).
//!
//! Rows go with their job when retention deletes it (`ON DELETE CASCADE`).

use super::{ClaimedJob, Store, with_pool};
use crate::clock::Millis;

/// Two runs of one job whose spans crossed: the job ran twice at once.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct JobRunOverlap {
    /// The job.
    pub job_id: i64,
    /// The worker of the run that started first.
    pub first_owner: String,
    /// When that run was last known to be running (its end, else its last heartbeat).
    pub first_until: Millis,
    /// The worker of the run that started while the first one still ran.
    pub second_owner: String,
    /// When that second run started.
    pub second_started: Millis,
}

impl Store {
    /// Records that `owner` starts running `job_id` now; returns the run's id.
    pub(crate) async fn start_job_run(&self, job_id: i64, owner: &str) -> anyhow::Result<i64> {
        let now = self.now();
        let id = with_pool!(self, write, |pool| {
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO job_runs (job_id, owner, started_at, alive_at) \
                 VALUES ($1, $2, $3, $3) RETURNING id",
            )
            .bind(job_id)
            .bind(owner)
            .bind(now)
            .fetch_one(pool)
            .await?
        });
        Ok(id)
    }

    /// Records that `job`'s run is still going now (its worker's heartbeat), whether or
    /// not its lease still holds.
    pub async fn job_run_alive(&self, job: &ClaimedJob) -> anyhow::Result<()> {
        self.stamp_job_run("alive_at", job.run).await
    }

    /// Records that `job`'s handler returned now, whatever its outcome.
    pub async fn end_job_run(&self, job: &ClaimedJob) -> anyhow::Result<()> {
        self.stamp_job_run("ended_at", job.run).await
    }

    async fn stamp_job_run(&self, column: &'static str, run: i64) -> anyhow::Result<()> {
        let now = self.now();
        let sql = format!("UPDATE job_runs SET {column} = $1 WHERE id = $2");
        with_pool!(self, write, |pool| {
            sqlx::query(&sql).bind(now).bind(run).execute(pool).await?;
        });
        Ok(())
    }

    /// Every pair of runs of one job where the second started before the first was
    /// last known running: empty when no job ever ran twice at once.
    pub async fn overlapping_job_runs(&self) -> anyhow::Result<Vec<JobRunOverlap>> {
        let rows = with_pool!(self, read, |pool| {
            sqlx::query_as::<_, JobRunOverlap>(
                "SELECT a.job_id AS job_id, a.owner AS first_owner, \
                   COALESCE(a.ended_at, a.alive_at) AS first_until, \
                   b.owner AS second_owner, b.started_at AS second_started \
                 FROM job_runs a JOIN job_runs b ON a.job_id = b.job_id AND a.id <> b.id \
                 WHERE (a.started_at < b.started_at \
                        OR (a.started_at = b.started_at AND a.id < b.id)) \
                   AND b.started_at < COALESCE(a.ended_at, a.alive_at) \
                 ORDER BY a.job_id, b.started_at",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// How many times jobs were run, across every process.
    pub async fn count_job_runs(&self) -> anyhow::Result<i64> {
        self.count_rows("job_runs").await
    }
}
