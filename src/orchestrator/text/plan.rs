//! The run's comments on its issue: the plan, edited in place as the run goes on (also
//! the reply to `/flotilla status`), the note when every task merged, and what
//! reconciliation caught up with; and the hidden markers that find a comment again.

use std::collections::HashMap;
use std::fmt::Write;

use super::markdown::{cell, one_line};
use crate::cost::Spend;
use crate::links::DashboardLinks;
use crate::orchestrator::command::Command;
use crate::orchestrator::reconcile::Repair;
use crate::redact::Redactor;
use crate::store::{RunRecord, RunState, TaskId, TaskRecord, TaskState};
use crate::types::IssueNumber;

/// The hidden marker that identifies a comment, so a retried job finds the comment it
/// may already have posted instead of posting it twice.
pub(crate) fn marker(key: &str) -> String {
    format!("<!-- flotilla:{key} -->")
}

/// The marker of a run's plan comment.
pub(crate) fn plan_marker(run: &RunRecord) -> String {
    marker(&format!("plan run={}", run.id))
}

/// What a run's agents spent: in all, and per task.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunSpend {
    /// The whole run, its planner included.
    pub(crate) total: Spend,
    /// Each task's attempts and lenses.
    pub(crate) by_task: HashMap<TaskId, Spend>,
}

impl RunSpend {
    fn of(&self, task: TaskId) -> Spend {
        self.by_task.get(&task).copied().unwrap_or_default()
    }
}

/// The plan comment: which rule decided, and one row per task, edited in place as
/// the run goes on; with a dashboard, a link to the run's page under the heading.
pub(crate) fn plan(
    run: &RunRecord,
    tasks: &[TaskRecord],
    spend: &RunSpend,
    dashboard: Option<&DashboardLinks>,
    redact: &Redactor,
) -> String {
    let mut out = String::new();
    let status = match run.state {
        RunState::Planning => "planning",
        RunState::Active => "working",
        RunState::Settled => "settled",
        RunState::Cancelled => "cancelled",
    };
    let _ = write!(
        out,
        "### Flotilla plan for #{issue} ({status})\n\n",
        issue = run.spec.issue
    );
    if let Some(links) = dashboard {
        let _ = writeln!(
            out,
            "[Dashboard]({}): tasks, attempts, verdicts and the timeline of this run.\n",
            links.run(run.id)
        );
    }
    if let Some(source) = &run.plan_source {
        let _ = writeln!(out, "Planned from: {source}.");
    }
    for decision in &run.plan_decisions {
        let _ = writeln!(out, "- {decision}");
    }
    out.push_str("\n| # | Task | State | Branch | Pull request | Attempts | Cost |\n");
    out.push_str("|---|------|-------|--------|--------------|----------|------|\n");
    for task in tasks {
        let pr = task
            .pr
            .map(|pr| format!("#{pr}"))
            .unwrap_or_else(|| "—".to_owned());
        let mut state = task.state.as_str().to_owned();
        if matches!(
            task.state,
            TaskState::Failed | TaskState::NeedsHuman | TaskState::Refuted
        ) && let Some(reason) = &task.last_reason
        {
            let _ = write!(state, ": {}", one_line(reason, 120));
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | `{}` | {} | {}/{} | {} |",
            task.position,
            cell(&task.title),
            cell(&state),
            task.branch,
            pr,
            task.attempts,
            task.max_attempts,
            spend.of(task.id)
        );
    }
    let _ = writeln!(out, "\nSpent so far: {}.", spend.total);
    if let Some(reason) = &run.budget_stopped {
        let _ = writeln!(
            out,
            "\n**Stopped by its budget:** {reason}. No agent starts until a writer raises \
             `budget:` in `.github/flotilla.yml` and comments `/flotilla retry`."
        );
    }
    let usages: Vec<String> = Command::usages()
        .map(|usage| format!("`{usage}`"))
        .collect();
    let _ = writeln!(
        out,
        "\nCommands (from people with write access): {}.",
        usages.join(", ")
    );
    redact.text(&out)
}

/// The reply to `/flotilla status`.
pub(crate) fn status(
    run: Option<(&RunRecord, &[TaskRecord], &RunSpend)>,
    issue: IssueNumber,
    dashboard: Option<&DashboardLinks>,
    redact: &Redactor,
) -> String {
    match run {
        Some((run, tasks, spend)) => plan(run, tasks, spend, dashboard, redact),
        None => format!("Flotilla has no run for #{issue}."),
    }
}

/// Posted on the issue when every task merged, before it is closed.
pub(crate) fn all_merged(
    run: &RunRecord,
    tasks: &[TaskRecord],
    spend: &RunSpend,
    redact: &Redactor,
) -> String {
    let mut out = format!(
        "All {} task(s) of #{} are merged into `{}`:\n\n",
        tasks.len(),
        run.spec.issue,
        run.spec.default_branch
    );
    for task in tasks {
        let pr = task.pr.map(|pr| format!("#{pr}")).unwrap_or_default();
        let merged = task
            .merged_sha
            .as_ref()
            .map(|sha| format!(" as `{}`", sha.abbreviated(12)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- {} {}{merged} — {}",
            pr,
            cell(&task.title),
            spend.of(task.id)
        );
    }
    let _ = writeln!(out, "\nThe run's agents spent {} in all.", spend.total);
    redact.text(&out)
}

/// Posted once per set of repairs: what reconciliation found GitHub had changed while
/// Flotilla was not listening, and what it did about it.
pub(crate) fn caught_up(repairs: &[Repair]) -> String {
    let mut out = String::from(
        "Flotilla caught up with changes made on GitHub while it was not listening:\n\n",
    );
    for repair in repairs {
        let line = match repair {
            Repair::IssueClosed => "the issue was closed: the run is cancelled".to_owned(),
            Repair::Merged { task, pr } => {
                format!("task {task}: pull request #{pr} was merged; the merge is recorded")
            }
            Repair::CannotLand { task, reason } => format!("task {task} failed: {reason}"),
            Repair::Pushed { task, pr, head } => format!(
                "task {task}: a new head {} was pushed to #{pr}; it is being verified",
                head.abbreviated(7)
            ),
            Repair::CheckInterrupted { task, head, again } => format!(
                "task {task}: the `flotilla/verify` check left in progress on {} is closed{}",
                head.abbreviated(7),
                if *again {
                    " and the head is being verified again"
                } else {
                    " (a later verification of that head holds the result)"
                }
            ),
        };
        let _ = writeln!(out, "- {line}");
    }
    out
}
