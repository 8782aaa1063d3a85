//! Runs: an issue under Flotilla's care, the snapshot it was labelled with, and its plan.
//!
//! A run is created together with its planning job in one transaction, and a partial
//! unique index keeps at most one live (planning or active) run per issue, so a second
//! label event, or a redelivered one, cannot start a second run.

use std::fmt;

use super::columns::{JsonList, NullableInt, named_in_text};
use super::jobs::{NewJob, insert_job};
use super::tasks::{NewTask, TaskState};
use super::{Store, with_pool};
use crate::clock::Millis;
use crate::cost::BudgetConfig;
use crate::types::{CommitSha, InstallationId, IssueNumber, Login, RepoName};

/// A run's row id.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a run is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// Waiting for (or in) planning.
    Planning,
    /// Planned; tasks are working or waiting.
    Active,
    /// Every task reached an end state.
    Settled,
    /// Stopped by `/flotilla cancel`, `/flotilla replan` or the issue being closed.
    Cancelled,
}

named_in_text! {
    /// The stored and displayed name.
    RunState as "run state" {
        Planning => "planning",
        Active => "active",
        Settled => "settled",
        Cancelled => "cancelled",
    }
}

impl RunState {
    /// Whether the run still does work (and so blocks a new run on the issue).
    pub fn is_live(self) -> bool {
        matches!(self, Self::Planning | Self::Active)
    }
}

/// A run to create when an issue is labelled: what it is asked to do, which its
/// [`RunRecord`] keeps as its `spec`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct NewRun {
    /// `owner/name`.
    pub repo: RepoName,
    /// The labelled issue.
    pub issue: IssueNumber,
    /// The installation that acts on the repository.
    pub installation: InstallationId,
    /// HTTPS clone URL (no credentials).
    pub clone_url: String,
    /// Where tasks branch from and pull requests are based.
    pub default_branch: String,
    /// The sanitized issue title at label time.
    pub title: String,
    /// The sanitized issue body at label time.
    pub body: String,
    /// The issue carried `flotilla:single`.
    pub force_single: bool,
    /// The `.github/flotilla.yml` text the run works with (empty: defaults).
    pub config: String,
    /// Who labelled the issue (or commanded a replan).
    pub requested_by: Login,
    /// The run's `max_parallel_tasks`.
    #[sqlx(try_from = "i64")]
    pub max_parallel: u32,
}

/// A run as stored: what it was asked to do, and what has become of it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RunRecord {
    /// Row id.
    pub id: RunId,
    /// What it was started with: the issue's snapshot, where and under which
    /// configuration it works, who asked.
    #[sqlx(flatten)]
    pub spec: NewRun,
    /// Where it is.
    pub state: RunState,
    /// The default branch's commit the plan was made on.
    pub base_sha: Option<CommitSha>,
    /// Which rule made the plan (for the plan comment).
    pub plan_source: Option<String>,
    /// One line per planning decision.
    #[sqlx(try_from = "JsonList<String>")]
    pub plan_decisions: Vec<String>,
    /// The plan comment Flotilla keeps editing.
    #[sqlx(try_from = "NullableInt")]
    pub plan_comment_id: Option<u64>,
    /// The budget a `/flotilla retry` raised it to; none means the configuration's.
    #[sqlx(rename = "budget")]
    pub budget_override: Option<BudgetConfig>,
    /// Why the run stopped starting agents: the budget it spent, with the figures.
    pub budget_stopped: Option<String>,
    /// When the issue was labelled (Unix milliseconds).
    pub created_at: Millis,
    /// When the run last changed (Unix milliseconds).
    pub updated_at: Millis,
}

/// What [`Store::start_run`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartRun {
    /// A new run, with its planning job enqueued.
    Started(RunId),
    /// The issue already has a live run; nothing was created.
    AlreadyLive,
}

/// The plan to record on a run.
#[derive(Clone, Debug)]
pub struct RecordedPlan {
    /// The default branch's commit planned on.
    pub base_sha: CommitSha,
    /// Which rule decided.
    pub source: String,
    /// Decisions, one line each.
    pub decisions: Vec<String>,
    /// The tasks, in plan order.
    pub tasks: Vec<NewTask>,
}

