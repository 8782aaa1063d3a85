//! Budgets in the fleet: before an agent starts, whether it may and how much it may
//! spend (the cap the runner enforces while it streams usage); after it ends, what it
//! spent; and what a spent budget does to a run — it starts no more agents, says so once
//! on the issue with the figures, and hands its open pull requests to a person until a
//! writer's `/flotilla retry` under a raised budget resumes it.

use std::sync::Arc;

use anyhow::Context;

use super::FleetHandlers;
use super::fleet::Fleet;
use super::text::{self, Outcome, RunSpend};
use super::trigger::run_config;
use super::verify::NEEDS_HUMAN_LABEL;
use crate::agent::{AgentReport, Role, UsageCap};
use crate::cost::{Budget, BudgetConfig, Exhausted, Headroom, Scope, Spend};
use crate::github::InstallationClient;
use crate::store::{NewUsage, RunId, RunRecord, TaskId, TaskState};
use crate::types::{CommitSha, IssueNumber};

/// A UTC day in milliseconds.
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// What one agent run is, for its budget and its usage record.
#[derive(Clone, Copy)]
pub(super) struct Spender<'a> {
    /// The run it works for.
    pub(super) run: &'a RunRecord,
    /// Its task; none for a planner.
    pub(super) task: Option<TaskId>,
    /// Worker, planner or reviewer.
    pub(super) role: Role,
    /// A reviewer's lens.
    pub(super) lens: Option<&'a str>,
    /// A worker's attempt number.
    pub(super) attempt: Option<u32>,
    /// The head a reviewer judges.
    pub(super) head: Option<&'a CommitSha>,
}

/// Whether an agent may start, and under which cap.
pub(super) enum Allowance {
    /// It may start; the cap (if any budget applies) stops it mid-run.
    Granted(Option<UsageCap>),
    /// A budget is spent (or the run was already stopped by one): it must not start.
    Refused(String),
}

/// The budget a run is under: the one `/flotilla retry` raised it to, else its
/// configuration's.
pub(super) fn budget_of(run: &RunRecord) -> anyhow::Result<BudgetConfig> {
    match run.budget_override {
        Some(budget) => Ok(budget),
        None => Ok(run_config(run)?.budget),
    }
}

impl FleetHandlers {
    /// Every budget that applies to an agent run of `spender`, each with what its scope
    /// spent so far.
    pub(super) async fn budgets(
        &self,
        run: &RunRecord,
        task: Option<TaskId>,
    ) -> anyhow::Result<Budget> {
        let config = budget_of(run)?;
        let now = self.store.now();
        let mut budget = Budget::default()
            .with(
                Scope::Run,
                config.run,
                self.store.spend_of_run(run.id).await?,
            )
            .with(
                Scope::InstallationDay,
                self.fleet.config.daily_budget,
                self.store
                    .spend_of_installation_since(
                        run.spec.installation,
                        now - now.rem_euclid(DAY_MS),
                    )
                    .await?,
            );
        if let Some(task) = task {
            budget = budget.with(
                Scope::Task,
                config.task,
                self.store.spend_of_task(task).await?,
            );
        }
        Ok(budget)
    }

    /// Checks, before `count` agent runs of `spender` start at once, that the spend so
    /// far plus their projection (the mean of the run's earlier runs of that role)
    /// stays within every budget. When it would not, the run is stopped (once) and the
    /// answer says why. Each of the `count` gets an equal share of the headroom as its
    /// cap; agents of different tasks running at once each get the whole headroom, so
    /// a budget can be overrun by what they spend in parallel.
    pub(super) async fn allowance(
        &self,
        spender: &Spender<'_>,
        count: u64,
    ) -> anyhow::Result<Allowance> {
        let run = spender.run;
        if let Some(reason) = &run.budget_stopped {
            return Ok(Allowance::Refused(reason.clone()));
        }
        let budget = self.budgets(run, spender.task).await?;
        let mut projected = Spend::default();
        if let Some(mean) = self.store.mean_spend(run.id, spender.role).await? {
            for _ in 0..count {
                projected += mean;
            }
        }
        match budget.check(projected) {
            Ok(headroom) => Ok(Allowance::Granted(usage_cap(
                headroom.shared_by(count),
                &self.fleet,
            ))),
            Err(exhausted) => {
                self.stop_for_budget(run, &exhausted).await?;
                Ok(Allowance::Refused(exhausted.to_string()))
            }
        }
    }

    /// Records what an agent run spent; when its cap stopped it, the run stops too.
    /// Returns the spend.
    pub(super) async fn record_spend(
        &self,
        spender: &Spender<'_>,
        report: &AgentReport,
    ) -> anyhow::Result<Spend> {
        let spend = Spend::of(&report.usage, &self.fleet.config.pricing);
        self.store
            .record_usage(&NewUsage {
                run: spender.run.id,
                task: spender.task,
                installation: spender.run.spec.installation,
                role: spender.role,
                lens: spender.lens.map(str::to_owned),
                attempt: spender.attempt,
                head: spender.head.cloned(),
                usage: report.usage.clone(),
                spend,
                outcome: report.outcome.reason(),
            })
            .await?;
        self.metrics.agent_spent(spender.role, &spend);
        tracing::info!(
            usd = %spend.usd,
            tokens = spend.tokens.total(),
            role = spender.role.as_str(),
            "agent usage recorded"
        );
        if matches!(report.outcome, crate::agent::Outcome::BudgetExceeded { .. }) {
            let budget = self.budgets(spender.run, spender.task).await?;
            let exhausted = budget.exhausted_by(Spend::default()).unwrap_or_else(|| {
                Box::new(Exhausted {
                    scope: Scope::Run,
                    limit: budget_of(spender.run).map(|b| b.run).unwrap_or_default(),
                    spent: spend,
                    projected: spend,
                })
            });
            self.stop_for_budget(spender.run, &exhausted).await?;
        }
        Ok(spend)
    }

