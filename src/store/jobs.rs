//! The durable job queue.
//!
//! A job is claimed under a lease (owner + expiry): a worker that dies leaves a lease
//! that runs out, and the job is claimed again. Failures are retried with exponential
//! backoff until `max_attempts`, then the job stays in the table as `dead` with its last
//! error. An idempotency key makes enqueueing the same work twice a no-op. On PostgreSQL
//! `FOR UPDATE SKIP LOCKED` lets several processes claim side by side; on SQLite the
//! single writer connection serializes claims.

use std::time::Duration;

use anyhow::Context;
use sqlx::Row;

use super::columns::named_in_text;
use super::{Store, with_pool};
use crate::clock::{Millis, duration_ms};
use crate::types::DeliveryId;

/// What a job does; the orchestrator matches on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// Parse a stored webhook delivery and dispatch its event.
    ProcessDelivery,
    /// Plan a run: decide its tasks and post the plan.
    PlanRun,
    /// Run one attempt of a task: worktree, agent, commit, push, draft pull request.
    RunTask,
    /// Verify a task's head: gates, reviewer lenses, reviews and check runs.
    VerifyTask,
    /// Land a verified head: required checks, ready for review, merge.
    LandTask,
    /// Carry out a button a person pressed on the dashboard.
    DashboardAction,
}

/// Which workers take a job. Agents run for minutes; keeping them in their own lane
/// means webhooks are still handled while every agent slot is busy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobLane {
    /// Short jobs: webhook deliveries and landing.
    Events,
    /// Jobs that run an agent: planning, task attempts and verification.
    Agents,
}

impl JobLane {
    /// The lane's name in logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::Agents => "agents",
        }
    }

    /// The job kinds this lane takes.
    fn kinds(self) -> &'static [JobKind] {
        match self {
            Self::Events => &[
                JobKind::ProcessDelivery,
                JobKind::LandTask,
                JobKind::DashboardAction,
            ],
            Self::Agents => &[JobKind::PlanRun, JobKind::RunTask, JobKind::VerifyTask],
        }
    }

    /// The lane as a SQL list of kind names, for the claim query.
    fn sql_kinds(self) -> String {
        self.kinds()
            .iter()
            .map(|k| format!("'{}'", k.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl JobKind {
    /// The lane whose workers take jobs of this kind.
    pub fn lane(self) -> JobLane {
        if JobLane::Events.kinds().contains(&self) {
            JobLane::Events
        } else {
            JobLane::Agents
        }
    }
}

named_in_text! {
    /// The name stored in the `kind` column.
    JobKind as "job kind" {
        ProcessDelivery => "process_delivery",
        PlanRun => "plan_run",
        RunTask => "run_task",
        VerifyTask => "verify_task",
        LandTask => "land_task",
        DashboardAction => "dashboard_action",
    }
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for `run_after`.
    Queued,
    /// Leased by a worker.
    Running,
    /// Finished successfully.
    Done,
    /// Failed `max_attempts` times; kept with its last error.
    Dead,
}

named_in_text! {
    /// The name stored in the `state` column (and used as a metric label).
    JobState as "job state" {
        Queued => "queued",
        Running => "running",
        Done => "done",
        Dead => "dead",
    }
}

/// A job to enqueue.
#[derive(Clone, Debug)]
pub struct NewJob {
    /// What to do.
    pub kind: JobKind,
    /// Enqueueing a second job with the same key does nothing.
    pub key: String,
    /// Kind-specific arguments, as JSON.
    pub payload: serde_json::Value,
    /// Attempts before the job is declared dead.
    pub max_attempts: i64,
}

/// Times a job may be put back after a transient GitHub error without spending an
/// attempt; with the default policy that rides out about a quarter of an hour of
/// GitHub trouble.
pub const MAX_POSTPONEMENTS: i64 = 30;

/// Attempts a delivery gets before it is declared dead.
const DELIVERY_MAX_ATTEMPTS: i64 = 5;

impl NewJob {
    /// The job that processes one stored webhook delivery.
    pub fn process_delivery(delivery: &DeliveryId) -> Self {
        Self {
            kind: JobKind::ProcessDelivery,
            key: format!("delivery:{delivery}"),
            payload: serde_json::json!({ "delivery_id": delivery }),
            max_attempts: DELIVERY_MAX_ATTEMPTS,
        }
    }
}

/// A job a worker holds the lease on.
#[derive(Clone, Debug)]
pub struct ClaimedJob {
    /// Row id.
    pub id: i64,
    /// What to do.
    pub kind: JobKind,
    /// Idempotency key.
    pub key: String,
    /// Kind-specific arguments.
    pub payload: serde_json::Value,
    /// Attempts so far, this one included.
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// Times it went back to the queue after a transient GitHub error (not attempts).
    pub postponements: i64,
    /// The worker holding the lease.
    pub lease_owner: String,
    /// This run's row in the record of job runs.
    pub run: i64,
}

impl ClaimedJob {
    /// Whether an earlier run of this job may have done part of its work (failed,
    /// postponed, or lost its worker): its handler must look for what GitHub already
    /// has — a pull request, a review — before creating it again, since an error
    /// answer does not prove the write did not happen.
    pub fn tried_before(&self) -> bool {
        self.attempts > 1 || self.postponements > 0
    }
}

/// What became of a failed job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobFate {
    /// It runs again after the given time.
    Retry {
        /// Unix milliseconds.
        at: Millis,
    },
    /// It used its last attempt.
    Dead,
    /// Another worker took it over after our lease ran out; nothing was changed.
    LeaseLost,
}

/// A job as stored, for status pages and tests.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct JobRow {
    /// What it does.
    pub kind: JobKind,
    /// Where it is.
    pub state: JobState,
    /// Attempts so far.
    pub attempts: i64,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// The worker holding the lease, while running.
    pub lease_owner: Option<String>,
}

/// How long to wait before retrying a failed job: doubling from `base`, capped at `max`.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Delay after the first failure.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(2),
            max: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The delay after the `attempts`-th failure.
    pub fn delay(&self, attempts: i64) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.base.saturating_mul(1 << exponent).min(self.max)
    }
}

