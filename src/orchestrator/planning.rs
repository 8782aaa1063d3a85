//! The `plan_run` job: fetch the repository, decide the tasks (task list, planner
//! agent or one task), give each a branch, record the plan, post it, and start work.

use anyhow::Context;

use super::FleetHandlers;
use super::agents::{TaskLabel, agent_run};
use super::budget::{Allowance, Spender};
use super::plan::{self, Plan, PlanInput, PlanSource};
use super::prompt;
use super::steps::redacted_end;
use super::trigger::run_config;
use crate::agent::Role;
use crate::config::RepoConfig;
use crate::store::{
    NewStep, NewTask, RecordedPlan, RunId, RunRecord, RunState, StepKind, StepOutcome,
};
use crate::types::CommitSha;
use crate::workspace::{GitAuth, Mirror};

/// How the plan comment names the rule that decided.
fn describe(source: PlanSource) -> &'static str {
    match source {
        PlanSource::Checklist => "the issue's task list",
        PlanSource::Planner => "the planner agent's plan",
        PlanSource::Single => "the whole issue as one task",
        PlanSource::ForcedSingle => "the `flotilla:single` label (one task)",
    }
}

/// Gives each task a branch `<prefix><issue>-<slug>` that no task of the repository
/// used before (`-2`, `-3`, … when taken).
fn allocate_branches(
    run: &RunRecord,
    config: &RepoConfig,
    plan: &Plan,
    taken: &[String],
) -> Vec<String> {
    let mut used: Vec<String> = taken.to_vec();
    plan.tasks
        .iter()
        .map(|task| {
            let base = format!(
                "{}{}-{}",
                config.branch_prefix,
                run.spec.issue,
                plan::slug(&task.title)
            );
            let mut branch = base.clone();
            let mut n = 2;
            while used.contains(&branch) {
                branch = format!("{base}-{n}");
                n += 1;
            }
            used.push(branch.clone());
            branch
        })
        .collect()
}

impl FleetHandlers {
    /// Plans a run once; a rerun of the job after a crash finishes what is missing
    /// (the plan comment, starting tasks) without planning twice.
    pub(super) async fn plan_run(&self, run_id: RunId, retried: bool) -> anyhow::Result<()> {
        let run = self.store.run(run_id).await?.context("run not stored")?;
        if run.state == RunState::Planning {
            let config = run_config(&run)?;
            let (base_sha, plan) = self.decide_plan(&run, &config).await?;
            let branches = allocate_branches(
                &run,
                &config,
                &plan,
                &self.store.branches_in_repo(&run.spec.repo).await?,
            );
            let tasks = plan
                .tasks
                .iter()
                .zip(branches)
                .enumerate()
                .map(|(index, (task, branch))| NewTask {
                    position: i64::try_from(index).unwrap_or(i64::MAX) + 1,
                    title: task.title.clone(),
                    instructions: task.instructions.clone(),
                    paths: task.paths.clone(),
                    depends_on: task
                        .depends_on
                        .iter()
                        .map(|d| i64::try_from(*d).unwrap_or(i64::MAX) + 1)
                        .collect(),
                    branch,
                    max_attempts: config.max_attempts,
                })
                .collect();
            let recorded = RecordedPlan {
                base_sha,
                source: describe(plan.source).to_owned(),
                decisions: plan.decisions,
                tasks,
            };
            if self.store.record_plan(run_id, &recorded).await? {
                tracing::info!(tasks = recorded.tasks.len(), "plan recorded");
            }
        }
        self.publish_plan(run_id, retried).await?;
        self.progress(run_id).await
    }

