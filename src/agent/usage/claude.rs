//! Usage in Claude Code's `--output-format stream-json --verbose` events.
//!
//! Each `assistant` event carries its API message's `usage` (Anthropic's
//! `input_tokens`, `output_tokens`, `cache_read_input_tokens`,
//! `cache_creation_input_tokens`), repeated on every content block of that message, so
//! a message id counts once, with the latest usage seen for it. The final `result`
//! event's `modelUsage` (per model) and `total_cost_usd` are the CLI's own totals and
//! replace what the messages added up to; its `usage` stands in when `modelUsage` is
//! missing.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Tokens, Usage};

/// The running usage of one Claude Code run.
#[derive(Debug, Default)]
pub struct ClaudeUsage {
    /// The totals of the last `result` event.
    settled: Usage,
    /// Messages seen since: id → (model, tokens).
    messages: BTreeMap<String, (String, Tokens)>,
}

impl ClaudeUsage {
    /// Takes one stdout line; returns whether the usage changed.
    pub fn line(&mut self, line: &str) -> bool {
        let Ok(event) = serde_json::from_str::<Value>(line.trim()) else {
            return false;
        };
        let before = self.usage();
        match event.get("type").and_then(Value::as_str) {
            Some("assistant") => self.message(&event),
            Some("result") => self.result(&event),
            _ => {}
        }
        self.usage() != before
    }

    /// The usage read so far.
    pub fn usage(&self) -> Usage {
        let mut usage = self.settled.clone();
        for (model, tokens) in self.messages.values() {
            *usage.by_model.entry(model.clone()).or_default() += *tokens;
        }
        usage
    }

    fn message(&mut self, event: &Value) {
        let Some(message) = event.get("message") else {
            return;
        };
        let (Some(id), Some(usage)) = (
            message.get("id").and_then(Value::as_str),
            message.get("usage"),
        ) else {
            return;
        };
        let model = message
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default();
        self.messages
            .insert(id.to_owned(), (model.to_owned(), tokens(usage, API_USAGE)));
    }

    fn result(&mut self, event: &Value) {
        let mut settled = Usage {
            by_model: BTreeMap::new(),
            reported_cost_usd: event.get("total_cost_usd").and_then(Value::as_f64),
        };
        match event.get("modelUsage").and_then(Value::as_object) {
            Some(models) => {
                for (model, usage) in models {
                    settled
                        .by_model
                        .insert(model.clone(), tokens(usage, MODEL_USAGE));
                }
            }
            None => {
                if let Some(usage) = event.get("usage") {
                    let model = self
                        .messages
                        .values()
                        .map(|(model, _)| model.clone())
                        .next()
                        .unwrap_or_default();
                    settled.by_model.insert(model, tokens(usage, API_USAGE));
                }
            }
        }
        let mut total = std::mem::take(&mut self.settled);
        for (model, tokens) in settled.by_model {
            *total.by_model.entry(model).or_default() += tokens;
        }
        total.reported_cost_usd = match (total.reported_cost_usd, settled.reported_cost_usd) {
            (Some(before), Some(now)) => Some(before + now),
            (before, now) => before.or(now),
        };
        self.settled = total;
        self.messages.clear();
    }
}

/// The names of input, output, cache-read and cache-write tokens in an Anthropic API
/// `usage` object.
const API_USAGE: [&str; 4] = [
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
];

/// The same names in one model's entry of the result's `modelUsage`.
const MODEL_USAGE: [&str; 4] = [
    "inputTokens",
    "outputTokens",
    "cacheReadInputTokens",
    "cacheCreationInputTokens",
];

/// Tokens from a usage object whose counts have the names `names` (a missing count is 0).
fn tokens(usage: &Value, names: [&str; 4]) -> Tokens {
    let [input, output, cache_read, cache_write] =
        names.map(|name| usage.get(name).and_then(Value::as_u64).unwrap_or(0));
    Tokens {
        input,
        output,
        cache_read,
        cache_write,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST_BLOCK: &str = r#"{"type":"assistant","message":{"id":"msg_1","model":"claude-opus-5-5","usage":{"input_tokens":10,"output_tokens":1,"cache_creation_input_tokens":4,"cache_read_input_tokens":30}}}"#;
    const SECOND_BLOCK: &str = r#"{"type":"assistant","message":{"id":"msg_1","model":"claude-opus-5-5","usage":{"input_tokens":10,"output_tokens":7,"cache_creation_input_tokens":4,"cache_read_input_tokens":30}}}"#;
    const RESULT: &str = r#"{"type":"result","subtype":"success","total_cost_usd":0.25,"usage":{"input_tokens":10,"output_tokens":9},"modelUsage":{"claude-opus-5-5":{"inputTokens":10,"outputTokens":9,"cacheReadInputTokens":30,"cacheCreationInputTokens":4,"costUSD":0.2},"claude-haiku-5":{"inputTokens":3,"outputTokens":2,"cacheReadInputTokens":0,"cacheCreationInputTokens":0,"costUSD":0.05}}}"#;

    #[test]
    fn a_message_repeated_over_its_content_blocks_counts_once_with_its_latest_usage() {
        let mut reader = ClaudeUsage::default();
        assert!(reader.line(FIRST_BLOCK));
        assert!(reader.line(SECOND_BLOCK));
        assert!(!reader.line(SECOND_BLOCK));
        let tokens = reader.usage().by_model["claude-opus-5-5"];
        assert_eq!(
            tokens,
            Tokens {
                input: 10,
                output: 7,
                cache_read: 30,
                cache_write: 4
            }
        );
        assert_eq!(reader.usage().reported_cost_usd, None);
    }

    #[test]
    fn the_result_events_model_usage_and_cost_replace_the_running_count() {
        let mut reader = ClaudeUsage::default();
        reader.line(FIRST_BLOCK);
        assert!(reader.line(RESULT));
        let usage = reader.usage();
        assert_eq!(usage.by_model.len(), 2);
        assert_eq!(usage.by_model["claude-opus-5-5"].output, 9);
        assert_eq!(usage.by_model["claude-haiku-5"].input, 3);
        assert_eq!(usage.reported_cost_usd, Some(0.25));
        assert!(!reader.line("not json"));
        assert!(!reader.line(r#"{"type":"system","subtype":"init"}"#));
    }
}