    /// Stops a run whose budget is spent: no agent starts for it any more; the issue
    /// hears it once, with the figures; its open pull requests are labelled for a
    /// person.
    pub(super) async fn stop_for_budget(
        &self,
        run: &RunRecord,
        exhausted: &Exhausted,
    ) -> anyhow::Result<()> {
        let reason = exhausted.to_string();
        if !self.store.stop_run_for_budget(run.id, &reason).await? {
            return Ok(());
        }
        tracing::warn!(%reason, "the run's budget is spent; it starts no more agents");
        let client = self.fleet.client(run.spec.installation).await?;
        let tasks = self.store.tasks_of_run(run.id).await?;
        for task in &tasks {
            if let Some(pr) = task.pr.filter(|_| !task.state.is_final()) {
                client
                    .add_labels(&run.spec.repo, IssueNumber(pr.0), &[NEEDS_HUMAN_LABEL])
                    .await?;
            }
        }
        let spent = self.store.spend_of_run(run.id).await?;
        self.post_once(
            &client,
            &run.spec.repo,
            run.spec.issue,
            &format!("budget-stopped run={}", run.id),
            &text::budget_stopped(exhausted, &spent),
        )
        .await
    }

    /// What a run's agents spent, in all and per task, for the texts that show it.
    pub(super) async fn run_spend(&self, run: RunId) -> anyhow::Result<RunSpend> {
        Ok(RunSpend {
            total: self.store.spend_of_run(run).await?,
            by_task: self.store.spend_by_task(run).await?,
        })
    }

    /// `/flotilla budget`: what the run, each task and the installation today spent,
    /// and what is left of each budget.
    pub(super) async fn budget_report(&self, run: &RunRecord) -> anyhow::Result<String> {
        let config = budget_of(run)?;
        let now = self.store.now();
        let today = self
            .store
            .spend_of_installation_since(run.spec.installation, now - now.rem_euclid(DAY_MS))
            .await?;
        let tasks = self.store.tasks_of_run(run.id).await?;
        let by_task = self.store.spend_by_task(run.id).await?;
        Ok(text::budget_report(
            run,
            &tasks,
            &by_task,
            &self.store.spend_of_run(run.id).await?,
            &config,
            (&today, &self.fleet.config.daily_budget),
            &self.fleet.redactor(),
        ))
    }

    /// Resumes a run its budget stopped, under the budget its configuration now
    /// gives; `Err` with the figures when that budget is spent as well.
    pub(super) async fn resume_budget(
        &self,
        run: &RunRecord,
        raised: BudgetConfig,
    ) -> anyhow::Result<Result<(), String>> {
        let resumed = RunRecord {
            budget_override: Some(raised),
            budget_stopped: None,
            ..run.clone()
        };
        let budget = self.budgets(&resumed, None).await?;
        if let Some(exhausted) = budget.exhausted_by(Spend::default()) {
            return Ok(Err(exhausted.to_string()));
        }
        self.store
            .resume_run_budget(run.id, &raised)
            .await
            .context("resuming the run")?;
        Ok(Ok(()))
    }

    /// After a resume: the labels the stop put on are taken off, the heads whose
    /// verification the stop skipped are verified, and queued work starts again.
    pub(super) async fn resume_after_budget(
        &self,
        client: &InstallationClient,
        run: &RunRecord,
    ) -> anyhow::Result<Outcome> {
        let tasks = self.store.tasks_of_run(run.id).await?;
        let mut reverified = 0;
        for task in tasks.iter().filter(|t| !t.state.is_final()) {
            if let Some(pr) = task.pr {
                client
                    .remove_label(&run.spec.repo, IssueNumber(pr.0), NEEDS_HUMAN_LABEL)
                    .await?;
            }
            if task.state == TaskState::Proposed
                && let Some(head) = &task.head_sha
                && self.store.reverify(task.id, head, "budget raised").await?
            {
                reverified += 1;
            }
        }
        self.progress(run.id).await?;
        Ok(Outcome::Resumed { reverified })
    }
}

/// The runner's cap for what is left of every budget; none when no budget applies.
fn usage_cap(headroom: Headroom, fleet: &Fleet) -> Option<UsageCap> {
    if !headroom.is_limited() {
        return None;
    }
    let pricing = fleet.config.pricing.clone();
    let what = headroom.describe();
    Some(UsageCap {
        what,
        reached: Arc::new(move |usage| headroom.reached_by(&Spend::of(usage, &pricing))),
    })
}
