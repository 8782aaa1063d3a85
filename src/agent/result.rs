//! Reads a planner's or reviewer's JSON answer out of what the agent left behind.
//!
//! The answer is the file named by `FLOTILLA_RESULT_FILE` if the agent wrote one, else
//! the last JSON object in its (decoded) output, found by a scan that tolerates prose,
//! ANSI colour codes, several objects and braces inside strings. This module only finds
//! JSON; what a plan or a verdict must contain is checked by its caller, and anything
//! unreadable is a typed error carrying the reason, never a guess.

use serde_json::Value;

/// The largest result file read; an agent writing more is not answering.
pub const RESULT_FILE_CAP: usize = 1 << 20;

/// Why no answer could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResultError {
    /// The result file exists but does not hold one JSON object.
    #[error("the result file is not a JSON object: {reason}")]
    InvalidResultFile {
        /// The parser's complaint, or what was found instead.
        reason: String,
    },
    /// The result file is larger than [`RESULT_FILE_CAP`].
    #[error("the result file is larger than {RESULT_FILE_CAP} bytes")]
    ResultFileTooLarge,
    /// A reviewer's output holds more than one verdict.
    #[error(
        "the output holds {count} verdicts; only the reviewer's own final answer counts, \
         so something else wrote one"
    )]
    SeveralVerdicts {
        /// How many objects with a `verdict` field were found.
        count: usize,
    },
    /// Neither a result file nor any JSON object in the output.
    #[error("the agent wrote no result file and its output holds no JSON object")]
    NoJsonObject,
    /// The CLI's own output envelope could not be decoded, or reported a failure.
    #[error("the {cli} output could not be read: {reason}")]
    Envelope {
        /// Which CLI produced it.
        cli: &'static str,
        /// What was wrong.
        reason: String,
    },
}

/// The agent's answer: the result file if it wrote a non-blank one, else the last JSON
/// object in `output` (its stdout, already decoded from the CLI's envelope).
pub fn read_answer(result_file: Option<&[u8]>, output: &str) -> Result<Value, ResultError> {
    match result_file {
        Some(bytes) if wrote_result_file(result_file) => parse_result_file(bytes),
        _ => last_json_object(output),
    }
}

/// Whether the agent wrote its answer to the result file (an empty or blank file does
/// not count: the answer is then looked for in the output).
pub(crate) fn wrote_result_file(result_file: Option<&[u8]>) -> bool {
    result_file.is_some_and(|bytes| !bytes.trim_ascii().is_empty())
}

/// The result file's content as one JSON object.
pub fn parse_result_file(bytes: &[u8]) -> Result<Value, ResultError> {
    if bytes.len() > RESULT_FILE_CAP {
        return Err(ResultError::ResultFileTooLarge);
    }
    let invalid = |reason: String| ResultError::InvalidResultFile { reason };
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(other) => Err(invalid(format!("found {}", json_kind(&other)))),
        Err(error) => Err(invalid(error.to_string())),
    }
}

/// The last top-level JSON object in `text`, after removing ANSI escape sequences.
/// Objects nested inside an earlier object are part of that object, not candidates.
pub fn last_json_object(text: &str) -> Result<Value, ResultError> {
    json_objects(text).pop().ok_or(ResultError::NoJsonObject)
}

/// A reviewer's verdict: the one top-level JSON object with a `verdict` field in its
/// final message. More than one means something besides the reviewer's own answer
/// printed one (code it ran, writing to its output), so none counts; with none, the
/// last object is returned for the verdict parser to reject with its reason.
pub fn verdict_object(text: &str) -> Result<Value, ResultError> {
    let (mut verdicts, mut others): (Vec<Value>, Vec<Value>) = json_objects(text)
        .into_iter()
        .partition(|o| o.get("verdict").is_some());
    match verdicts.len() {
        0 => others.pop().ok_or(ResultError::NoJsonObject),
        1 => Ok(verdicts.remove(0)),
        count => Err(ResultError::SeveralVerdicts { count }),
    }
}

/// Every top-level JSON object in `text`, in order, after removing ANSI escape
/// sequences.
fn json_objects(text: &str) -> Vec<Value> {
    let text = strip_ansi(text);
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = text[from..].find('{') {
        let start = from + offset;
        let mut values = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        match values.next() {
            Some(Ok(value @ Value::Object(_))) => {
                found.push(value);
                from = start + values.byte_offset();
            }
            _ => from = start + 1,
        }
    }
    found
}

/// `text` without ANSI escape sequences (colours, cursor movement, titles).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            // CSI: parameters and intermediates, then one final byte in '@'..='~'.
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // OSC: up to BEL or ESC '\'.
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            // Two-character escapes (ESC c, ESC =, ...).
            _ => {}
        }
    }
    out
}

/// What a JSON value is, for errors: "a string", "an object"…
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
