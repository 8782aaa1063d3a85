//! Reading a reviewer's answer into a [`Verdict`], and telling the reviewer how to
//! answer.
//!
//! The answer is untrusted output of a model: what decides the outcome (the verdict)
//! and what is shown to people (summary, findings) is checked strictly, every rejection
//! names what is wrong in words fit for a check-run summary, and the size of what is
//! kept is capped. Extra fields are ignored. Finding the JSON in the agent's output is
//! [`crate::agent::result`]'s job.

use serde_json::{Map, Value};

use super::{Decision, Finding, Severity, Verdict};
use crate::agent::result::json_kind;

/// The most findings kept from one answer.
pub const MAX_FINDINGS: usize = 100;

/// The most characters kept of one finding's message.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// The most characters kept of the summary.
pub const MAX_SUMMARY_CHARS: usize = 4000;

/// The shape a reviewer must answer with, for the reviewer's prompt. It matches what
/// [`parse`] accepts, field for field.
pub const ANSWER_FORMAT: &str = r#"Answer with one JSON object, printed as the last thing on standard output (print no other object with a "verdict" field: two verdicts count as none):
{"verdict": "refuted", "summary": "...", "findings": [{"path": "src/x.rs", "line": 42, "severity": "high", "message": "..."}]}
- "verdict": "refuted" when you found an input, path or claim that breaks the change, or when you are unsure; "upheld" only when you tried and could not refute it.
- "summary": one paragraph: what you checked, how, and what you found.
- "findings": the evidence, as an array (empty when there is none). Each finding has:
  - "message" (required): what is wrong and the evidence for it: file and line, or the command you ran and its output.
  - "severity" (required): one of "critical", "high", "medium", "low", "info".
  - "path" (optional): the file, relative to the repository root.
  - "line" (optional): the 1-based line in that file at the head commit; findings on lines the change touches become inline comments.
At most 100 findings are kept and each message is cut at 2000 characters. Other fields are ignored."#;

/// Why a reviewer's answer could not be used; the text is shown in the lens's check
/// run, so it names the field and reads as a sentence.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerdictError {
    /// The answer is not a JSON object.
    #[error("the reviewer's answer is {found}, not a JSON object")]
    NotAnObject {
        /// What it is instead.
        found: &'static str,
    },
    /// A required field is absent.
    #[error("the reviewer's answer has no `{field}`")]
    Missing {
        /// The field.
        field: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("the reviewer's `{field}` is {found}, not {expected}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it should be.
        expected: &'static str,
        /// What it is.
        found: &'static str,
    },
    /// `verdict` is neither `upheld` nor `refuted`.
    #[error("`verdict` must be \"upheld\" or \"refuted\", not {found}")]
    UnknownVerdict {
        /// The value given, quoted and shortened.
        found: String,
    },
    /// One finding is malformed.
    #[error("finding {number}: {problem}")]
    Finding {
        /// Its 1-based position in `findings`.
        number: usize,
        /// What is wrong with it.
        problem: String,
    },
}

