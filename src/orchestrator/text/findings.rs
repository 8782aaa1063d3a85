//! How a verdict's parts read wherever they are shown: a finding's badge and list item,
//! its annotation, a decision's mark and word, a gate's outcome.

use std::fmt::Write;

use super::markdown::{code, escape, fit};
use crate::github::{Annotation, AnnotationLevel};
use crate::review::{Decision, Finding, GateOutcome, Given, Severity};

/// One annotation per finding that has a path and a line.
pub(super) fn annotations(source: &str, findings: &[Finding]) -> Vec<Annotation> {
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
pub(super) fn items<'f>(findings: impl IntoIterator<Item = &'f Finding>) -> String {
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

/// `3 (1 critical, 2 medium)`, or `none`.
pub(super) fn severity_counts(findings: &[Finding]) -> String {
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

pub(super) fn badge(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "🛑 **critical**",
        Severity::High => "🔴 **high**",
        Severity::Medium => "🟠 **medium**",
        Severity::Low => "🟡 **low**",
        Severity::Info => "ℹ️ **info**",
    }
}

pub(super) fn decision_mark(decision: Decision) -> &'static str {
    match decision {
        Decision::Upheld => "✅",
        Decision::Refuted => "❌",
    }
}

/// `✅ Upheld`, or `✅ Upheld (carried over from `abc1234def0`)` for a verdict given on
/// an earlier head.
pub(super) fn decision_cell(decision: Decision, given: &Given) -> String {
    let word = format!("{} {}", decision_mark(decision), decision_word(decision));
    match given {
        Given::Here => word,
        Given::CarriedFrom(sha) => {
            format!("{word} (carried over from {})", code(sha.abbreviated(12)))
        }
    }
}

pub(super) fn decision_word(decision: Decision) -> &'static str {
    match decision {
        Decision::Upheld => "Upheld",
        Decision::Refuted => "Refuted",
    }
}

pub(super) fn outcome_mark(outcome: GateOutcome) -> &'static str {
    match outcome {
        GateOutcome::Passed => "✅ passed",
        GateOutcome::Warned => "⚠️ warned",
        GateOutcome::Failed => "❌ failed",
        GateOutcome::NeedsHuman => "❌ needs a person",
    }
}
