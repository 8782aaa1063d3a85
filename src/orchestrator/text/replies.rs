//! Flotilla's answers to people: a refusal, an invalid configuration, a `/flotilla`
//! command or a dashboard button, and the budget's notices.

use std::collections::HashMap;
use std::fmt::Write;

use super::markdown::{cell, one_line};
use crate::config::ConfigError;
use crate::cost::{BudgetConfig, Exhausted, Limit, Spend};
use crate::orchestrator::command::Command;
use crate::redact::Redactor;
use crate::store::{DashboardAction, RunId, RunRecord, TaskId, TaskRecord, TaskState};
use crate::types::{IssueNumber, Login, PrNumber};

/// The one comment a labeller without write access gets.
pub(crate) fn not_allowed(who: &Login, what: &str) -> String {
    format!(
        "@{who}, thanks — only people with write access to this repository can {what}. \
         A maintainer can do it for you."
    )
}

/// The one comment an invalid `.github/flotilla.yml` gets; no run starts.
pub(crate) fn invalid_config(error: &ConfigError) -> String {
    format!(
        "Flotilla did not start: {error}\n\nFix the file on the default branch and \
         add the label again."
    )
}

/// What a `/flotilla` command or a dashboard button did, for its reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// `/flotilla status` or `/flotilla budget`: the report is the whole reply.
    Report(String),
    /// The issue has no run to act on.
    NoRun(IssueNumber),
    /// A budget-stopped run stays stopped: its configuration cannot be read.
    NotResumed(String),
    /// A budget-stopped run stays stopped: the raised budget is still spent.
    StillSpent(String),
    /// The run went on under a raised budget; `reverified` heads are verified again.
    Resumed { reverified: usize },
    /// No task of the run failed.
    NothingToRetry,
    /// This many failed tasks are queued again.
    Queued(usize),
    /// The run already ended.
    NotRunning(IssueNumber),
    /// The run is cancelled; `stopped` tasks were stopped and `pulls` stay open.
    Cancelled {
        stopped: usize,
        pulls: Vec<PrNumber>,
    },
    /// A replan did not start: the configuration cannot be read.
    NotReplanned(String),
    /// A new run plans the issue again; the live run before it, if any, was cancelled
    /// and its pull requests stay open.
    Replanning {
        run: RunId,
        cancelled: Option<Vec<PrNumber>>,
    },
    /// A replan did not start: the issue already has a live run.
    AlreadyLive,
    /// The run has no task at this position.
    NoSuchTask(i64),
    /// The task has no head to verify.
    NoHead(i64),
    /// The task's state does not allow verifying it again.
    CannotReverify { position: i64, state: TaskState },
    /// The task's head will be verified again.
    Reverifying(i64),
}

/// The sentence an [`Outcome`] says.
fn outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Report(report) => report.clone(),
        Outcome::NoRun(issue) => format!("Flotilla has no run for #{issue}."),
        Outcome::NotResumed(error) => format!("not resumed: {error}"),
        Outcome::StillSpent(still) => format!(
            "not resumed: {still}. Raise `budget:` in `.github/flotilla.yml` on the default \
             branch first."
        ),
        Outcome::Resumed { reverified } => format!(
            "resumed under the raised budget: queued tasks start again and {reverified} \
             head(s) are verified."
        ),
        Outcome::NothingToRetry => "there is no failed task to retry.".to_owned(),
        Outcome::Queued(count) => format!("{count} task(s) queued again."),
        Outcome::NotRunning(issue) => format!("the run for #{issue} is not running."),
        Outcome::Cancelled { stopped, pulls } => format!(
            "run cancelled; {stopped} task(s) stopped. {}",
            open_pulls(pulls)
        ),
        Outcome::NotReplanned(error) => format!("not replanned: {error}"),
        Outcome::Replanning { run, cancelled } => {
            let note = cancelled.as_ref().map_or(String::new(), |pulls| {
                format!(" The previous run was cancelled. {}", open_pulls(pulls))
            });
            format!("planning again (run {run}).{note}")
        }
        Outcome::AlreadyLive => "the issue already has a live run.".to_owned(),
        Outcome::NoSuchTask(position) => format!("the run has no task {position}."),
        Outcome::NoHead(position) => {
            format!("task {position} has no pull request to verify.")
        }
        Outcome::CannotReverify { position, state } => format!(
            "task {position} is {}; only a proposed or verified head can be verified again.",
            state.as_str()
        ),
        Outcome::Reverifying(position) => format!("task {position} will be verified again."),
    }
}