/// The head of a job insert; values follow in column order.
pub(crate) const INSERT_JOB_COLUMNS: &str =
    "INSERT INTO jobs (kind, idempotency_key, payload, max_attempts, run_after, created_at) ";

/// Inserts `$job` (a [`NewJob`]) unless its key exists, on any executor — a pool or
/// an open transaction of either backend — so a job can be enqueued in the same
/// transaction as the state that calls for it. Evaluates to the query's future.
macro_rules! insert_job {
    ($executor:expr, $job:expr, $now:expr) => {
        sqlx::query(&format!(
            "{} VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (idempotency_key) DO NOTHING",
            $crate::store::jobs::INSERT_JOB_COLUMNS
        ))
        .bind($job.kind.as_str())
        .bind($job.key.as_str())
        .bind($job.payload.to_string())
        .bind($job.max_attempts)
        .bind($now)
        .execute($executor)
    };
}
pub(crate) use insert_job;

/// The claim statement for a lane; PostgreSQL skips rows another process is claiming.
fn claim_sql(lane: JobLane, backend: super::BackendKind) -> String {
    let lock = match backend {
        super::BackendKind::Sqlite => "",
        super::BackendKind::Postgres => " FOR UPDATE SKIP LOCKED",
    };
    // A running job whose lease expired lost its worker (a crash, a kill): taking it
    // over continues that attempt, counted as a postponement, not a new attempt, so
    // killed processes do not use up a task's attempts — until a job has lost its
    // worker MAX_POSTPONEMENTS times, after which each loss counts as an attempt.
    let lost = format!("state = 'running' AND postponements < {MAX_POSTPONEMENTS}");
    format!(
        "UPDATE jobs SET state = 'running', \
         attempts = CASE WHEN {lost} THEN attempts ELSE attempts + 1 END, \
         postponements = CASE WHEN {lost} THEN postponements + 1 ELSE postponements END, \
         lease_owner = $1, lease_expires_at = $2 \
         WHERE id = (SELECT id FROM jobs WHERE kind IN ({kinds}) AND \
            ((state = 'queued' AND run_after <= $3) OR (state = 'running' AND lease_expires_at <= $3)) \
            ORDER BY run_after, id LIMIT 1{lock}) \
         RETURNING id, kind, idempotency_key, payload, attempts, max_attempts, postponements",
        kinds = lane.sql_kinds()
    )
}

