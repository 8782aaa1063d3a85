//! The check runs Flotilla concludes: `flotilla/verify` with each lens's and the gates'
//! reports, a verification a budget stopped or a restart interrupted, and
//! `flotilla/merge-group`.

use std::fmt::Write;

use super::findings::{annotations, decision_cell, items, outcome_mark, severity_counts};
use super::markdown::{
    TEXT_LIMIT, cell, code, count, escape_line, fit, fit_within, output_block, quote,
};
use crate::cost::Spend;
use crate::github::{Annotation, CheckConclusion, CheckOutput};
use crate::review::{Decision, GateOutcome, GateResult, Given, Verdict, lens_check};

/// Room an output block takes besides the output itself: heading, fences, notes.
const OUTPUT_OVERHEAD: usize = 256;

/// A check run's conclusion and output, with its annotations apart so the caller can
/// send them in batches of 50.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// How the check ends.
    pub conclusion: CheckConclusion,
    /// Title and summary; its `annotations` are empty.
    pub output: CheckOutput,
    /// One per finding that has a path and a line, uncapped.
    pub annotations: Vec<Annotation>,
}

/// A lens's check run: success when upheld, failure when refuted; a verdict carried
/// over from an earlier head says so, and where the lens ran.
pub fn lens_output(lens: &str, verdict: &Verdict, given: &Given) -> CheckReport {
    let carried = match given {
        Given::Here => String::new(),
        Given::CarriedFrom(sha) => {
            format!(" (carried over from {})", sha.abbreviated(12))
        }
    };
    let (conclusion, title) = match verdict.decision {
        Decision::Upheld => (
            CheckConclusion::Success,
            format!("Upheld{carried}: the {lens} reviewer could not refute the change"),
        ),
        Decision::Refuted => (
            CheckConclusion::Failure,
            format!(
                "Refuted{carried} by the {lens} reviewer ({})",
                count(verdict.findings.len(), "finding", "findings")
            ),
        ),
    };
    let mut summary = String::from("| Lens | Decision | Findings |\n| --- | --- | --- |\n");
    let _ = writeln!(
        summary,
        "| {} | {} | {} |\n",
        cell(lens),
        decision_cell(verdict.decision, given),
        severity_counts(&verdict.findings)
    );
    if let Given::CarriedFrom(sha) = given {
        let _ = writeln!(
            summary,
            "The {} reviewer ran on commit {}, not on this one. This head only merges a \
             newer base into the change it judged there (the same patch-id, merged \
             without a conflict), so its verdict is carried over; the gates and CI ran \
             again on this head.\n",
            escape_line(lens),
            code(&sha.0)
        );
    }
    let _ = writeln!(summary, "{}\n", quote(&verdict.summary));
    if !verdict.findings.is_empty() {
        let _ = writeln!(
            summary,
            "#### Findings\n\n{}",
            items(verdict.findings.iter())
        );
    }
    let source = lens_check(lens);
    CheckReport {
        conclusion,
        output: output(title, fit(summary.trim_end().to_owned())),
        annotations: annotations(&source, &verdict.findings),
    }
}

