//! What Flotilla says about one task: its draft pull request's body, why it failed or
//! needs a person, and what its worker's next attempt is told about a refuted head.

use std::fmt::Write;

use super::markdown::{cell, one_line, output_block, tail};
use crate::config::Lens;
use crate::cost::Spend;
use crate::redact::Redactor;
use crate::review::{Finding, GateResult, Verdict};
use crate::store::{RunRecord, TaskRecord, VerdictRecord};
use crate::types::{CommitSha, Login, PrNumber};

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
        run.spec.issue,
        task.title,
        task.attempts,
        task.last_reason.as_deref().unwrap_or("no reason recorded")
    );
    if !transcript.trim().is_empty() {
        let _ = write!(
            out,
            "\n<details><summary>End of the agent's output</summary>\n\n{}\n</details>\n",
            output_block(transcript, 3000)
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
    let _ = writeln!(out, "Part of #{}", run.spec.issue);
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
            "<details><summary>Transcript excerpt</summary>\n\n{}\n</details>",
            output_block(transcript, 4000)
        );
    }
    redact.text(&out)
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
            let _ = writeln!(out, "  Output (end):\n{}", output_block(output, 2000));
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
fn finding_line(finding: &Finding) -> String {
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
        task.position, run.spec.issue
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
                cell(&verdict.summary)
            );
        }
        out.push('\n');
    }
    let _ = write!(
        out,
        "Push a fix to `{}` (Flotilla verifies it again), or comment `/flotilla retry {}` \
         on #{} to give the worker more attempts.",
        task.branch, task.position, run.spec.issue
    );
    redact.text(&out)
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