/// The verdict in a reviewer's JSON answer, or the first reason it cannot be used.
/// Findings past [`MAX_FINDINGS`] are dropped (after being checked) and a message or
/// summary over its limit is cut, each with a note saying so.
pub fn parse(answer: &Value) -> Result<Verdict, VerdictError> {
    let fields = answer.as_object().ok_or(VerdictError::NotAnObject {
        found: json_kind(answer),
    })?;
    let decision = match required(fields, "verdict", "a string", Value::as_str)? {
        "upheld" => Decision::Upheld,
        "refuted" => Decision::Refuted,
        other => {
            return Err(VerdictError::UnknownVerdict {
                found: quoted_start(other),
            });
        }
    };
    let mut summary = cut(
        required(fields, "summary", "a string", Value::as_str)?,
        MAX_SUMMARY_CHARS,
    );
    let listed = required(fields, "findings", "an array", Value::as_array)?;
    let mut findings = listed
        .iter()
        .enumerate()
        .map(|(index, finding)| {
            parse_finding(finding).map_err(|problem| VerdictError::Finding {
                number: index + 1,
                problem,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if findings.len() > MAX_FINDINGS {
        summary.push_str(&format!(
            "\n\n(Flotilla kept the first {MAX_FINDINGS} of {} findings.)",
            findings.len()
        ));
        findings.truncate(MAX_FINDINGS);
    }
    Ok(Verdict {
        decision,
        summary,
        findings,
    })
}

/// A required field, converted, or why it cannot be.
fn required<'v, T>(
    fields: &'v Map<String, Value>,
    field: &'static str,
    expected: &'static str,
    convert: impl Fn(&'v Value) -> Option<T>,
) -> Result<T, VerdictError> {
    let value = fields.get(field).ok_or(VerdictError::Missing { field })?;
    convert(value).ok_or(VerdictError::WrongType {
        field,
        expected,
        found: json_kind(value),
    })
}

/// One finding, checked field by field; the error says which field and why.
fn parse_finding(value: &Value) -> Result<Finding, String> {
    let fields = value
        .as_object()
        .ok_or_else(|| format!("expected an object, found {}", json_kind(value)))?;
    let message = match fields.get("message") {
        None => return Err("`message` is missing".to_owned()),
        Some(Value::String(message)) if !message.trim().is_empty() => message,
        Some(Value::String(_)) => return Err("`message` is empty".to_owned()),
        Some(other) => return Err(format!("`message` is {}, not a string", json_kind(other))),
    };
    let severity = match fields.get("severity") {
        None => return Err("`severity` is missing".to_owned()),
        Some(Value::String(name)) => severity(name).ok_or_else(|| {
            format!(
                "`severity` must be one of critical, high, medium, low, info, not {}",
                quoted_start(name)
            )
        })?,
        Some(other) => return Err(format!("`severity` is {}, not a string", json_kind(other))),
    };
    let path = match fields.get("path") {
        None | Some(Value::Null) => None,
        Some(Value::String(path)) => {
            let path = path.trim();
            let path = path.strip_prefix("./").unwrap_or(path);
            (!path.is_empty()).then(|| path.to_owned())
        }
        Some(other) => return Err(format!("`path` is {}, not a string", json_kind(other))),
    };
    let line = match fields.get("line") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_u64()
                .filter(|line| *line > 0)
                .and_then(|line| u32::try_from(line).ok())
                .ok_or_else(|| {
                    format!("`line` must be a positive integer, not {}", shown(value))
                })?,
        ),
    };
    Ok(Finding {
        path,
        line,
        severity,
        message: cut(message, MAX_MESSAGE_CHARS),
    })
}

/// A severity by name, in any case.
fn severity(name: &str) -> Option<Severity> {
    match name.trim().to_ascii_lowercase().as_str() {
        "critical" => Some(Severity::Critical),
        "high" => Some(Severity::High),
        "medium" => Some(Severity::Medium),
        "low" => Some(Severity::Low),
        "info" => Some(Severity::Info),
        _ => None,
    }
}

/// The text, cut to `max` characters with a note saying so when it is longer.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((at, _)) => format!("{}… (cut at {max} characters)", &text[..at]),
    }
}

/// A value the reviewer wrote, quoted and shortened, to show in an error.
fn quoted_start(text: &str) -> String {
    let start: String = text.chars().take(40).collect();
    let shown = serde_json::Value::String(start).to_string();
    if text.chars().count() > 40 {
        format!("{shown}…")
    } else {
        shown
    }
}

/// A value the reviewer wrote, short enough for an error.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => quoted_start(text),
        Value::Number(_) | Value::Bool(_) | Value::Null => value.to_string(),
        Value::Array(_) | Value::Object(_) => json_kind(value).to_owned(),
    }
}