/// The columns of a [`RunRecord`]; a run not planned yet has no decisions (`NULL`).
pub(super) const RUN_COLUMNS: &str = "id, repo, issue, installation, clone_url, default_branch, title, body, \
    force_single, config, requested_by, max_parallel, state, base_sha, plan_source, \
    COALESCE(plan_decisions, '[]') AS plan_decisions, plan_comment_id, budget, budget_stopped, \
    created_at, updated_at";

/// The states of a live run ([`RunState::is_live`]), as a SQL list.
pub(super) const LIVE: &str = "'planning', 'active'";

/// Moves run `$run` to `$to` (a [`RunState`]) if it is in one of the states of the SQL
/// list `$from`, on any executor — a pool or an open transaction of either backend — so
/// the run's state can change in the same transaction as its tasks'. Evaluates to the
/// query's future.
macro_rules! move_run {
    ($executor:expr, $run:expr, $from:expr, $to:expr, $now:expr) => {
        sqlx::query(&format!(
            "UPDATE runs SET state = $1, updated_at = $2 WHERE id = $3 AND state IN ({})",
            $from
        ))
        .bind($to.as_str())
        .bind($now)
        .bind($run.0)
        .execute($executor)
    };
}
pub(super) use move_run;

/// Attempts a planning job gets (GitHub or the planner agent failing for a while).
const PLAN_MAX_ATTEMPTS: i64 = 5;

impl NewJob {
    /// The job that plans a run.
    pub fn plan_run(run: RunId) -> Self {
        Self {
            kind: super::JobKind::PlanRun,
            key: format!("plan:{run}"),
            payload: serde_json::json!({ "run_id": run }),
            max_attempts: PLAN_MAX_ATTEMPTS,
        }
    }
}