/// The gates' check run: failure when any gate blocks the merge (a gate that needs a
/// person says "needs a person" in the title, since GitHub's `action_required` needs
/// actions we do not offer), success otherwise, warnings included.
pub fn gates_output(results: &[GateResult]) -> CheckReport {
    let blockers = gate_blockers(results);
    let warned: Vec<&str> = results
        .iter()
        .filter(|r| r.outcome == GateOutcome::Warned)
        .map(|r| r.gate.as_str())
        .collect();
    let (conclusion, title) = if !blockers.is_empty() {
        (
            CheckConclusion::Failure,
            format!("Blocked: {}", blockers.join("; ")),
        )
    } else if !warned.is_empty() {
        (
            CheckConclusion::Success,
            format!("Passed with warnings: {}", warned.join(", ")),
        )
    } else {
        (CheckConclusion::Success, "All gates passed".to_owned())
    };
    let mut head = String::from("| Gate | Result | Summary |\n| --- | --- | --- |\n");
    for result in results {
        head.push_str(&gate_row(result.gate.as_str(), result));
    }
    for result in results.iter().filter(|r| !r.findings.is_empty()) {
        let _ = write!(
            head,
            "\n#### {}\n\n{}",
            result.gate.as_str(),
            items(result.findings.iter())
        );
    }
    let outputs: Vec<&GateResult> = results.iter().filter(|r| r.output.is_some()).collect();
    let summary = if outputs.is_empty() {
        fit(head.trim_end().to_owned())
    } else {
        let wanted: usize = outputs
            .iter()
            .map(|r| r.output.as_deref().map_or(0, str::len) + OUTPUT_OVERHEAD)
            .sum();
        let head = head.trim_end().to_owned();
        let mut summary = fit_within(head, TEXT_LIMIT - wanted.min(TEXT_LIMIT / 2));
        let share = TEXT_LIMIT.saturating_sub(summary.len()) / outputs.len();
        for result in outputs {
            let heading = format!("\n\n#### {} output\n\n", result.gate.as_str());
            let text = result.output.as_deref().unwrap_or_default();
            summary.push_str(&heading);
            summary.push_str(&output_block(text, share.saturating_sub(heading.len())));
        }
        summary
    };
    let annotations = results
        .iter()
        .flat_map(|r| annotations(&format!("gate {}", r.gate.as_str()), &r.findings))
        .collect();
    CheckReport {
        conclusion,
        output: output(title, summary),
        annotations,
    }
}

/// What agents spent, shown under `flotilla/verify`'s table so a maintainer sees what a
/// change cost where they judge it.
#[derive(Clone, Copy, Debug, Default)]
pub struct SpentOn {
    /// The lenses that ran on this head (carried verdicts cost nothing here).
    pub head: Spend,
    /// Every agent of the task so far: its attempts and every verification.
    pub task: Spend,
}

/// The one check run of a verification, `flotilla/verify`: the table of every lens and
/// gate as its summary ([`verify_output`]), each lens's and the gates' own report
/// ([`lens_output`], [`gates_output`]) in its text, and every annotation they carry.
/// One check run instead of one per lens and one for the gates: each is a write GitHub's
/// secondary rate limit counts, and branch protection only requires `flotilla/verify`.
pub fn verification_report(
    lenses: &[(String, Verdict, Given)],
    gates: &[GateResult],
    spent: &SpentOn,
) -> CheckReport {
    let known: Vec<(String, Option<(Verdict, Given)>)> = lenses
        .iter()
        .map(|(lens, verdict, given)| (lens.clone(), Some((verdict.clone(), given.clone()))))
        .collect();
    let mut report = verify_output(&known, Some(gates));
    report.output.summary = fit(format!(
        "{}\n\nThe reviewers spent {} on this head; the task's agents spent {} in all.",
        report.output.summary, spent.head, spent.task
    ));
    let mut parts: Vec<(String, CheckReport)> = lenses
        .iter()
        .map(|(lens, verdict, given)| (lens_check(lens), lens_output(lens, verdict, given)))
        .collect();
    parts.push(("Gates".to_owned(), gates_output(gates)));
    let share = TEXT_LIMIT / parts.len().max(1);
    let mut text = String::new();
    for (name, part) in parts {
        let section = format!(
            "### {}: {}\n\n{}\n\n",
            escape_line(&name),
            escape_line(&part.output.title),
            part.output.summary
        );
        text.push_str(&fit_within(section, share));
        report.annotations.extend(part.annotations);
    }
    report.output.text = Some(text.trim_end().to_owned());
    report
}

/// `flotilla/verify` for a verification a budget stopped before every lens answered:
/// cancelled, which branch protection never counts as passing, with the reason.
pub fn stopped_by_budget(reason: &str) -> CheckReport {
    CheckReport {
        conclusion: CheckConclusion::Cancelled,
        output: output(
            "Stopped: a budget is spent".to_owned(),
            fit(escape_line(reason)),
        ),
        annotations: Vec::new(),
    }
}