/// Names a cancelled run's pull requests, which stay open: Flotilla closes nothing
/// silently.
fn open_pulls(pulls: &[PrNumber]) -> String {
    if pulls.is_empty() {
        "No pull request was opened.".to_owned()
    } else {
        let named: Vec<String> = pulls.iter().map(|pr| format!("#{pr}")).collect();
        format!("Its pull requests stay open: {}.", named.join(", "))
    }
}

/// The reply to a `/flotilla` command: a report as it is, anything else after the
/// command it answers.
pub(crate) fn command_reply(command: &Command, done: &Outcome) -> String {
    match done {
        Outcome::Report(report) => report.clone(),
        _ => format!("`{}`: {}", command.as_text(), outcome(done)),
    }
}

/// The reply on the issue to a button pressed on the dashboard.
pub(crate) fn dashboard_reply(actor: &Login, action: &DashboardAction, done: &Outcome) -> String {
    format!(
        "{actor} pressed {} on the dashboard: {}",
        action.label(),
        outcome(done)
    )
}

/// The reply to `/flotilla` with something Flotilla does not know.
pub(crate) fn unknown_command(text: &str) -> String {
    format!(
        "I don't know `/flotilla {}`. Valid commands:\n\n{}",
        one_line(text, 80),
        Command::help()
    )
}

/// Posted once on the issue when a budget stops a run: which budget, the figures, and
/// how to go on.
pub(crate) fn budget_stopped(exhausted: &Exhausted, run_spent: &Spend) -> String {
    format!(
        "Flotilla stopped starting agents for this issue: {exhausted}.\n\n\
         The run spent {run_spent} so far. Agents still running when the budget ran out \
         were stopped; open pull requests are labelled `flotilla:needs-human` and none \
         of them merges on its own. To go on, raise `budget:` in `.github/flotilla.yml` \
         on the default branch (or the server's daily budget) and comment \
         `/flotilla retry`; `/flotilla budget` shows what is spent and left."
    )
}

/// The reply to `/flotilla budget`: spend and what is left, per task, for the run and
/// for the installation today.
pub(crate) fn budget_report(
    run: &RunRecord,
    tasks: &[TaskRecord],
    by_task: &HashMap<TaskId, Spend>,
    run_spent: &Spend,
    budget: &BudgetConfig,
    (today, daily): (&Spend, &Limit),
    redact: &Redactor,
) -> String {
    let mut out = format!("Spend of the run for #{}:\n\n", run.spec.issue);
    out.push_str("| Budget | Limit | Spent | Left |\n|---|---|---|---|\n");
    let mut row = |name: &str, limit: &Limit, spent: &Spend| {
        let _ = writeln!(
            out,
            "| {name} | {limit} | {spent} | {} |",
            left(limit, spent)
        );
    };
    row("Run", &budget.run, run_spent);
    row("Installation today (UTC)", daily, today);
    for task in tasks {
        let spent = by_task.get(&task.id).copied().unwrap_or_default();
        row(
            &format!("Task {}: {}", task.position, cell(&task.title)),
            &budget.task,
            &spent,
        );
    }
    if let Some(reason) = &run.budget_stopped {
        let _ = writeln!(
            out,
            "\nThe run is stopped by its budget: {reason}. Raise `budget:` and comment \
             `/flotilla retry` to resume."
        );
    }
    redact.text(&out)
}

/// What is left of `limit` after `spent`, in its own units.
fn left(limit: &Limit, spent: &Spend) -> String {
    let mut parts = Vec::new();
    if let Some(usd) = limit.usd {
        parts.push(usd.saturating_sub(spent.usd).to_string());
    }
    if let Some(tokens) = limit.tokens {
        parts.push(format!(
            "{} tokens",
            crate::cost::thousands(tokens.saturating_sub(spent.tokens.total()))
        ));
    }
    if parts.is_empty() {
        "no limit".to_owned()
    } else {
        parts.join(" / ")
    }
}
