//! Live progress: reads the issue's run from Flotilla's store and prints a line each
//! time the run or one of its tasks moves, until every task is in an end state.
//!
//! It only reads: the store for the run, the simulator for comments Flotilla posted
//! when it refused to start one.

use std::collections::HashMap;

use crate::sim::Sim;
use crate::store::{RunRecord, RunState, Store, TaskId, TaskRecord, TaskState};
use crate::types::{IssueNumber, PrNumber, RepoName};

use super::summary::pr_url;

/// What a task's line shows; a new line is printed when it changes.
type TaskLine = (TaskState, u32, Option<PrNumber>);

/// Follows one issue's run.
pub(super) struct Progress<'a> {
    store: &'a Store,
    sim: &'a Sim,
    base_url: String,
    repo: RepoName,
    issue: IssueNumber,
    run_state: Option<RunState>,
    tasks: HashMap<TaskId, TaskLine>,
    latest: Vec<TaskRecord>,
}

impl<'a> Progress<'a> {
    /// Follows `issue` of `repo`, whose pull requests live under `base_url`.
    pub(super) fn new(
        store: &'a Store,
        sim: &'a Sim,
        base_url: String,
        repo: RepoName,
        issue: IssueNumber,
    ) -> Self {
        Self {
            store,
            sim,
            base_url,
            repo,
            issue,
            run_state: None,
            tasks: HashMap::new(),
            latest: Vec::new(),
        }
    }

    /// The tasks as last read.
    pub(super) fn tasks(&self) -> &[TaskRecord] {
        &self.latest
    }

    /// Reads the run once, prints what changed, and says whether the run has settled.
    pub(super) async fn poll(&mut self) -> anyhow::Result<bool> {
        let Some(run) = self.store.latest_run(&self.repo, self.issue).await? else {
            return self.refused().await.map(|()| false);
        };
        self.latest = self.store.tasks_of_run(run.id).await?;
        if run.state.is_live() {
            self.print_run(&run);
        }
        let width = self
            .latest
            .iter()
            .map(|t| t.branch.len())
            .max()
            .unwrap_or(0);
        for task in &self.latest {
            let line = (task.state, task.attempts, task.pr);
            if self.tasks.insert(task.id, line) != Some(line) {
                println!("{}", self.task_line(task, width));
            }
        }
        if !run.state.is_live() {
            self.print_run(&run);
        }
        let all_final = !self.latest.is_empty() && self.latest.iter().all(|t| t.state.is_final());
        Ok(matches!(run.state, RunState::Settled | RunState::Cancelled) || all_final)
    }

    /// Fails with Flotilla's own words when it answered the label with a comment but
    /// no run (a refused configuration or requester).
    async fn refused(&self) -> anyhow::Result<()> {
        let said: Vec<String> = self
            .sim
            .issue_comments(&self.repo, self.issue.0)
            .into_iter()
            .filter(|comment| comment.user.0.ends_with("[bot]"))
            .map(|comment| comment.body)
            .collect();
        if said.is_empty()
            || self
                .store
                .latest_run(&self.repo, self.issue)
                .await?
                .is_some()
        {
            return Ok(());
        }
        anyhow::bail!(
            "Flotilla did not start a run; it commented:\n{}",
            said.join("\n")
        )
    }

    fn print_run(&mut self, run: &RunRecord) {
        if self.run_state == Some(run.state) {
            return;
        }
        self.run_state = Some(run.state);
        match run.state {
            RunState::Planning => println!("run {}: planning", run.id),
            RunState::Active => println!(
                "run {}: {} task(s) planned ({})",
                run.id,
                self.latest.len(),
                run.plan_source.as_deref().unwrap_or("no plan source")
            ),
            RunState::Settled => println!("run {}: settled", run.id),
            RunState::Cancelled => println!("run {}: cancelled", run.id),
        }
    }

    fn task_line(&self, task: &TaskRecord, width: usize) -> String {
        let detail = match (task.pr, task.state) {
            (Some(pr), _) => format!("PR #{pr} {}", pr_url(&self.base_url, &self.repo, pr)),
            (None, TaskState::Working) => {
                format!("attempt {} of {}", task.attempts, task.max_attempts)
            }
            (None, TaskState::Failed | TaskState::Cancelled) => {
                task.last_reason.clone().unwrap_or_else(|| "-".to_owned())
            }
            (None, _) => "-".to_owned(),
        };
        format!(
            "{:<8}  {:<9} {:<width$}  {detail}",
            task.id.to_string(),
            task.state.as_str(),
            task.branch
        )
    }
}
