//! Live progress: reads the issue's run from Flotilla's store and prints a line each
//! time the run or one of its tasks moves — worked on, proposed, verified or refuted
//! (with the findings), retried, merged — until every task is in an end state.
//!
//! It only reads: the store for the run and the verdicts, the simulator for comments
//! Flotilla posted when it refused to start one.

use std::collections::HashMap;

use crate::sim::Sim;
use crate::store::{RunRecord, RunState, Store, TaskId, TaskRecord, TaskState};
use crate::types::{CommitSha, IssueNumber, PrNumber, RepoName};

use super::summary::pr_url;
use super::verdicts::Verdicts;

/// The most findings shown under a refuted task.
const FINDINGS_SHOWN: usize = 3;

/// What a task's line shows; a new line is printed when it changes.
type TaskLine = (TaskState, u32, Option<PrNumber>);

/// A task's last head as read, and whether its verdicts were printed.
#[derive(Clone, PartialEq, Eq)]
struct SeenHead {
    head: Option<CommitSha>,
    shown: bool,
}

/// Follows one issue's run.
pub(super) struct Progress<'a> {
    store: &'a Store,
    sim: &'a Sim,
    base_url: String,
    repo: RepoName,
    issue: IssueNumber,
    run_state: Option<RunState>,
    tasks: HashMap<TaskId, TaskLine>,
    heads: HashMap<TaskId, SeenHead>,
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
            heads: HashMap::new(),
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
        for task in self.latest.clone() {
            self.missed_refutation(&task, width).await?;
            let line = (task.state, task.attempts, task.pr);
            if self.tasks.insert(task.id, line) != Some(line) {
                println!("{}", self.task_line(&task, width).await?);
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

    /// Prints the refutation of a head the task left between two polls (a quick retry:
    /// its attempts went up, or it pushed again), so no refutation goes unshown.
    async fn missed_refutation(&mut self, task: &TaskRecord, width: usize) -> anyhow::Result<()> {
        let retried = self
            .tasks
            .get(&task.id)
            .is_some_and(|(_, attempts, _)| *attempts < task.attempts);
        let before = self.heads.get(&task.id).cloned();
        let mut now = SeenHead {
            head: task.head_sha.clone(),
            shown: false,
        };
        let unshown = match before {
            Some(before) if before.head == task.head_sha => {
                now.shown = before.shown;
                (retried && !before.shown).then_some(before.head).flatten()
            }
            Some(SeenHead {
                head: Some(old),
                shown: false,
            }) => Some(old),
            _ => None,
        };
        if unshown.is_some() && unshown == task.head_sha {
            now.shown = true;
        }
        self.heads.insert(task.id, now);
        let Some(head) = unshown else {
            return Ok(());
        };
        let verdicts = Verdicts::on_head(self.store, task.id, &head).await?;
        if verdicts.refuted() {
            let detail = verdicts.line().unwrap_or_default();
            println!(
                "{}",
                self.lines(
                    task,
                    TaskState::Refuted,
                    &detail,
                    verdicts.findings(),
                    width
                )
            );
        }
        Ok(())
    }

    /// The task's line, with what its state means: the attempt, the pull request, the
    /// verdicts (and a refutation's findings on the lines below), the merge.
    async fn task_line(&mut self, task: &TaskRecord, width: usize) -> anyhow::Result<String> {
        let pr = |pr: PrNumber| format!("PR #{pr} {}", pr_url(&self.base_url, &self.repo, pr));
        let reason = || task.last_reason.clone().unwrap_or_else(|| "-".to_owned());
        let mut findings: Vec<String> = Vec::new();
        let detail = match (task.state, task.pr) {
            (TaskState::Working, _) if task.attempts > 1 => format!(
                "attempt {} of {}, with the findings, on the same branch",
                task.attempts, task.max_attempts
            ),
            (TaskState::Working, _) => {
                format!("attempt {} of {}", task.attempts, task.max_attempts)
            }
            (TaskState::Refuted | TaskState::Verified | TaskState::NeedsHuman, _) => {
                let verdicts = match &task.head_sha {
                    Some(head) => Verdicts::on_head(self.store, task.id, head).await?,
                    None => Verdicts::default(),
                };
                if let Some(seen) = self.heads.get_mut(&task.id) {
                    seen.shown = true;
                }
                if task.state != TaskState::Verified {
                    findings = verdicts.findings().to_vec();
                }
                match (verdicts.line(), task.state) {
                    (Some(line), _) => line,
                    (None, TaskState::NeedsHuman) => reason(),
                    (None, _) => "-".to_owned(),
                }
            }
            (TaskState::Ready, _) => reason(),
            (TaskState::Merged, Some(number)) => format!(
                "PR #{number} merged {}",
                pr_url(&self.base_url, &self.repo, number)
            ),
            (_, Some(number)) => pr(number),
            (TaskState::Failed | TaskState::Cancelled, None) => reason(),
            (_, None) => "-".to_owned(),
        };
        Ok(self.lines(task, task.state, &detail, &findings, width))
    }

    /// `task  state  branch  detail`, then up to [`FINDINGS_SHOWN`] findings below.
    fn lines(
        &self,
        task: &TaskRecord,
        state: TaskState,
        detail: &str,
        findings: &[String],
        width: usize,
    ) -> String {
        let mut out = format!(
            "{:<8}  {:<11} {:<width$}  {detail}",
            task.id.to_string(),
            state.as_str(),
            task.branch
        );
        let indent = format!("{:<8}  {:<11} {:<width$}  ", "", "", "");
        for finding in findings.iter().take(FINDINGS_SHOWN) {
            out.push_str(&format!("\n{indent}{finding}"));
        }
        let more = findings.len().saturating_sub(FINDINGS_SHOWN);
        if more > 0 {
            out.push_str(&format!("\n{indent}(and {more} more)"));
        }
        out
    }
}