impl Store {
    /// Creates a run and its planning job in one transaction, unless the issue already
    /// has a live run.
    pub async fn start_run(&self, run: &NewRun) -> anyhow::Result<StartRun> {
        let now = self.now();
        let started = with_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO runs (repo, issue, installation, clone_url, default_branch, title, \
                 body, force_single, config, requested_by, max_parallel, state, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'planning', \
                 $12, $12) ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(run.repo.0.as_str())
            .bind(i64::try_from(run.issue.0)?)
            .bind(i64::try_from(run.installation.0)?)
            .bind(run.clone_url.as_str())
            .bind(run.default_branch.as_str())
            .bind(run.title.as_str())
            .bind(run.body.as_str())
            .bind(run.force_single)
            .bind(run.config.as_str())
            .bind(run.requested_by.0.as_str())
            .bind(i64::from(run.max_parallel))
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            match id {
                None => StartRun::AlreadyLive,
                Some(id) => {
                    let job = NewJob::plan_run(RunId(id));
                    insert_job!(&mut *tx, job, now).await?;
                    tx.commit().await?;
                    StartRun::Started(RunId(id))
                }
            }
        });
        Ok(started)
    }

    /// Reads one run.
    pub async fn run(&self, id: RunId) -> anyhow::Result<Option<RunRecord>> {
        let run = with_pool!(self, read, |pool| {
            sqlx::query_as::<_, RunRecord>(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"))
                .bind(id.0)
                .fetch_optional(pool)
                .await?
        });
        Ok(run)
    }

    /// The newest run of an issue, live or not.
    pub async fn latest_run(
        &self,
        repo: &RepoName,
        issue: IssueNumber,
    ) -> anyhow::Result<Option<RunRecord>> {
        let run = with_pool!(self, read, |pool| {
            sqlx::query_as::<_, RunRecord>(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE repo = $1 AND issue = $2 \
                 ORDER BY id DESC LIMIT 1"
            ))
            .bind(repo.0.as_str())
            .bind(i64::try_from(issue.0)?)
            .fetch_optional(pool)
            .await?
        });
        Ok(run)
    }

    /// The runs of `repo` still planning or active: work that stops when the App loses
    /// the repository.
    pub async fn live_runs_of_repo(&self, repo: &RepoName) -> anyhow::Result<Vec<RunId>> {
        let ids: Vec<i64> = with_pool!(self, read, |pool| {
            sqlx::query_scalar(&format!(
                "SELECT id FROM runs WHERE repo = $1 AND state IN ({LIVE}) ORDER BY id"
            ))
            .bind(repo.0.as_str())
            .fetch_all(pool)
            .await?
        });
        Ok(ids.into_iter().map(RunId).collect())
    }

    /// Every repository installation `installation` ever ran Flotilla on: what an
    /// `installation.deleted` event that lists no repositories leaves Flotilla to
    /// forget.
    pub async fn repos_of_installation(
        &self,
        installation: InstallationId,
    ) -> anyhow::Result<Vec<RepoName>> {
        let repos: Vec<String> = with_pool!(self, read, |pool| {
            sqlx::query_scalar(
                "SELECT DISTINCT repo FROM runs WHERE installation = $1 ORDER BY repo",
            )
            .bind(i64::try_from(installation.0)?)
            .fetch_all(pool)
            .await?
        });
        Ok(repos.into_iter().map(RepoName).collect())
    }

    /// Every run of a state, oldest first (the demo and status pages list them).
    pub async fn runs_in_state(&self, state: RunState) -> anyhow::Result<Vec<RunRecord>> {
        let runs = with_pool!(self, read, |pool| {
            sqlx::query_as::<_, RunRecord>(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE state = $1 ORDER BY id"
            ))
            .bind(state.as_str())
            .fetch_all(pool)
            .await?
        });
        Ok(runs)
    }

    /// Records a run's plan and its tasks, and makes the run active. Does nothing (and
    /// answers `false`) unless the run is still planning, so a planning job that runs
    /// twice records one plan.
    pub async fn record_plan(&self, run: RunId, plan: &RecordedPlan) -> anyhow::Result<bool> {
        let now = self.now();
        let decisions = serde_json::to_string(&plan.decisions)?;
        let recorded = with_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE runs SET state = 'active', base_sha = $1, plan_source = $2, \
                 plan_decisions = $3, updated_at = $4 WHERE id = $5 AND state = 'planning'",
            )
            .bind(plan.base_sha.0.as_str())
            .bind(plan.source.as_str())
            .bind(decisions.as_str())
            .bind(now)
            .bind(run.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 1 {
                for task in &plan.tasks {
                    sqlx::query(
                        "INSERT INTO tasks (run_id, position, title, instructions, paths, \
                         depends_on, branch, state, max_attempts, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                    )
                    .bind(run.0)
                    .bind(task.position)
                    .bind(task.title.as_str())
                    .bind(task.instructions.as_str())
                    .bind(serde_json::to_string(&task.paths)?)
                    .bind(serde_json::to_string(&task.depends_on)?)
                    .bind(task.branch.as_str())
                    .bind(TaskState::Planned.as_str())
                    .bind(i64::from(task.max_attempts))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            }
            updated == 1
        });
        Ok(recorded)
    }

    /// Remembers the plan comment so later updates edit it instead of posting anew.
    pub async fn set_plan_comment(&self, run: RunId, comment: u64) -> anyhow::Result<()> {
        let now = self.now();
        with_pool!(self, write, |pool| {
            sqlx::query("UPDATE runs SET plan_comment_id = $1, updated_at = $2 WHERE id = $3")
                .bind(i64::try_from(comment)?)
                .bind(now)
                .bind(run.0)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Moves a live run to `state`; `false` when it was no longer live.
    pub async fn end_run(&self, run: RunId, state: RunState) -> anyhow::Result<bool> {
        let now = self.now();
        let updated = with_pool!(self, write, |pool| {
            move_run!(pool, run, LIVE, state, now)
                .await?
                .rows_affected()
        });
        Ok(updated == 1)
    }

    /// Branch names already used by tasks in `repo`, so a new task never reuses one.
    pub async fn branches_in_repo(&self, repo: &RepoName) -> anyhow::Result<Vec<String>> {
        let branches = with_pool!(self, read, |pool| {
            sqlx::query_scalar::<_, String>(
                "SELECT t.branch FROM tasks t JOIN runs r ON r.id = t.run_id WHERE r.repo = $1",
            )
            .bind(repo.0.as_str())
            .fetch_all(pool)
            .await?
        });
        Ok(branches)
    }
}
