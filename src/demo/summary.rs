//! The demo's outcome: one row per task with its pull request's state on the
//! simulator, printed as a table and written as JSON for scripts.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::sim::Sim;
use crate::store::TaskRecord;
use crate::types::{PrNumber, RepoName};

/// The `--summary-json` document.
#[derive(Debug, Serialize)]
pub(super) struct Summary {
    tasks: Vec<TaskSummary>,
}

/// One task's outcome.
#[derive(Debug, Serialize)]
struct TaskSummary {
    /// `task-N`.
    id: String,
    title: String,
    state: &'static str,
    attempts: u32,
    branch: String,
    pr: Option<PrNumber>,
    /// Whether the simulator has merged the task's pull request.
    merged: bool,
}

impl Summary {
    /// The outcome of `tasks`, with each pull request's state read from `sim`.
    pub(super) fn collect(sim: &Sim, repo: &RepoName, tasks: &[TaskRecord]) -> Self {
        let tasks = tasks
            .iter()
            .map(|task| TaskSummary {
                id: task.id.to_string(),
                title: task.title.clone(),
                state: task.state.as_str(),
                attempts: task.attempts,
                branch: task.branch.clone(),
                pr: task.pr,
                merged: task
                    .pr
                    .and_then(|pr| sim.pull(repo, pr))
                    .is_some_and(|pull| pull.merged),
            })
            .collect();
        Self { tasks }
    }

    /// Prints the final table.
    pub(super) fn print(&self, base_url: &str, repo: &RepoName) {
        let width = |column: fn(&TaskSummary) -> usize, header: &str| {
            self.tasks
                .iter()
                .map(column)
                .chain([header.len()])
                .max()
                .unwrap_or(0)
        };
        let id_w = width(|t| t.id.len(), "task");
        let branch_w = width(|t| t.branch.len(), "branch");
        println!();
        println!(
            "{:<id_w$}  {:<9} {:<8}  {:<branch_w$}  pull request",
            "task", "state", "attempts", "branch"
        );
        for task in &self.tasks {
            let pr = match task.pr {
                Some(pr) if task.merged => format!("#{pr} (merged) {}", pr_url(base_url, repo, pr)),
                Some(pr) => format!("#{pr} {}", pr_url(base_url, repo, pr)),
                None => "-".to_owned(),
            };
            println!(
                "{:<id_w$}  {:<9} {:<8}  {:<branch_w$}  {pr}",
                task.id, task.state, task.attempts, task.branch
            );
            println!("{:<id_w$}  {}", "", task.title);
        }
    }

    /// Writes the JSON document to `path`.
    pub(super) fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(self).context("encoding the summary")?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("writing --summary-json {}", path.display()))
    }
}

/// A pull request's page on the simulator.
pub(super) fn pr_url(base_url: &str, repo: &RepoName, pr: PrNumber) -> String {
    format!("{base_url}/{repo}/pull/{pr}")
}
