//! What agents spent: one row per agent run, and the sums budgets are checked against
//! (per task, per run, per installation since the start of the UTC day), plus the
//! budget state of runs (stopped once a budget is spent, resumed with a raised one).

use std::collections::HashMap;

use super::runs::RunId;
use super::tasks::TaskId;
use super::{Store, with_pool};
use crate::agent::{Role, Tokens, Usage};
use crate::clock::Millis;
use crate::cost::{BudgetConfig, Spend, Usd};
use crate::types::{CommitSha, InstallationId};

/// One finished agent run's usage, for the record.
#[derive(Clone, Debug)]
pub struct NewUsage {
    /// The run it belongs to.
    pub run: RunId,
    /// The task, for workers and reviewers.
    pub task: Option<TaskId>,
    /// The installation whose daily budget it counts against.
    pub installation: InstallationId,
    /// Worker, planner or reviewer.
    pub role: Role,
    /// A reviewer's lens.
    pub lens: Option<String>,
    /// A worker's attempt number.
    pub attempt: Option<u32>,
    /// The head a reviewer judged.
    pub head: Option<CommitSha>,
    /// What its CLI reported.
    pub usage: Usage,
    /// Its tokens and cost.
    pub spend: Spend,
    /// How it ended, in words.
    pub outcome: String,
}

/// The sums a spend query returns, before they are typed.
#[derive(sqlx::FromRow)]
struct SpendRow {
    input_tokens: i64,
    output_tokens: i64,
    cache_read_tokens: i64,
    cache_write_tokens: i64,
    cost_micros: i64,
    unpriced: i64,
}

impl From<SpendRow> for Spend {
    fn from(row: SpendRow) -> Self {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Spend {
            tokens: Tokens {
                input: count(row.input_tokens),
                output: count(row.output_tokens),
                cache_read: count(row.cache_read_tokens),
                cache_write: count(row.cache_write_tokens),
            },
            usd: Usd::from_micros(count(row.cost_micros)),
            unpriced_runs: count(row.unpriced),
        }
    }
}

/// The sum columns every spend query selects.
const SPEND_SUMS: &str = "CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) AS input_tokens, \
    CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) AS output_tokens, \
    CAST(COALESCE(SUM(cache_read_tokens), 0) AS BIGINT) AS cache_read_tokens, \
    CAST(COALESCE(SUM(cache_write_tokens), 0) AS BIGINT) AS cache_write_tokens, \
    CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) AS cost_micros, \
    CAST(COALESCE(SUM(CASE WHEN priced THEN 0 ELSE 1 END), 0) AS BIGINT) AS unpriced";

/// Sums the usage rows matching `$filter` (an SQL condition on `agent_usage` whose
/// placeholders take the `$arg`s in order) into a [`Spend`].
macro_rules! spend_where {
    ($store:expr, $filter:literal $(, $arg:expr)*) => {{
        let sql = format!("SELECT {SPEND_SUMS} FROM agent_usage WHERE {}", $filter);
        let row: SpendRow = with_pool!($store, read, |pool| {
            sqlx::query_as(&sql)$(.bind($arg))*.fetch_one(pool).await?
        });
        Ok(row.into())
    }};
}

fn db_count(n: u64) -> anyhow::Result<i64> {
    Ok(i64::try_from(n)?)
}

