//! Every text Flotilla writes on GitHub: the plan comment, refusals, failures, command
//! replies and pull request bodies. Kept in one place so the bot speaks with one voice
//! and tests can find each message by its marker.
//!
//! A message that quotes agent text (a summary, a transcript, a reviewer's words, task
//! titles a planner wrote) takes a [`Redactor`] and passes through it whole, so none of
//! them can be built unredacted.

use std::collections::HashMap;
use std::fmt::Write;

use crate::config::{ConfigError, Lens};
use crate::cost::{BudgetConfig, Exhausted, Limit, Spend};
use crate::github::{CheckConclusion, CheckOutput};
use crate::links::DashboardLinks;
use crate::redact::Redactor;
use crate::review::report::CheckReport;
use crate::review::{GateResult, Verdict};
use crate::store::{
    DashboardAction, RunRecord, RunState, TaskId, TaskRecord, TaskState, VerdictRecord,
};
use crate::types::{CommitSha, IssueNumber, Login, PrNumber};

use super::command::Command;
use super::reconcile::Repair;

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
        issue = run.issue
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
            table_cell(&task.title),
            table_cell(&state),
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
    out.push_str(
        "\nCommands (from people with write access): `/flotilla status`, \
         `/flotilla budget`, `/flotilla retry [task]`, `/flotilla cancel`, \
         `/flotilla replan`.\n",
    );
    redact.text(&out)
}

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

/// Posted once when a task fails for good.
pub(crate) fn task_failed(
    run: &RunRecord,
    task: &TaskRecord,
    transcript: &str,
    redact: &Redactor,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Task {} of #{} ({}) failed after {} attempt(s): {}",
        task.position,
        run.issue,
        task.title,
        task.attempts,
        task.last_reason.as_deref().unwrap_or("no reason recorded")
    );
    if !transcript.trim().is_empty() {
        let _ = write!(
            out,
            "\n<details><summary>End of the agent's output</summary>\n\n```text\n{}\n```\n</details>\n",
            fence_safe(&tail(transcript, 3000))
        );
    }
    let _ = write!(out, "\n`/flotilla retry {}` tries it again.", task.position);
    redact.text(&out)
}

/// The body of a task's draft pull request.
pub(crate) fn pull_body(
    run: &RunRecord,
    task: &TaskRecord,
    summary: &str,
    transcript: &str,
    spent: &Spend,
    redact: &Redactor,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Part of #{}", run.issue);
    let _ = writeln!(
        out,
        "\nFlotilla task {} (`{}`), attempt {}. Agents spent {spent} on this task so far.\n",
        task.position, task.id, task.attempts
    );
    let _ = writeln!(out, "### Task\n\n{}\n", task.instructions.trim());
    if !task.paths.is_empty() {
        let paths: Vec<String> = task.paths.iter().map(|p| format!("`{p}`")).collect();
        let _ = writeln!(out, "Expected to touch: {}\n", paths.join(", "));
    }
    let summary = summary.trim();
    let _ = writeln!(
        out,
        "### Agent's summary\n\n{}\n",
        if summary.is_empty() {
            "(none)"
        } else {
            summary
        }
    );
    if !transcript.trim().is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>Transcript excerpt</summary>\n\n```text\n{}\n```\n</details>",
            fence_safe(&tail(transcript, 4000))
        );
    }
    redact.text(&out)
}

/// The reply to a `/flotilla` command.
pub(crate) fn command_reply(command: &Command, outcome: &str) -> String {
    format!("`{}`: {outcome}", command.as_text())
}

/// The reply on the issue to a button pressed on the dashboard.
pub(crate) fn dashboard_reply(actor: &Login, action: &DashboardAction, outcome: &str) -> String {
    format!(
        "{actor} pressed {} on the dashboard: {outcome}",
        action.label()
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

/// The first line of `text`, cut to `max` characters.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() > max {
        format!("{}…", line.chars().take(max).collect::<String>())
    } else {
        line.to_owned()
    }
}

/// Text safe inside a Markdown table cell.
fn table_cell(text: &str) -> String {
    one_line(text, 200).replace('|', "\\|")
}

/// The last `max` bytes of `text` (on a character boundary).
pub(crate) fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

/// Agent output cannot close the code fence it is shown in.
fn fence_safe(text: &str) -> String {
    text.replace("```", "ˋˋˋ")
}

/// What the worker's next attempt is told about the head that was refuted: each failed
/// gate with its output and each refuting lens with its findings.
pub(crate) fn refutation_feedback(gates: &[&GateResult], lenses: &[(&Lens, &Verdict)]) -> String {
    let mut out = String::from("verification refuted the previous change.\n");
    for gate in gates {
        let _ = writeln!(out, "- gate `{}`: {}", gate.gate.as_str(), gate.summary);
        for finding in &gate.findings {
            let _ = writeln!(out, "  - {}", finding_line(finding));
        }
        if let Some(output) = &gate.output {
            let _ = writeln!(
                out,
                "  Output (end):\n  ```text\n{}\n  ```",
                fence_safe(&tail(output, 2000))
            );
        }
    }
    for (lens, verdict) in lenses {
        let _ = writeln!(
            out,
            "- reviewer `{}` refuted it: {}",
            lens.name,
            verdict.summary.trim()
        );
        for finding in &verdict.findings {
            let _ = writeln!(out, "  - {}", finding_line(finding));
        }
    }
    out.push_str("Fix these on the same branch; keep what was right.\n");
    out
}