/// The table of `flotilla/verify`: success only when every lens upheld and every gate
/// allows the merge; a part still `None` (pending) is shown as such and never yields
/// success. A lens verdict carried over from an earlier head is marked with that head.
/// Its details and annotations come from [`verification_report`].
pub fn verify_output(
    lenses: &[(String, Option<(Verdict, Given)>)],
    gates: Option<&[GateResult]>,
) -> CheckReport {
    let mut blockers = Vec::new();
    let mut rows = String::from("| Check | Result | Summary |\n| --- | --- | --- |\n");
    for (lens, verdict) in lenses {
        let (mark, summary) = match verdict {
            Some((verdict, given)) => {
                if verdict.decision == Decision::Refuted {
                    blockers.push(format!("{lens} refuted"));
                }
                (
                    decision_cell(verdict.decision, given),
                    cell(&verdict.summary),
                )
            }
            None => {
                blockers.push(format!("{lens} pending"));
                ("⏳ pending".to_owned(), String::new())
            }
        };
        let _ = writeln!(rows, "| {} | {mark} | {summary} |", cell(&lens_check(lens)));
    }
    match gates {
        Some(results) => {
            blockers.extend(gate_blockers(results));
            for result in results {
                rows.push_str(&gate_row(
                    &format!("gate: {}", result.gate.as_str()),
                    result,
                ));
            }
        }
        None => {
            blockers.push("gates pending".to_owned());
            let _ = writeln!(rows, "| gates | ⏳ pending | |");
        }
    }
    let (conclusion, title) = if blockers.is_empty() {
        (
            CheckConclusion::Success,
            "Ready to merge: every lens upheld the change and every gate passed".to_owned(),
        )
    } else {
        (
            CheckConclusion::Failure,
            format!("Blocked: {}", blockers.join("; ")),
        )
    };
    CheckReport {
        conclusion,
        output: output(title, fit(rows)),
        annotations: Vec::new(),
    }
}

/// A gate's row in a table of parts: its name as `label`, its outcome and its summary.
fn gate_row(label: &str, result: &GateResult) -> String {
    format!(
        "| {label} | {} | {} |\n",
        outcome_mark(result.outcome),
        cell(&result.summary)
    )
}

/// Why the gates block the merge, one phrase per blocking gate.
fn gate_blockers(results: &[GateResult]) -> Vec<String> {
    results
        .iter()
        .filter_map(|r| match r.outcome {
            GateOutcome::Passed | GateOutcome::Warned => None,
            GateOutcome::Failed => Some(format!("{} failed", r.gate.as_str())),
            GateOutcome::NeedsHuman => Some(format!("{} needs a person", r.gate.as_str())),
        })
        .collect()
}

/// A check output with no details text and no annotations (they travel apart).
fn output(title: String, summary: String) -> CheckOutput {
    CheckOutput {
        title,
        summary,
        text: None,
        annotations: Vec::new(),
    }
}

/// Ends a `flotilla/verify` a stopped Flotilla left in progress, so it never stays
/// pending: cancelled (it never satisfies branch protection) when the head is being
/// verified again, neutral when a later check run of that head holds the result.
pub fn check_interrupted(verifying_again: bool) -> CheckReport {
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

/// `flotilla/verify` on a merge group: which pull requests in it do not hold.
pub fn merge_group_report(blocking: &[String]) -> CheckReport {
    let (conclusion, title, summary) = if blocking.is_empty() {
        (
            CheckConclusion::Success,
            "Every Flotilla change in this merge group is verified".to_owned(),
            "Each pull request in the group is either not Flotilla's or a task whose \
             current head passed every gate and reviewer."
                .to_owned(),
        )
    } else {
        (
            CheckConclusion::Failure,
            format!(
                "{} pull request(s) in this group are not verified",
                blocking.len()
            ),
            format!(
                "Not verified on their current head: {}.",
                blocking.join(", ")
            ),
        )
    };
    CheckReport {
        conclusion,
        output: CheckOutput {
            title,
            summary,
            text: None,
            annotations: Vec::new(),
        },
        annotations: Vec::new(),
    }
}
