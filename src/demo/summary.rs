//! The demo's outcome: one row per task with its verdicts and its pull request's state
//! on the simulator, and what the run landed on the default branch, printed as a table
//! and written as JSON for scripts.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::cost::Spend;
use crate::sim::Sim;
use crate::store::{Store, TaskRecord, TaskState};
use crate::types::{PrNumber, RepoName};

use super::agent_cli::ServerReport;
use super::verdicts::Verdicts;

/// The `--summary-json` document.
#[derive(Debug, Serialize)]
pub(super) struct Summary {
    tasks: Vec<TaskSummary>,
    default_branch: BranchSummary,
    /// What the run's agents spent in all, its planner included.
    spend: Spend,
    /// With `--agent-cli claude`: what the scripted model server answered and reported,
    /// which `spend`'s tokens must equal.
    #[serde(skip_serializing_if = "Option::is_none")]
    model_server: Option<ServerReport>,
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
    /// Whether the task merged.
    merged: bool,
    /// What verified the task's last head.
    verdicts: Verdicts,
    /// What the task's attempts and lenses spent.
    spend: Spend,
    /// Whether the simulator shows the pull request merged.
    #[serde(skip)]
    pr_merged: bool,
}

/// The default branch after the run: its head and the files the merged tasks named.
#[derive(Debug, Serialize)]
struct BranchSummary {
    name: String,
    head: Option<String>,
    /// Each path a merged task declared, with its text on the default branch.
    files: BTreeMap<String, String>,
}

impl Summary {
    /// The outcome of `tasks`: verdicts from `store`, pull requests and the default
    /// branch from `sim`.
    pub(super) async fn collect(
        store: &Store,
        sim: &Sim,
        repo: &RepoName,
        default_branch: &str,
        tasks: &[TaskRecord],
    ) -> anyhow::Result<Self> {
        let mut summaries = Vec::with_capacity(tasks.len());
        let mut files = BTreeMap::new();
        for task in tasks {
            let merged = task.state == TaskState::Merged;
            if merged {
                for path in &task.paths {
                    if let Some(text) = sim.file_at(repo, default_branch, path).await {
                        files.insert(path.clone(), text);
                    }
                }
            }
            summaries.push(TaskSummary {
                id: task.id.to_string(),
                title: task.title.clone(),
                state: task.state.as_str(),
                attempts: task.attempts,
                branch: task.branch.clone(),
                pr: task.pr,
                merged,
                verdicts: Verdicts::load(store, task).await?,
                spend: store.spend_of_task(task.id).await?,
                pr_merged: task
                    .pr
                    .and_then(|pr| sim.pull(repo, pr))
                    .is_some_and(|pull| pull.merged),
            });
        }
        Ok(Self {
            spend: match tasks.first() {
                Some(task) => store.spend_of_run(task.run_id).await?,
                None => Spend::default(),
            },
            tasks: summaries,
            model_server: None,
            default_branch: BranchSummary {
                name: default_branch.to_owned(),
                head: sim.branch_sha(repo, default_branch).await.map(|sha| sha.0),
                files,
            },
        })
    }

    /// The summary with what the model server answered, when there was one.
    pub(super) fn with_model_server(mut self, report: Option<ServerReport>) -> Self {
        self.model_server = report;
        self
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
        let state_w = width(|t| t.state.len(), "state");
        let branch_w = width(|t| t.branch.len(), "branch");
        println!();
        println!(
            "{:<id_w$}  {:<state_w$}  {:<8}  {:<branch_w$}  pull request",
            "task", "state", "attempts", "branch"
        );
        for task in &self.tasks {
            let pr = match task.pr {
                Some(pr) if task.pr_merged => {
                    format!("#{pr} (merged) {}", pr_url(base_url, repo, pr))
                }
                Some(pr) => format!("#{pr} {}", pr_url(base_url, repo, pr)),
                None => "-".to_owned(),
            };
            println!(
                "{:<id_w$}  {:<state_w$}  {:<8}  {:<branch_w$}  {pr}",
                task.id, task.state, task.attempts, task.branch
            );
            println!("{:<id_w$}  {}", "", task.title);
            println!("{:<id_w$}  spent {}", "", task.spend);
            if let Some(line) = task.verdicts.line() {
                println!("{:<id_w$}  {line}", "");
            }
        }
        let merged = self.tasks.iter().filter(|t| t.merged).count();
        println!();
        println!(
            "{merged} of {} task(s) merged into {}{}",
            self.tasks.len(),
            self.default_branch.name,
            self.default_branch
                .head
                .as_deref()
                .map(|sha| format!(", now at {}", &sha[..sha.len().min(7)]))
                .unwrap_or_default()
        );
        println!("the run's agents spent {}", self.spend);
        if let Some(server) = &self.model_server {
            println!(
                "the scripted model server answered {} request(s) and reported {} tokens",
                server.requests,
                crate::cost::thousands(server.tokens.total())
            );
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