/// One finding on one line: `path:line [severity] message`.
fn finding_line(finding: &crate::review::Finding) -> String {
    let place = match (&finding.path, finding.line) {
        (Some(path), Some(line)) => format!("`{path}:{line}` "),
        (Some(path), None) => format!("`{path}` "),
        _ => String::new(),
    };
    format!(
        "{place}[{}] {}",
        finding.severity.as_str(),
        one_line(&finding.message, 500)
    )
}

/// Posted once on a task's pull request when it needs a person: what was tried, what
/// failed and why.
pub(crate) fn needs_human(
    run: &RunRecord,
    task: &TaskRecord,
    head: &CommitSha,
    verdicts: &[VerdictRecord],
    redact: &Redactor,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Flotilla stopped here: task {} of #{} needs a person. This pull request stays a \
         draft and will not be merged automatically.\n",
        task.position, run.issue
    );
    let _ = writeln!(
        out,
        "Tried: {} attempt(s) of {}; last verified head `{head}`.\n",
        task.attempts, task.max_attempts
    );
    if let Some(reason) = &task.last_reason {
        let _ = writeln!(out, "Why: {}\n", tail(reason.trim(), 6000));
    }
    let failing: Vec<&VerdictRecord> = verdicts.iter().filter(|v| !v.holds()).collect();
    if !failing.is_empty() {
        out.push_str("| Part | Result | Evidence |\n|---|---|---|\n");
        for verdict in failing {
            let _ = writeln!(
                out,
                "| {} `{}` | {} | {} |",
                verdict.kind,
                verdict.name,
                verdict.outcome,
                table_cell(&verdict.summary)
            );
        }
        out.push('\n');
    }
    let _ = write!(
        out,
        "Push a fix to `{}` (Flotilla verifies it again), or comment `/flotilla retry {}` \
         on #{} to give the worker more attempts.",
        task.branch, task.position, run.issue
    );
    redact.text(&out)
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
        run.issue,
        run.default_branch
    );
    for task in tasks {
        let pr = task.pr.map(|pr| format!("#{pr}")).unwrap_or_default();
        let merged = task
            .merged_sha
            .as_ref()
            .map(|sha| format!(" as `{}`", sha.0.get(..12).unwrap_or(&sha.0)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- {} {}{merged} — {}",
            pr,
            table_cell(&task.title),
            spend.of(task.id)
        );
    }
    let _ = writeln!(out, "\nThe run's agents spent {} in all.", spend.total);
    redact.text(&out)
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
    let mut out = format!("Spend of the run for #{}:\n\n", run.issue);
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
            &format!("Task {}: {}", task.position, table_cell(&task.title)),
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

/// Why a task failed when its pull request was closed without merging; `by` when the
/// event names who closed it (reconciliation after downtime only sees that it is).
pub(crate) fn pull_closed_reason(pr: PrNumber, by: Option<&Login>) -> String {
    match by {
        Some(who) => format!("pull request #{pr} was closed without merging by @{who}"),
        None => format!("pull request #{pr} was closed without merging"),
    }
}

/// Why a task failed when a person deleted its branch.
pub(crate) fn branch_deleted_reason(branch: &str, pr: PrNumber) -> String {
    format!("branch `{branch}` was deleted, so pull request #{pr} cannot land")
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
                short(head)
            ),
            Repair::CheckInterrupted { task, head, again } => format!(
                "task {task}: the `flotilla/verify` check left in progress on {} is closed{}",
                short(head),
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

/// Ends a `flotilla/verify` a stopped Flotilla left in progress, so it never stays
/// pending: cancelled (it never satisfies branch protection) when the head is being
/// verified again, neutral when a later check run of that head holds the result.
pub(crate) fn check_interrupted(verifying_again: bool) -> CheckReport {
    let (conclusion, title, summary) = if verifying_again {
        (
            CheckConclusion::Cancelled,
            "Interrupted: verifying this head again",
            "Flotilla stopped while this verification ran. The head is being verified \
             again; the result will be a new `flotilla/verify` check run.",
        )
    } else {
        (
            CheckConclusion::Neutral,
            "Interrupted: superseded",
            "Flotilla stopped while this verification ran. A later verification of the \
             same head published its result in another `flotilla/verify` check run.",
        )
    };
    CheckReport {
        conclusion,
        output: CheckOutput {
            title: title.to_owned(),
            summary: summary.to_owned(),
            text: None,
            annotations: Vec::new(),
        },
        annotations: Vec::new(),
    }
}

/// A commit as people read it in a sentence: its first seven hex digits.
fn short(sha: &CommitSha) -> &str {
    &sha.0[..sha.0.len().min(7)]
}