impl Store {
    /// Adds a job; `false` when a job with the same key already exists.
    pub async fn enqueue(&self, job: &NewJob) -> anyhow::Result<bool> {
        let now = self.now();
        let inserted = with_pool!(self, write, |pool| {
            insert_job!(pool, job, now).await?.rows_affected()
        });
        Ok(inserted == 1)
    }

    /// Takes the next runnable job of `lane` (queued and due, or running with an
    /// expired lease) under a lease for `owner` lasting `lease`.
    pub async fn claim(
        &self,
        owner: &str,
        lease: Duration,
        lane: JobLane,
    ) -> anyhow::Result<Option<ClaimedJob>> {
        let now = self.now();
        let expires = now.saturating_add(duration_ms(lease));
        let sql = claim_sql(lane, self.kind());
        let row = with_pool!(self, write, |pool| {
            sqlx::query(&sql)
                .bind(owner)
                .bind(expires)
                .bind(now)
                .fetch_optional(pool)
                .await?
                .map(|row| {
                    let payload: String = row.try_get("payload")?;
                    anyhow::Ok((
                        row.try_get::<i64, _>("id")?,
                        row.try_get::<String, _>("kind")?,
                        row.try_get::<String, _>("idempotency_key")?,
                        payload,
                        row.try_get::<i64, _>("attempts")?,
                        row.try_get::<i64, _>("max_attempts")?,
                        row.try_get::<i64, _>("postponements")?,
                    ))
                })
                .transpose()?
        });
        let Some((id, kind, key, payload, attempts, max_attempts, postponements)) = row else {
            return Ok(None);
        };
        let run = self.start_job_run(id, owner).await?;
        Ok(Some(ClaimedJob {
            id,
            kind: kind.parse()?,
            key,
            payload: serde_json::from_str(&payload)
                .with_context(|| format!("job {id} has a payload that is not JSON"))?,
            attempts,
            max_attempts,
            postponements,
            lease_owner: owner.to_owned(),
            run,
        }))
    }

    /// Extends a running job's lease; `false` when the lease was lost.
    pub async fn renew_lease(&self, job: &ClaimedJob, lease: Duration) -> anyhow::Result<bool> {
        let expires = self.now().saturating_add(duration_ms(lease));
        self.update_leased(job, "lease_expires_at = $1", expires, None)
            .await
    }

    /// Marks a job done; `false` when the lease had been lost to another worker.
    pub async fn complete(&self, job: &ClaimedJob) -> anyhow::Result<bool> {
        let now = self.now();
        self.update_leased(
            job,
            "state = 'done', lease_owner = NULL, lease_expires_at = NULL, finished_at = $1",
            now,
            None,
        )
        .await
    }

    /// Records a failed attempt: the job is retried after the policy's delay, or is dead
    /// when it has used its attempts. The error is kept either way.
    pub async fn fail(
        &self,
        job: &ClaimedJob,
        error: &str,
        policy: &RetryPolicy,
    ) -> anyhow::Result<JobFate> {
        let now = self.now();
        let (fate, at, set) = if job.attempts >= job.max_attempts {
            (JobFate::Dead, now, "state = 'dead', finished_at = $1")
        } else {
            let at = now.saturating_add(duration_ms(policy.delay(job.attempts)));
            (
                JobFate::Retry { at },
                at,
                "state = 'queued', finished_at = NULL",
            )
        };
        let set = format!("{set}, run_after = $1, lease_owner = NULL, lease_expires_at = NULL");
        let held = self.update_leased(job, &set, at, Some(error)).await?;
        Ok(if held { fate } else { JobFate::LeaseLost })
    }

