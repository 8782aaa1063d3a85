//! What maintainers see of a review: the PR review a lens posts, and the output of the
//! `flotilla/verify` check run, made of each lens's and the gates' reports.
//!
//! Every word here is built by one function per message, so the wording is reviewable
//! in one place. Reviewer and gate text is untrusted: it is escaped so it cannot inject
//! HTML or the review marker, and placed inside list items and quotes so an unclosed
//! code fence cannot swallow the rest of the message. Every text is kept under GitHub's
//! 65,535-character limit, with a note where it was cut. This module only builds text;
//! posting it is the orchestrator's job.

use std::fmt::Write;

use super::diff::Diff;
use super::markdown::{cell, code, escape, escape_line, output_block};
use super::{Decision, Finding, GateOutcome, GateResult, Given, Severity, Verdict, lens_check};
use crate::cost::Spend;
use crate::github::{
    Annotation, AnnotationLevel, CheckConclusion, CheckOutput, ReviewComment, ReviewSide,
};
use crate::types::CommitSha;

/// The most bytes of one text we send: under GitHub's 65,535-character limit whatever it
/// counts, with room to spare.
const TEXT_LIMIT: usize = 65_000;

/// Room an output block takes besides the output itself: heading, fences, notes.
const OUTPUT_OVERHEAD: usize = 256;

/// A lens's review of one head commit, ready to post as a PR review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewDraft {
    /// The review's body, starting with [`review_marker`].
    pub body: String,
    /// Findings on lines of the diff, as inline comments.
    pub comments: Vec<ReviewComment>,
}

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

/// The hidden first line of a lens's review, so a review already posted for this lens
/// and head is found instead of posted twice.
pub fn review_marker(lens: &str, sha: &str) -> String {
    format!(
        "<!-- flotilla:review lens={} sha={} -->",
        marker_word(lens),
        marker_word(sha)
    )
}

/// A lens's verdict as a PR review: findings on commentable lines of the diff become
/// inline comments (at most `inline_cap`), every other finding is listed in the body.
pub fn review(
    lens: &str,
    sha: &CommitSha,
    verdict: &Verdict,
    diff: &Diff,
    inline_cap: usize,
) -> ReviewDraft {
    let mut comments = Vec::new();
    let mut listed = Vec::new();
    for finding in &verdict.findings {
        match (&finding.path, finding.line) {
            (Some(path), Some(line))
                if comments.len() < inline_cap && diff.commentable(path, line) =>
            {
                comments.push(ReviewComment {
                    path: path.clone(),
                    line,
                    side: ReviewSide::Right,
                    body: fit(format!(
                        "{} · {}\n\n{}",
                        badge(finding.severity),
                        escape_line(&lens_check(lens)),
                        escape(&finding.message, false)
                    )),
                });
            }
            _ => listed.push(finding),
        }
    }
    let mut body = review_marker(lens, &sha.0);
    let _ = write!(
        body,
        "\n### {} {}: {}\n\n",
        decision_mark(verdict.decision),
        escape_line(&lens_check(lens)),
        decision_word(verdict.decision)
    );
    let _ = writeln!(
        body,
        "The {} reviewer {} commit {}.\n",
        escape_line(lens),
        match verdict.decision {
            Decision::Upheld => "tried and could not refute",
            Decision::Refuted => "refuted",
        },
        code(&sha.0)
    );
    let _ = writeln!(body, "{}\n", quote(&verdict.summary));
    if !comments.is_empty() {
        let _ = writeln!(
            body,
            "{} on lines of the diff {}.\n",
            count(comments.len(), "finding", "findings"),
            if comments.len() == 1 {
                "is an inline comment"
            } else {
                "are inline comments"
            }
        );
    }
    if !listed.is_empty() {
        let heading = if comments.is_empty() {
            "Findings"
        } else {
            "Other findings"
        };
        let _ = writeln!(body, "#### {heading}\n\n{}", items(listed));
    }
    ReviewDraft {
        body: fit(body.trim_end().to_owned()),
        comments,
    }
}