impl Store {
    /// Records what one agent run used.
    pub async fn record_usage(&self, record: &NewUsage) -> anyhow::Result<()> {
        let now = self.now();
        let usage = serde_json::to_string(&record.usage)?;
        let tokens = record.spend.tokens;
        with_pool!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO agent_usage (run_id, task_id, installation, role, lens, attempt, \
                 head_sha, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, \
                 cost_micros, priced, usage, outcome, created_at) VALUES ($1, $2, $3, $4, $5, \
                 $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            )
            .bind(record.run.0)
            .bind(record.task.map(|t| t.0))
            .bind(i64::try_from(record.installation.0)?)
            .bind(record.role.as_str())
            .bind(record.lens.as_deref())
            .bind(record.attempt.map(i64::from))
            .bind(record.head.as_ref().map(|h| h.0.as_str()))
            .bind(db_count(tokens.input)?)
            .bind(db_count(tokens.output)?)
            .bind(db_count(tokens.cache_read)?)
            .bind(db_count(tokens.cache_write)?)
            .bind(db_count(record.spend.usd.micros())?)
            .bind(record.spend.unpriced_runs == 0)
            .bind(usage)
            .bind(record.outcome.as_str())
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// What a task's attempts and lenses spent.
    pub async fn spend_of_task(&self, task: TaskId) -> anyhow::Result<Spend> {
        spend_where!(self, "task_id = $1", task.0)
    }

    /// What a run spent, its planner included.
    pub async fn spend_of_run(&self, run: RunId) -> anyhow::Result<Spend> {
        spend_where!(self, "run_id = $1", run.0)
    }

    /// What the lenses spent judging one head of a task.
    pub async fn spend_of_head(&self, task: TaskId, head: &CommitSha) -> anyhow::Result<Spend> {
        spend_where!(
            self,
            "task_id = $1 AND head_sha = $2 AND role = 'reviewer'",
            task.0,
            head.0.as_str()
        )
    }

    /// What one worker attempt at a task spent.
    pub async fn spend_of_attempt(&self, task: TaskId, attempt: u32) -> anyhow::Result<Spend> {
        spend_where!(
            self,
            "task_id = $1 AND attempt = $2 AND role = 'worker'",
            task.0,
            i64::from(attempt)
        )
    }

    /// What one lens spent judging one head of a task.
    pub async fn spend_of_lens(
        &self,
        task: TaskId,
        head: &CommitSha,
        lens: &str,
    ) -> anyhow::Result<Spend> {
        spend_where!(
            self,
            "task_id = $1 AND head_sha = $2 AND role = 'reviewer' AND lens = $3",
            task.0,
            head.0.as_str(),
            lens
        )
    }

    /// What an installation's agents spent since `since` (the start of the UTC day).
    pub async fn spend_of_installation_since(
        &self,
        installation: InstallationId,
        since: Millis,
    ) -> anyhow::Result<Spend> {
        spend_where!(
            self,
            "installation = $1 AND created_at >= $2",
            i64::try_from(installation.0)?,
            since
        )
    }

    /// What each task of a run spent, for the plan comment and summaries.
    pub async fn spend_by_task(&self, run: RunId) -> anyhow::Result<HashMap<TaskId, Spend>> {
        let sql = format!(
            "SELECT task_id, {SPEND_SUMS} FROM agent_usage WHERE run_id = $1 \
             AND task_id IS NOT NULL GROUP BY task_id"
        );
        #[derive(sqlx::FromRow)]
        struct Row {
            task_id: i64,
            #[sqlx(flatten)]
            spend: SpendRow,
        }
        let rows: Vec<Row> = with_pool!(self, read, |pool| {
            sqlx::query_as(&sql).bind(run.0).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|row| (TaskId(row.task_id), row.spend.into()))
            .collect())
    }

    /// The mean spend of a run's finished agent runs of `role`, the projection for the
    /// next one; `None` before the first.
    pub async fn mean_spend(&self, run: RunId, role: Role) -> anyhow::Result<Option<Spend>> {
        let sql = format!(
            "SELECT COUNT(*) AS runs, {SPEND_SUMS} FROM agent_usage WHERE run_id = $1 \
             AND role = $2"
        );
        #[derive(sqlx::FromRow)]
        struct Row {
            runs: i64,
            #[sqlx(flatten)]
            spend: SpendRow,
        }
        let row: Row = with_pool!(self, read, |pool| {
            sqlx::query_as(&sql)
                .bind(run.0)
                .bind(role.as_str())
                .fetch_one(pool)
                .await?
        });
        let Ok(runs) = u64::try_from(row.runs) else {
            return Ok(None);
        };
        if runs == 0 {
            return Ok(None);
        }
        let sum = Spend::from(row.spend);
        Ok(Some(Spend {
            tokens: Tokens {
                input: sum.tokens.input / runs,
                output: sum.tokens.output / runs,
                cache_read: sum.tokens.cache_read / runs,
                cache_write: sum.tokens.cache_write / runs,
            },
            usd: Usd::from_micros(sum.usd.micros() / runs),
            unpriced_runs: 0,
        }))
    }

    /// Marks a run as stopped by its budget, with the reason; returns whether this call
    /// stopped it (so the issue hears of it once).
    pub async fn stop_run_for_budget(&self, run: RunId, reason: &str) -> anyhow::Result<bool> {
        let now = self.now();
        let stopped = with_pool!(self, write, |pool| {
            sqlx::query(
                "UPDATE runs SET budget_stopped = $1, updated_at = $2 \
                 WHERE id = $3 AND budget_stopped IS NULL",
            )
            .bind(reason)
            .bind(now)
            .bind(run.0)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(stopped == 1)
    }

    /// Lets a stopped run start agents again, under `budget` (the one in its
    /// configuration as it is now).
    pub async fn resume_run_budget(&self, run: RunId, budget: &BudgetConfig) -> anyhow::Result<()> {
        let now = self.now();
        let budget = serde_json::to_string(budget)?;
        with_pool!(self, write, |pool| {
            sqlx::query(
                "UPDATE runs SET budget = $1, budget_stopped = NULL, updated_at = $2 \
                 WHERE id = $3",
            )
            .bind(budget)
            .bind(now)
            .bind(run.0)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