    /// Applies `set` (binding `$1` to `at`) to a running job while `job`'s worker still
    /// holds its lease, keeping `error` as its last error when given; `false` when the
    /// lease had been lost.
    async fn update_leased(
        &self,
        job: &ClaimedJob,
        set: &str,
        at: Millis,
        error: Option<&str>,
    ) -> anyhow::Result<bool> {
        let updated = with_pool!(self, write, |pool| {
            sqlx::query(&format!(
                "UPDATE jobs SET {set}, last_error = COALESCE($4, last_error) \
                 WHERE id = $2 AND lease_owner = $3 AND state = 'running'"
            ))
            .bind(at)
            .bind(job.id)
            .bind(job.lease_owner.as_str())
            .bind(error)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(updated == 1)
    }

    /// Puts a job that failed on a transient GitHub error back in the queue without
    /// spending one of its attempts, after a delay growing with each postponement
    /// (linearly from the policy's base to its max) and never shorter than `at_least`
    /// (GitHub's `retry-after`). After [`MAX_POSTPONEMENTS`] it fails as any error
    /// does, so a GitHub fault that never clears still ends in a dead job.
    pub async fn postpone(
        &self,
        job: &ClaimedJob,
        error: &str,
        policy: &RetryPolicy,
        at_least: Option<Duration>,
    ) -> anyhow::Result<JobFate> {
        if job.postponements >= MAX_POSTPONEMENTS {
            return self.fail(job, error, policy).await;
        }
        let step = duration_ms(policy.base).saturating_mul(job.postponements + 1);
        let delay = step
            .min(duration_ms(policy.max))
            .max(at_least.map_or(0, duration_ms));
        let at = self.now().saturating_add(delay);
        let held = self
            .update_leased(
                job,
                "state = 'queued', attempts = attempts - 1, postponements = postponements + 1, \
                 run_after = $1, lease_owner = NULL, lease_expires_at = NULL",
                at,
                Some(error),
            )
            .await?;
        Ok(if held {
            JobFate::Retry { at }
        } else {
            JobFate::LeaseLost
        })
    }

    /// Reads a job by its idempotency key.
    pub async fn job_by_key(&self, key: &str) -> anyhow::Result<Option<JobRow>> {
        let row = with_pool!(self, read, |pool| {
            sqlx::query_as(
                "SELECT kind, state, attempts, last_error, lease_owner FROM jobs \
                 WHERE idempotency_key = $1",
            )
            .bind(key)
            .fetch_optional(pool)
            .await?
        });
        Ok(row)
    }

    /// Counts jobs per state, for the health of the queue.
    pub async fn count_jobs(&self, state: JobState) -> anyhow::Result<i64> {
        let count = with_pool!(self, read, |pool| {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM jobs WHERE state = $1")
                .bind(state.as_str())
                .fetch_one(pool)
                .await?
        });
        Ok(count)
    }

    /// How many jobs there are of each kind in each state (pairs with none are absent):
    /// the queue's depth, read when `/metrics` is scraped.
    pub async fn job_counts(&self) -> anyhow::Result<Vec<(JobKind, JobState, i64)>> {
        let rows: Vec<(String, String, i64)> = with_pool!(self, read, |pool| {
            sqlx::query_as(
                "SELECT kind, state, CAST(COUNT(*) AS BIGINT) FROM jobs GROUP BY kind, state",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(kind, state, count)| Ok((kind.parse()?, state.parse()?, count)))
            .collect()
    }

    /// For each kind with a job that may run now but no worker has taken, how long the
    /// one that has waited longest has been waiting (since its `run_after`): the
    /// queue's latency, read when `/metrics` is scraped.
    pub async fn queued_job_waits(&self) -> anyhow::Result<Vec<(JobKind, Duration)>> {
        let now = self.now();
        let rows: Vec<(String, i64)> = with_pool!(self, read, |pool| {
            sqlx::query_as(
                "SELECT kind, CAST(MIN(run_after) AS BIGINT) FROM jobs \
                 WHERE state = 'queued' AND run_after <= $1 GROUP BY kind",
            )
            .bind(now)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(kind, since)| {
                let waited = u64::try_from(now.saturating_sub(since)).unwrap_or(0);
                Ok((kind.parse()?, Duration::from_millis(waited)))
            })
            .collect()
    }
}