/// A lens's check run: success when upheld, failure when refuted; a verdict carried
/// over from an earlier head says so, and where the lens ran.
pub fn lens_output(lens: &str, verdict: &Verdict, given: &Given) -> CheckReport {
    let carried = match given {
        Given::Here => String::new(),
        Given::CarriedFrom(sha) => {
            format!(" (carried over from {})", sha.0.get(..12).unwrap_or(&sha.0))
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
        let _ = writeln!(
            head,
            "| {} | {} | {} |",
            result.gate.as_str(),
            outcome_mark(result.outcome),
            cell(&result.summary)
        );
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
                let _ = writeln!(
                    rows,
                    "| gate: {} | {} | {} |",
                    result.gate.as_str(),
                    outcome_mark(result.outcome),
                    cell(&result.summary)
                );
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

/// One annotation per finding that has a path and a line.
fn annotations(source: &str, findings: &[Finding]) -> Vec<Annotation> {
    findings
        .iter()
        .filter_map(|finding| {
            let path = finding.path.clone()?;
            let line = finding.line?;
            Some(Annotation {
                path,
                start_line: line,
                end_line: line,
                annotation_level: match finding.severity {
                    Severity::Critical | Severity::High => AnnotationLevel::Failure,
                    Severity::Medium => AnnotationLevel::Warning,
                    Severity::Low | Severity::Info => AnnotationLevel::Notice,
                },
                message: fit(finding.message.clone()),
                title: Some(format!("{source}: {}", finding.severity.as_str())),
            })
        })
        .collect()
}

/// The findings as a Markdown list, each message inside its own item.
fn items<'f>(findings: impl IntoIterator<Item = &'f Finding>) -> String {
    let mut out = String::new();
    for finding in findings {
        let _ = write!(out, "- {}", badge(finding.severity));
        match (&finding.path, finding.line) {
            (Some(path), Some(line)) => {
                let _ = write!(out, " {}", code(&format!("{path}:{line}")));
            }
            (Some(path), None) => {
                let _ = write!(out, " {}", code(path));
            }
            (None, _) => {}
        }
        let message = escape(&finding.message, true);
        let mut lines = message.split('\n');
        let _ = writeln!(out, ": {}", lines.next().unwrap_or_default());
        for line in lines {
            if line.is_empty() {
                out.push('\n');
            } else {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    out
}

/// Text as a block quote: a code fence opened inside it ends with the quote.
fn quote(text: &str) -> String {
    escape(text, false)
        .split('\n')
        .map(|line| {
            if line.is_empty() {
                ">".to_owned()
            } else {
                format!("> {line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `3 (1 critical, 2 medium)`, or `none`.
fn severity_counts(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "none".to_owned();
    }
    let levels = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];
    let parts: Vec<String> = levels
        .iter()
        .filter_map(|level| {
            let n = findings.iter().filter(|f| f.severity == *level).count();
            (n > 0).then(|| format!("{n} {}", level.as_str()))
        })
        .collect();
    format!("{} ({})", findings.len(), parts.join(", "))
}

fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn badge(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "🛑 **critical**",
        Severity::High => "🔴 **high**",
        Severity::Medium => "🟠 **medium**",
        Severity::Low => "🟡 **low**",
        Severity::Info => "ℹ️ **info**",
    }
}

fn decision_mark(decision: Decision) -> &'static str {
    match decision {
        Decision::Upheld => "✅",
        Decision::Refuted => "❌",
    }
}

/// `✅ Upheld`, or `✅ Upheld (carried over from `abc1234def0`)` for a verdict given on
/// an earlier head.
fn decision_cell(decision: Decision, given: &Given) -> String {
    let word = format!("{} {}", decision_mark(decision), decision_word(decision));
    match given {
        Given::Here => word,
        Given::CarriedFrom(sha) => format!("{word} (carried over from {})", short(sha)),
    }
}

/// A commit as people read it in a table: its first 12 hex digits, as code.
fn short(sha: &CommitSha) -> String {
    code(sha.0.get(..12).unwrap_or(&sha.0))
}

fn decision_word(decision: Decision) -> &'static str {
    match decision {
        Decision::Upheld => "Upheld",
        Decision::Refuted => "Refuted",
    }
}

fn outcome_mark(outcome: GateOutcome) -> &'static str {
    match outcome {
        GateOutcome::Passed => "✅ passed",
        GateOutcome::Warned => "⚠️ warned",
        GateOutcome::Failed => "❌ failed",
        GateOutcome::NeedsHuman => "❌ needs a person",
    }
}

/// A marker field: only characters that cannot end the comment or forge another field.
fn marker_word(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The text cut to [`TEXT_LIMIT`], with a note saying so.
fn fit(text: String) -> String {
    fit_within(text, TEXT_LIMIT)
}

/// The text cut to `limit` bytes at a line break, with a note at the start of a line
/// (which ends any list item or quote, and any code block inside them).
fn fit_within(text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let note = format!(
        "\n\n*(Cut here: the full text is {} bytes, over the {limit} this report may use.)*\n",
        text.len()
    );
    let mut end = limit.saturating_sub(note.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let end = text[..end].rfind('\n').unwrap_or(end);
    format!("{}{note}", &text[..end])
}