    /// Fetches the repository and decides the tasks, running the planner agent on a
    /// checkout of the default branch when the issue has no task list.
    async fn decide_plan(
        &self,
        run: &RunRecord,
        config: &RepoConfig,
    ) -> anyhow::Result<(CommitSha, Plan)> {
        let client = self.fleet.client(run.spec.installation).await?;
        let auth = GitAuth::new(client.token().await?);
        let mirror = Mirror::open(&self.fleet.config.data_dir, &run.spec.repo)?;
        let lock = self.fleet.mirror_lock(&run.spec.repo);
        let base_sha = {
            let _git = lock.lock().await;
            mirror.ensure(&run.spec.clone_url, &auth).await?;
            mirror.branch_head(&run.spec.default_branch).await?
        };
        let wants_planner = !run.spec.force_single && !plan::has_checklist(&run.spec.body);
        let planner_answer = match (&config.planner, wants_planner) {
            (Some(planner), true) => Some(
                self.ask_planner(run, config, planner, &mirror, &base_sha)
                    .await?,
            ),
            _ => None,
        };
        let plan = plan::plan(PlanInput {
            title: &run.spec.title,
            body: &run.spec.body,
            force_single: run.spec.force_single,
            max_tasks: config.max_tasks,
            planner_answer,
        });
        Ok((base_sha, plan))
    }

    /// Runs the planner agent on a read-only checkout; its failure is an answer too
    /// (`Err(reason)`), which planning turns into one task.
    async fn ask_planner(
        &self,
        run: &RunRecord,
        config: &RepoConfig,
        planner: &crate::config::AgentConfig,
        mirror: &Mirror,
        base_sha: &CommitSha,
    ) -> anyhow::Result<Result<serde_json::Value, String>> {
        let spender = Spender {
            run,
            task: None,
            role: Role::Planner,
            lens: None,
            attempt: None,
            head: None,
        };
        let cap = match self.allowance(&spender, 1).await? {
            Allowance::Granted(cap) => cap,
            Allowance::Refused(reason) => {
                return Ok(Err(format!("the planner agent did not start: {reason}")));
            }
        };
        let checkout_id = format!("plan-{}", run.id);
        let lock = self.fleet.mirror_lock(&run.spec.repo);
        let worktree = {
            let _git = lock.lock().await;
            mirror.remove_stale_worktree(&checkout_id).await?;
            mirror
                .add_worktree(
                    &checkout_id,
                    &format!("flotilla-plan/run-{}", run.id),
                    &base_sha.0,
                    &[],
                    &self.fleet.config.bot,
                )
                .await?
        };
        let prompt = prompt::planner(run, config.max_tasks);
        let redactor = self.fleet.redactor();
        let step = self
            .store
            .start_step(&NewStep {
                run: run.id,
                task: None,
                kind: StepKind::Plan,
                lens: None,
                attempt: None,
                head: None,
                prompt: Some(redactor.text(&prompt)),
            })
            .await?;
        let mut agent = agent_run(
            &self.fleet,
            planner,
            worktree.dir(),
            config.sandbox,
            prompt,
            Role::Planner,
            TaskLabel {
                id: checkout_id.clone(),
                title: run.spec.title.clone(),
            },
        );
        agent.usage_cap = cap;
        let report = agent
            .run(&self.fleet.config.host_env, &self.fleet.config.sandbox)
            .await;
        {
            let _git = lock.lock().await;
            worktree.remove().await?;
        }
        let report = match report {
            Ok(report) => report,
            Err(error) => {
                let end = redacted_end(
                    StepOutcome::Failed,
                    &format!("the planner agent did not start: {error:#}"),
                    "",
                    &redactor,
                );
                self.store.finish_step(step, &end).await?;
                return Err(anyhow::Error::new(error).context("starting the planner agent"));
            }
        };
        let outcome = if report.outcome.is_success() {
            StepOutcome::Succeeded
        } else {
            StepOutcome::Failed
        };
        let end = redacted_end(
            outcome,
            &report.outcome.reason(),
            &report.transcript,
            &redactor,
        );
        self.store.finish_step(step, &end).await?;
        self.record_spend(&spender, &report).await?;
        if !report.outcome.is_success() {
            return Ok(Err(format!(
                "the planner agent {}",
                report.outcome.reason()
            )));
        }
        Ok(planner
            .to_adapter()
            .answer(&report)
            .map_err(|e| format!("the planner's answer could not be read: {e}")))
    }
}
